// Package llm is the budgeted LLM client: the only code in xbot that calls OpenAI.
//
// Every call names a purpose and a request id, checks the fleet-wide quota circuit, reserves an upper
// bound of its cost against the day's cap (and the purpose's cap) in one atomic ledger statement, calls
// Chat Completions through openai-go, settles the reservation to the actual usage cost, and writes an
// api_usage row — refused calls included.
//
// Each reservation is a row with an expiry (Config.ReservationTTL, beyond the call's and the settle's
// deadlines). A replica killed between reserve and settle leaves its row; once expired it is reclaimed
// at the reserved amount (the call may have been billed), with an api_usage row (failed,
// reservation_expired) — by the day's next reservation, or by Client.ReclaimExpired. A settle that
// arrives after its reservation was reclaimed records nothing: it was already counted, at an amount
// its actual cost cannot exceed. The ledger and the circuit live in Postgres behind the small
// Ledger interface, which package store implements (store/llm.go).
//
// It owns: the budget arithmetic (estimates, prices, caps), error classification (quota, retryable,
// permanent, unknown outcome), the circuit protocol (open, probe, reset), JSON-schema generation from Go
// types and validation of structured output.
//
// It must not import store, workers or cmd: the database is reached only through Ledger.
package llm
