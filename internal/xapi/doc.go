// Package xapi is xbot's client for the X API v2: creating, deleting and looking up posts (with public,
// non-public and organic metrics), the own timeline, mentions, recent search and users/me, signed with
// OAuth 1.0a user context, an optional app-only bearer for reads, or an optional OAuth 2.0 user token
// whose single-use refresh tokens are stored (through TokenStore) before the new access token is used.
//
// It owns: request deadlines, the mapping of X's answers to typed errors the workers act on
// (RateLimited, ErrDuplicate, ErrReplyNotAllowed, ErrUnauthorized, ErrForbidden, per-id LookupError,
// Ambiguous for creates whose outcome is unknown, ErrNotSent when no connection was opened, APIError for
// the rest), the quota seen in the last rate-limit headers, and X's weighted text length.
//
// It sends the parameter names of X's spec version 2.167 (post.fields, referenced_posts, ...) and decodes
// both those and the older ones (tweet ids, retweet_count, ...). Secrets never appear in its errors.
//
// It must not import store, workers, cmd or the simulator (internal/xsim); it declares TokenStore and
// store implements it.
package xapi
