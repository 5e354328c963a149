// Package gate owns the gate chain every generated post or reply passes before it is queued (DESIGN.md
// section 1, issue 5): quality, safety, uniqueness and rotation, in that order. It fails closed: a gate
// that cannot decide blocks. The chain is pure local logic (no LLM call); the account's recent history
// comes through the small History interface, which store implements.
//
// It imports nothing of xbot's and must never import store, workers, or any database or HTTP package.
package gate
