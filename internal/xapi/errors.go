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
	// ErrForbidden is a 403 that is about the app or user's permissions, not about the post.
	ErrForbidden = errors.New("xapi: forbidden")
	// ErrDuplicate is X's 403 for text identical to a recent post of the account.
	ErrDuplicate = errors.New("xapi: duplicate content")
	// ErrReplyNotAllowed is X's 403 for a reply to a post that neither mentions nor belongs to the account.
	ErrReplyNotAllowed = errors.New("xapi: reply not allowed")
	// ErrNotFound is a lookup's resource-not-found (deleted or never existed).
	ErrNotFound = errors.New("xapi: not found")
	// ErrNotAuthorized is a lookup's not-authorized-for-resource (protected or suspended author).
	ErrNotAuthorized = errors.New("xapi: not authorized for resource")
	// ErrNotSent means no connection to X could be opened: nothing was sent, so retrying is safe.
	ErrNotSent = errors.New("xapi: request not sent")
)

// X's texts for the 403s it sends as plain about:blank problems.
const (
	DetailDuplicate       = "You are not allowed to create a Tweet with duplicate content."
	DetailReplyNotAllowed = "You can only reply to or quote posts where you are mentioned or are the author."
	DetailNotPermitted    = "You are not permitted to perform this action."
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

// forbiddenKind classifies a 403. Definite refusals of this one post are permanent; everything else is
// taken as a permissions problem (ErrForbidden), which pauses posting instead of burning the queue.
func forbiddenKind(detail string) error {
	switch {
	case detail == DetailDuplicate || strings.Contains(detail, "duplicate content"):
		return ErrDuplicate
	case detail == DetailReplyNotAllowed || strings.Contains(detail, "You can only reply to"):
		return ErrReplyNotAllowed
	case strings.Contains(strings.ToLower(detail), "too long"):
		return nil
	}
	return ErrForbidden
}
