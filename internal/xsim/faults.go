package xsim

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"
)

// Endpoint names, as faults and rate-limit buckets refer to them.
const (
	EndpointCreatePost   = "create_post"
	EndpointDeletePost   = "delete_post"
	EndpointGetPosts     = "get_posts"
	EndpointGetPost      = "get_post"
	EndpointUsersMe      = "users_me"
	EndpointUserPosts    = "user_posts"
	EndpointMentions     = "mentions"
	EndpointSearchRecent = "search_recent"
	EndpointAny          = "*"
)

var endpoints = map[string]bool{
	EndpointCreatePost: true, EndpointDeletePost: true, EndpointGetPosts: true, EndpointGetPost: true,
	EndpointUsersMe: true, EndpointUserPosts: true, EndpointMentions: true, EndpointSearchRecent: true,
	EndpointAny: true,
}

// FaultKind is what an injected fault does to a request.
type FaultKind string

const (
	FaultServerError   FaultKind = "error_5xx"      // Status (default 503), X's about:blank body
	FaultRateLimit     FaultKind = "rate_limit"     // 429 with x-rate-limit-reset ResetAfter from now
	FaultTimeoutBefore FaultKind = "timeout_before" // hang without doing anything, until the client gives up
	FaultTimeoutAfter  FaultKind = "timeout_after"  // do the work (the post is created), then hang
	FaultReset         FaultKind = "reset"          // close the connection without an answer, nothing done
	FaultLatency       FaultKind = "latency"        // wait Latency, then answer normally
	FaultUnauthorized  FaultKind = "unauthorized"   // 401 as if the credentials were revoked
	FaultForbidden     FaultKind = "forbidden"      // 403 for the app's permissions
	// FaultErrors200 answers a read 200 with errors[] and no data (a protected or suspended account): it
	// says nothing about what exists.
	FaultErrors200 FaultKind = "errors_200"
	// FaultMalformedJSON does the work, then answers with the body cut in half.
	FaultMalformedJSON FaultKind = "malformed_json"
	// FaultHTML answers with an HTML error page: Status 502 (the default) or another 5xx without doing the
	// work, as a proxy in front of X would; Status 200 after doing it.
	FaultHTML FaultKind = "html"

	// The 403 family, each with the body X sends. Credentials, app and account problems:
	FaultForbiddenOAuth1Permissions FaultKind = "forbidden_oauth1_permissions" // app lacks write permission
	FaultForbiddenUnsupportedAuth   FaultKind = "forbidden_unsupported_auth"   // app-only auth on a user endpoint
	FaultForbiddenClient            FaultKind = "forbidden_client"             // app not enrolled in a project
	FaultForbiddenSuspended         FaultKind = "forbidden_suspended"          // the account is suspended
	// Refusals of the one post:
	FaultForbiddenReplyRestricted FaultKind = "forbidden_reply_restricted" // conversation settings forbid our reply
	FaultForbiddenPolicy          FaultKind = "forbidden_policy"           // the post violates a rule (disallowed-resource)
	// FaultForbiddenUnknown is a bare 403 "Forbidden" with no reason.
	FaultForbiddenUnknown FaultKind = "forbidden_unknown"
)

var faultKinds = map[FaultKind]bool{
	FaultServerError: true, FaultRateLimit: true, FaultTimeoutBefore: true, FaultTimeoutAfter: true,
	FaultReset: true, FaultLatency: true, FaultUnauthorized: true, FaultForbidden: true,
	FaultErrors200: true, FaultMalformedJSON: true, FaultHTML: true,
	FaultForbiddenOAuth1Permissions: true, FaultForbiddenUnsupportedAuth: true, FaultForbiddenClient: true,
	FaultForbiddenSuspended: true, FaultForbiddenReplyRestricted: true, FaultForbiddenPolicy: true,
	FaultForbiddenUnknown: true,
}

