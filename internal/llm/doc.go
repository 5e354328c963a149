// Package llm is the budgeted LLM client: the only code in xbot that calls OpenAI.
//
// Every call names a purpose and a request id, checks the fleet-wide quota circuit, reserves an upper
// bound of its cost against the day's cap (and the purpose's cap) in one atomic ledger statement, calls
// Chat Completions through openai-go, settles the reservation to the actual usage cost, and writes an
// api_usage row — refused calls included. The ledger and the circuit live in Postgres behind the small
// Ledger interface, which package store implements (store/llm.go).
//
// It owns: the budget arithmetic (estimates, prices, caps), error classification (quota, retryable,
// permanent, unknown outcome), the circuit protocol (open, probe, reset), JSON-schema generation from Go
// types and validation of structured output.
//
// It must not import store, workers or cmd: the database is reached only through Ledger.
package llm
