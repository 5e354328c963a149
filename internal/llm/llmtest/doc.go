// Package llmtest is a fake OpenAI Chat Completions server over HTTP, for tests of every package that
// makes LLM calls (through internal/llm and openai-go) and, run as a process (cmd/llmfake or
// ListenAndServe), for the fault suite.
//
// It speaks the real wire format: chat.completion bodies with usage, error bodies
// {"error":{"message","type","param","code"}}, x-ratelimit-* headers. It refuses what OpenAI refuses
// (no model, no messages, a bad key when one is configured, a non-strict schema, json_object without
// the word JSON, out-of-range sampling values) and answers the rest from a per-test script: a queue of
// responses, a function deciding per request, or a default (a valid instance of the requested schema).
//
// It owns nothing else and must not import internal/llm, store or workers: it stands in for OpenAI,
// not for our client.
package llmtest