// Fault is one scripted failure: for the next Count requests to Endpoint, or (Count 0) for a seeded
// share Rate of them.
type Fault struct {
	ID         int64     `json:"id,omitempty"`
	Endpoint   string    `json:"endpoint"`
	Kind       FaultKind `json:"kind"`
	Status     int       `json:"status,omitempty"`
	Count      int       `json:"count,omitempty"` // remaining uses as stored
	Rate       float64   `json:"rate,omitempty"`
	Latency    Duration  `json:"latency,omitempty"`
	ResetAfter Duration  `json:"reset_after,omitempty"`
}

// Duration is a time.Duration written in JSON as Go syntax ("90s").
type Duration time.Duration

// MarshalJSON writes "90s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "90s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: want a string such as \"90s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

func (f Fault) validate() error {
	switch {
	case !endpoints[f.Endpoint]:
		return fmt.Errorf("fault endpoint %q is not one of the simulator's endpoints or *", f.Endpoint)
	case !faultKinds[f.Kind]:
		return fmt.Errorf("fault kind %q is unknown", f.Kind)
	case f.Count < 0 || f.Rate < 0 || f.Rate > 1:
		return fmt.Errorf("fault count must be >= 0 and rate within 0..1")
	case f.Count == 0 && f.Rate == 0:
		return fmt.Errorf("fault needs a count (next N requests) or a rate")
	case f.Kind == FaultServerError && f.Status != 0 && (f.Status < 500 || f.Status > 599):
		return fmt.Errorf("fault status %d is not a 5xx", f.Status)
	case f.Kind == FaultHTML && f.Status != 0 && f.Status != 200 && (f.Status < 500 || f.Status > 599):
		return fmt.Errorf("html fault status %d is not 200 or a 5xx", f.Status)
	case f.Kind == FaultErrors200 && (f.Endpoint == EndpointCreatePost || f.Endpoint == EndpointDeletePost):
		return fmt.Errorf("errors_200 applies to reads, not %s", f.Endpoint)
	case f.Latency < 0 || f.ResetAfter < 0:
		return fmt.Errorf("fault durations must not be negative")
	}
	return nil
}

// draw is a seeded uniform in [0,1) for request seq and fault id.
func draw(seed, faultID, seq int64) float64 {
	h := fnv.New64a()
	var b [24]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:16], uint64(faultID))
	binary.LittleEndian.PutUint64(b[16:], uint64(seq))
	h.Write(b[:])
	return float64(h.Sum64()>>11) / (1 << 53)
}

// firedFaults are the faults that apply to one request: the total latency to add, and at most one
// failure.
type firedFaults struct {
	latency time.Duration
	fail    *Fault
}

// pickFaults decides which stored faults fire for a request to endpoint.
func (s *Server) pickFaults(ctx context.Context, endpoint string, seed int64) (firedFaults, error) {
	var out firedFaults
	all, err := s.store.Faults(ctx)
	if err != nil {
		return out, fmt.Errorf("load faults: %w", err)
	}
	var seq int64 = -1
	for _, f := range all {
		if f.Endpoint != EndpointAny && f.Endpoint != endpoint {
			continue
		}
		if f.Kind != FaultLatency && out.fail != nil {
			continue
		}
		fire := false
		if f.Count > 0 {
			if fire, err = s.store.TakeFault(ctx, f.ID); err != nil {
				return out, fmt.Errorf("take fault %d: %w", f.ID, err)
			}
		} else if f.Rate > 0 {
			if seq < 0 {
				if seq, err = s.store.NextRequestSeq(ctx); err != nil {
					return out, fmt.Errorf("request sequence: %w", err)
				}
			}
			fire = draw(seed, f.ID, seq) < f.Rate
		}
		if !fire {
			continue
		}
		if f.Kind == FaultLatency {
			out.latency += time.Duration(f.Latency)
			continue
		}
		f := f
		out.fail = &f
	}
	return out, nil
}
