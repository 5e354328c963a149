// Package xsim is the X simulator: an http.Handler that speaks the subset of X API v2 xbot uses
// (create, delete and look up posts, the own timeline, mentions, recent search, users/me) with X's
// shapes, status codes, rate-limit headers and error bodies, for shadow mode, tests and the standalone
// `xbot sim` process.
//
// It owns: OAuth 1.0a signature verification (and a bearer token for reads), X's posting rules
// (duplicate text within 24 h, reply-not-allowed, 15-minute and 24-hour posting limits), the audience
// model that turns a post's hidden engagement rate into metrics over simulated time, seeded mentions of
// our account, scripted fault injection, and the /_sim/ control endpoints.
//
// Its state lives in Postgres behind the small Store interface, which package store implements
// (store/xsim.go), so every replica and every restart sees the same simulated X. It must not import
// store, workers or cmd, nor the X client (internal/xapi) it stands in for.
package xsim
