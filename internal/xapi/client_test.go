package xapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xapi"
)

func created(w http.ResponseWriter, id, text string) {
	writeJSON(w, http.StatusCreated, "application/json",
		`{"data":{"id":"`+id+`","text":`+strings.TrimSpace(mustJSONString(text))+`,"edit_history_post_ids":["`+id+`"]}}`)
}

func mustJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestCreatePostSignedAndSpecValid(t *testing.T) {
	t.Parallel()
	f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req struct{ Text string }
		_ = json.Unmarshal(body, &req)
		rateHeaders(w, 200, 199, time.Unix(1_900_000_000, 0))
		created(w, "1900000000000000001", req.Text)
	})
	c := f.client(t, nil)
	ctx := context.Background()

	p, err := c.CreatePost(ctx, "Hello from xbot ✨", "")
	require.NoError(t, err)
	require.Equal(t, "1900000000000000001", p.ID)
	require.Equal(t, "Hello from xbot ✨", p.Text)
	require.Equal(t, []string{"1900000000000000001"}, p.EditHistoryIDs)
	got := f.last()
	require.Equal(t, "oauth1", got.Auth, "the fake recomputed the HMAC-SHA1 signature and it matched")
	require.JSONEq(t, `{"text":"Hello from xbot ✨"}`, string(got.Body))

	_, err = c.CreatePost(ctx, "a reply", "1800000000000000009")
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"a reply","reply":{"in_reply_to_tweet_id":"1800000000000000009"}}`, string(f.last().Body))

	q, ok := c.Quota()
	require.True(t, ok)
	require.Equal(t, "POST /2/tweets", q.Op)
	require.Equal(t, 199, q.Window.Remaining)
	require.Equal(t, 200, q.Window.Limit)
	require.Equal(t, time.Unix(1_900_000_000, 0).UTC(), q.Window.Reset)
	require.Nil(t, q.User24h)

	_, err = c.CreatePost(ctx, "  ", "")
	require.Error(t, err, "empty text is refused before sending")
	_, err = c.CreatePost(ctx, "x", "not-an-id")
	require.Error(t, err)
	require.Len(t, f.seen(), 2)
}

func TestOAuth1WrongSecretIsRefused(t *testing.T) {
	t.Parallel()
	f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		created(w, "1", "never")
	})
	for _, creds := range []xapi.OAuth1Creds{
		{ConsumerKey: testCreds.ConsumerKey, ConsumerSecret: "wrong-consumer-secret", AccessToken: testCreds.AccessToken, AccessSecret: testCreds.AccessSecret},
		{ConsumerKey: testCreds.ConsumerKey, ConsumerSecret: testCreds.ConsumerSecret, AccessToken: testCreds.AccessToken, AccessSecret: "wrong-token-secret"},
	} {
		c := f.client(t, func(cfg *xapi.Config) { cfg.Creds = creds })
		_, err := c.CreatePost(context.Background(), "hello", "")
		require.ErrorIs(t, err, xapi.ErrUnauthorized)
		var apiErr *xapi.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusUnauthorized, apiErr.Status)
		require.Equal(t, "bad", f.last().Auth)
		require.NotContains(t, err.Error(), creds.ConsumerSecret)
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	reset := time.Unix(1_900_000_900, 0).UTC()
	dayReset := time.Unix(1_900_050_000, 0).UTC()
	cases := []struct {
		name   string
		serve  func(w http.ResponseWriter)
		create bool // CreatePost, else GetPost
		check  func(t *testing.T, err error)
	}{
		{"duplicate", func(w http.ResponseWriter) {
			writeJSON(w, 403, "application/problem+json", bodyDuplicate)
		}, true, func(t *testing.T, err error) {
			require.ErrorIs(t, err, xapi.ErrDuplicate)
			require.NotErrorIs(t, err, xapi.ErrForbidden)
		}},
		{"reply not allowed", func(w http.ResponseWriter) {
			writeJSON(w, 403, "application/problem+json", bodyReplyRefused)
		}, true, func(t *testing.T, err error) { require.ErrorIs(t, err, xapi.ErrReplyNotAllowed) }},
		{"app permissions", func(w http.ResponseWriter) {
			writeJSON(w, 403, "application/problem+json", bodyNotPermitted)
		}, true, func(t *testing.T, err error) {
			require.ErrorIs(t, err, xapi.ErrForbidden)
			require.NotErrorIs(t, err, xapi.ErrDuplicate)
		}},
		{"unauthorized", func(w http.ResponseWriter) {
			writeJSON(w, 401, "application/problem+json", `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`)
		}, true, func(t *testing.T, err error) { require.ErrorIs(t, err, xapi.ErrUnauthorized) }},
		{"rate limited by the 15-minute window", func(w http.ResponseWriter) {
			rateHeaders(w, 100, 0, reset)
			writeJSON(w, 429, "application/problem+json", bodyTooMany)
		}, true, func(t *testing.T, err error) {
			var rl *xapi.RateLimited
			require.ErrorAs(t, err, &rl)
			require.Equal(t, reset, rl.Reset)
			require.Equal(t, "15m", rl.Window)
			require.Equal(t, 100, rl.Limit)
			require.Equal(t, 0, rl.Remaining)
		}},
		{"rate limited by the user's 24-hour cap", func(w http.ResponseWriter) {
			rateHeaders(w, 100, 57, reset)
			w.Header().Set("x-user-limit-24hour-limit", "17")
			w.Header().Set("x-user-limit-24hour-remaining", "0")
			w.Header().Set("x-user-limit-24hour-reset", "1900050000")
			writeJSON(w, 429, "application/problem+json", bodyTooMany)
		}, true, func(t *testing.T, err error) {
			var rl *xapi.RateLimited
			require.ErrorAs(t, err, &rl)
			require.Equal(t, dayReset, rl.Reset)
			require.Equal(t, "user-24h", rl.Window)
			require.Equal(t, 17, rl.Limit)
		}},
		{"rate limited by the app's 24-hour cap", func(w http.ResponseWriter) {
			w.Header().Set("x-app-limit-24hour-limit", "1667")
			w.Header().Set("x-app-limit-24hour-remaining", "0")
			w.Header().Set("x-app-limit-24hour-reset", "1900050000")
			writeJSON(w, 429, "application/problem+json", bodyTooMany)
		}, true, func(t *testing.T, err error) {
			var rl *xapi.RateLimited
			require.ErrorAs(t, err, &rl)
			require.Equal(t, dayReset, rl.Reset)
			require.Equal(t, "app-24h", rl.Window)
		}},
		{"invalid request is permanent", func(w http.ResponseWriter) {
			writeJSON(w, 400, "application/problem+json", bodyInvalid)
		}, true, func(t *testing.T, err error) {
			var apiErr *xapi.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, 400, apiErr.Status)
			require.Equal(t, "https://api.x.com/2/problems/invalid-request", apiErr.Type)
			require.False(t, apiErr.Retryable())
			for _, s := range []error{xapi.ErrDuplicate, xapi.ErrForbidden, xapi.ErrUnauthorized, xapi.ErrNotSent} {
				require.NotErrorIs(t, err, s)
			}
			var amb *xapi.Ambiguous
			require.False(t, errors.As(err, &amb))
		}},
		{"5xx on a create is ambiguous", func(w http.ResponseWriter) {
			writeJSON(w, 503, "application/problem+json", bodyServerError)
		}, true, func(t *testing.T, err error) {
			var amb *xapi.Ambiguous
			require.ErrorAs(t, err, &amb)
			require.Equal(t, 503, amb.Status)
		}},
		{"5xx on a read is a retryable API error", func(w http.ResponseWriter) {
			writeJSON(w, 500, "application/json", `{"code":131,"message":"Internal error"}`)
		}, false, func(t *testing.T, err error) {
			var apiErr *xapi.APIError
			require.ErrorAs(t, err, &apiErr)
			require.True(t, apiErr.Retryable())
			require.Equal(t, "Internal error", apiErr.Detail)
			var amb *xapi.Ambiguous
			require.False(t, errors.As(err, &amb))
		}},
		{"201 without an id is ambiguous", func(w http.ResponseWriter) {
			writeJSON(w, 201, "application/json", `{"errors":[{"type":"https://api.x.com/2/problems/internal-error","title":"Internal Error","detail":"later"}]}`)
		}, true, func(t *testing.T, err error) {
			var amb *xapi.Ambiguous
			require.ErrorAs(t, err, &amb)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, body []byte) { tc.serve(w) })
			c := f.client(t, nil)
			var err error
			if tc.create {
				_, err = c.CreatePost(context.Background(), "hello", "")
			} else {
				_, err = c.GetPost(context.Background(), "20")
			}
			require.Error(t, err)
			tc.check(t, err)
		})
	}
}

func TestTimeoutOnCreateIsAmbiguousAndBounded(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		select { // X received the post and is slow to answer
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := f.client(t, func(cfg *xapi.Config) { cfg.CallTimeout = 150 * time.Millisecond })
	start := time.Now()
	_, err := c.CreatePost(context.Background(), "slow", "")
	require.Less(t, time.Since(start), 3*time.Second, "the call deadline applies")
	var amb *xapi.Ambiguous
	require.ErrorAs(t, err, &amb)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, xapi.ErrNotSent)

	start = time.Now()
	_, err = c.Me(context.Background())
	require.Less(t, time.Since(start), 3*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, errors.As(err, &amb), "a read is never ambiguous")
}

func TestConnectionResetOnCreateIsAmbiguous(t *testing.T) {
	t.Parallel()
	f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // RST instead of FIN
			}
			_ = conn.Close()
		}
	})
	c := f.client(t, nil)
	_, err := c.CreatePost(context.Background(), "reset", "")
	var amb *xapi.Ambiguous
	require.ErrorAs(t, err, &amb)
	require.Zero(t, amb.Status)
	require.Len(t, f.seen(), 1, "the request reached X before the reset")
}

func TestDialRefusedIsNotSent(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	f := newFakeX(t, nil)
	c := f.client(t, func(cfg *xapi.Config) { cfg.BaseURL = "http://" + addr })
	_, err = c.CreatePost(context.Background(), "hello", "")
	require.ErrorIs(t, err, xapi.ErrNotSent)
	var amb *xapi.Ambiguous
	require.False(t, errors.As(err, &amb), "nothing was sent, so nothing is ambiguous")
	require.NotContains(t, err.Error(), testCreds.AccessToken)
}

func TestSecretsAreRedactedFromErrors(t *testing.T) {
	t.Parallel()
	f := newFakeX(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		writeJSON(w, 400, "application/problem+json", `{"type":"https://api.x.com/2/problems/invalid-request","title":"Invalid Request","detail":"bad token `+testCreds.AccessToken+` and `+testBearer+`"}`)
	})
	c := f.client(t, func(cfg *xapi.Config) { cfg.Bearer = testBearer })
	_, err := c.SearchRecent(context.Background(), "xbot", xapi.TimelineQuery{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), testCreds.AccessToken)
	require.NotContains(t, err.Error(), testBearer)
	require.Contains(t, err.Error(), "[redacted]")
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	_, err := xapi.New(xapi.Config{})
	require.ErrorContains(t, err, "no credentials")
	_, err = xapi.New(xapi.Config{Creds: xapi.OAuth1Creds{ConsumerKey: "k"}})
	require.ErrorContains(t, err, "all four")
	_, err = xapi.New(xapi.Config{BaseURL: "ftp://x", Bearer: "b"})
	require.ErrorContains(t, err, "BaseURL")
	_, err = xapi.New(xapi.Config{Bearer: "b", OAuth2: &xapi.OAuth2Config{ClientID: "id", AccountID: 1}})
	require.ErrorContains(t, err, "TokenStore")
	c, err := xapi.New(xapi.Config{Bearer: "b"})
	require.NoError(t, err)
	_, err = c.CreatePost(context.Background(), "x", "")
	require.ErrorContains(t, err, "needs user context", "a bearer token cannot post")
}
