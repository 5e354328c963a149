package xapi

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinels for X's definite answers; an *APIError or *LookupError wraps one, so check with errors.Is.
var (
	// ErrUnauthorized is a 401: the credentials were refused.
	ErrUnauthorized = errors.New("xapi: unauthorized")
	// ErrForbidden is a 403 about the credentials, the app's permissions or the account (suspended,
	// locked), not about the post.
	ErrForbidden = errors.New("xapi: forbidden")
	// ErrDuplicate is X's 403 for text identical to a recent post of the account.
	ErrDuplicate = errors.New("xapi: duplicate content")
	// ErrReplyNotAllowed is X's 403 for a reply to a post that neither mentions nor belongs to the account,
	// or in a conversation whose settings do not let the account reply.
	ErrReplyNotAllowed = errors.New("xapi: reply not allowed")
	// ErrPostRefused is a 403 about this one post (too long, against a policy): the post fails, the
	// account goes on.
	ErrPostRefused = errors.New("xapi: post refused")
	// ErrForbiddenUnknown is a 403 this client does not recognise: treat it as about the one post (and log
	// X's answer), never as a reason to pause the account.
	ErrForbiddenUnknown = errors.New("xapi: forbidden for an unrecognised reason")
	// ErrNotFound is a lookup's resource-not-found (deleted or never existed).
	ErrNotFound = errors.New("xapi: not found")
	// ErrNotAuthorized is a lookup's not-authorized-for-resource (protected or suspended author).
	ErrNotAuthorized = errors.New("xapi: not authorized for resource")
	// ErrMalformed is a 2xx whose body is not the JSON X documents (cut short, an HTML page): for a read,
	// retry; for a create, the outcome is unknown (an *Ambiguous wraps it).
	ErrMalformed = errors.New("xapi: malformed response")
	// ErrNotSent means no connection to X could be opened: nothing was sent, so retrying is safe.
	ErrNotSent = errors.New("xapi: request not sent")
)

// X's texts for the 403s it sends as plain about:blank problems.
const (
	DetailDuplicate       = "You are not allowed to create a Tweet with duplicate content."
	DetailReplyNotAllowed = "You can only reply to or quote posts where you are mentioned or are the author."
	DetailNotPermitted    = "You are not permitted to perform this action."
	// DetailReplyRestricted is X's 403 for a reply in a conversation whose author limited who may reply.
	DetailReplyRestricted = "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to."
)

// APIError is a definite refusal by X (or a 5xx on a call that is not a create).
type APIError struct {
	Op     string // e.g. "POST /2/tweets"
	Status int
	Title  string
	Detail string
	Type   string
	kind   error // one of the sentinels, or nil
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("xapi: %s: %d", e.Op, e.Status)
	if e.Title != "" {
		msg += " " + e.Title
	}
	if e.Detail != "" && e.Detail != e.Title {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel the error stands for (ErrDuplicate, ErrUnauthorized, ...), if any.
func (e *APIError) Unwrap() error { return e.kind }

// Retryable reports whether X failed on its side (5xx), so the same call may succeed later.
func (e *APIError) Retryable() bool { return e.Status >= 500 }

// RateLimited is a 429. X sends no Retry-After: Reset comes from the exhausted window's reset header
// (x-rate-limit-reset, x-user-limit-24hour-reset or x-app-limit-24hour-reset).
type RateLimited struct {
	Op        string
	Reset     time.Time
	Limit     int
	Remaining int
	Window    string // "15m", "user-24h" or "app-24h"
}

func (e *RateLimited) Error() string {
	return fmt.Sprintf("xapi: %s: rate limited (%s window, limit %d) until %s", e.Op, e.Window, e.Limit,
		e.Reset.UTC().Format(time.RFC3339))
}

// Ambiguous is a create whose outcome is unknown (timeout, connection reset, 5xx, a cut response): the
// post may exist. Never re-send blindly; reconcile first.
type Ambiguous struct {
	Op     string
	Status int // 0 when no response arrived
	Err    error
}

func (e *Ambiguous) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("xapi: %s: outcome unknown: status %d: %v", e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("xapi: %s: outcome unknown: %v", e.Op, e.Err)
}

func (e *Ambiguous) Unwrap() error { return e.Err }

// Incomplete is a 200 whose errors[] say X could not return (all of) the posts asked for: a protected or
// suspended account, a partial page. It knows nothing about whether a post exists: read again later.
type Incomplete struct {
	Op     string
	Type   string
	Title  string
	Detail string
}

func (e *Incomplete) Error() string {
	return fmt.Sprintf("xapi: %s: incomplete answer: %s: %s", e.Op, e.Title, e.Detail)
}

// LookupError is one id's entry in the errors[] array of a successful lookup.
type LookupError struct {
	ID     string
	Type   string
	Title  string
	Detail string
	kind   error // ErrNotFound, ErrNotAuthorized or nil
}

func (e *LookupError) Error() string {
	return fmt.Sprintf("xapi: post %s: %s: %s", e.ID, e.Title, e.Detail)
}

// Unwrap returns ErrNotFound or ErrNotAuthorized when the problem is one of those.
func (e *LookupError) Unwrap() error { return e.kind }

// problemKind maps a problem type URI (X uses both api.twitter.com and api.x.com) to a sentinel.
func problemKind(typ string) error {
	switch {
	case strings.HasSuffix(typ, "/2/problems/resource-not-found"):
		return ErrNotFound
	case strings.HasSuffix(typ, "/2/problems/not-authorized-for-resource"):
		return ErrNotAuthorized
	}
	return nil
}

// forbiddenKind classifies a 403 by X's problem type, then its text. Problems with the credentials, the
// app's permissions or the account (ErrForbidden) stop all posting until fixed; a refusal of this one post
// (ErrDuplicate, ErrReplyNotAllowed, ErrPostRefused) fails only that post; anything else is
// ErrForbiddenUnknown, which must fail only that post too (and be logged with X's answer), never pause the
// account on a guess.
func forbiddenKind(typ, title, detail string) error {
	for _, suffix := range []string{"/2/problems/client-forbidden", "/2/problems/unsupported-authentication",
		"/2/problems/oauth1-permissions"} {
		if strings.HasSuffix(typ, suffix) {
			return ErrForbidden
		}
	}
	if strings.HasSuffix(typ, "/2/problems/disallowed-resource") {
		return ErrPostRefused
	}
	text := strings.ToLower(title + " " + detail)
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(text, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case detail == DetailDuplicate || has("duplicate content"):
		return ErrDuplicate
	case detail == DetailReplyNotAllowed || has("you can only reply to", "reply to this conversation is not allowed",
		"not allowed to reply", "conversation settings"):
		return ErrReplyNotAllowed
	case detail == DetailNotPermitted || has("app permissions", "oauth1", "suspended", "locked", "read-only",
		"unsupported authentication", "client forbidden", "attached to a project"):
		return ErrForbidden
	case has("too long", "policy", "violat", "automated", "sensitive", "not allowed to create", "cannot include"):
		return ErrPostRefused
	}
	return ErrForbiddenUnknown
}
