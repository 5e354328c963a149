package xspec_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xspec"
)

func newReq(t *testing.T, method, target, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://127.0.0.1:9/"+strings.TrimPrefix(target, "/"), r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func jsonHeader(ct string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", ct)
	return h
}

func TestFindFileFromPackageFolder(t *testing.T) {
	t.Parallel()
	path, err := xspec.FindFile()
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(path, "shared/specs/x-api-v2-openapi.json"), path)
	require.Equal(t, "2.167", xspec.Load(t).Version())
}

func TestValidateRequest(t *testing.T) {
	t.Parallel()
	spec := xspec.Load(t)
	cases := []struct {
		name, method, target, body string
		ok                         bool
	}{
		{"create", "POST", "/2/tweets", `{"text":"hello"}`, true},
		{"reply", "POST", "/2/tweets", `{"text":"hi","reply":{"in_reply_to_tweet_id":"123"}}`, true},
		{"create unknown member", "POST", "/2/tweets", `{"text":"hello","bogus":1}`, false},
		{"reply id not numeric", "POST", "/2/tweets", `{"text":"hi","reply":{"in_reply_to_tweet_id":"abc"}}`, false},
		{"create without body", "POST", "/2/tweets", ``, false},
		{"delete", "DELETE", "/2/tweets/1346889436626259968", ``, true},
		{"delete bad id", "DELETE", "/2/tweets/abc", ``, false},
		{"lookup", "GET", "/2/tweets?ids=1,2&post.fields=public_metrics,non_public_metrics,organic_metrics,created_at", ``, true},
		{"lookup older field name", "GET", "/2/tweets?ids=1&tweet.fields=public_metrics", ``, false},
		{"lookup unknown field value", "GET", "/2/tweets?ids=1&post.fields=retweet_count", ``, false},
		{"lookup without ids", "GET", "/2/tweets", ``, false},
		{"one post", "GET", "/2/tweets/20?post.fields=created_at", ``, true},
		{"search route wins over {id}", "GET", "/2/tweets/search/recent?query=xbot&max_results=10", ``, true},
		{"search max_results too small", "GET", "/2/tweets/search/recent?query=xbot&max_results=5", ``, false},
		{"me", "GET", "/2/users/me?user.fields=public_metrics", ``, true},
		{"timeline", "GET", "/2/users/12/tweets?start_time=2025-01-01T00:00:00Z&since_id=5&max_results=100", ``, true},
		{"timeline bad time", "GET", "/2/users/12/tweets?start_time=yesterday", ``, false},
		{"timeline unknown param", "GET", "/2/users/12/tweets?count=5", ``, false},
		{"mentions", "GET", "/2/users/12/mentions?expansions=author_id&user.fields=public_metrics", ``, true},
		{"no such path", "GET", "/2/nothing", ``, false},
		{"wrong method", "PUT", "/2/tweets", `{"text":"x"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := spec.ValidateRequest(newReq(t, tc.method, tc.target, tc.body), []byte(tc.body))
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestValidateResponse(t *testing.T) {
	t.Parallel()
	spec := xspec.Load(t)
	create := newReq(t, "POST", "/2/tweets", `{"text":"hello"}`)
	lookup := newReq(t, "GET", "/2/tweets?ids=1", "")
	cases := []struct {
		name   string
		req    *http.Request
		status int
		ct     string
		body   string
		ok     bool
	}{
		{"created", create, 201, "application/json", `{"data":{"id":"1","text":"hello","edit_history_post_ids":["1"]}}`, true},
		{"created without id", create, 201, "application/json", `{"data":{"text":"hello"}}`, false},
		{"created id not numeric", create, 201, "application/json", `{"data":{"id":"x","text":"hello"}}`, false},
		{"lookup with metrics and a not-found", lookup, 200, "application/json", `{"data":[{"id":"1","text":"a","public_metrics":{"repost_count":1,"reply_count":0,"like_count":2,"quote_count":0,"bookmark_count":0,"impression_count":9}}],"errors":[{"type":"https://api.x.com/2/problems/resource-not-found","title":"Not Found Error","detail":"Could not find tweet with ids: [2].","resource_type":"tweet","resource_id":"2","parameter":"ids","value":"2"}]}`, true},
		{"older metric name", lookup, 200, "application/json", `{"data":[{"id":"1","text":"a","public_metrics":{"retweet_count":1,"reply_count":0,"like_count":2,"quote_count":0,"bookmark_count":0,"impression_count":9}}]}`, false},
		{"problem invalid request", lookup, 400, "application/problem+json", `{"type":"https://api.x.com/2/problems/invalid-request","title":"Invalid Request","detail":"One or more parameters to your request was invalid."}`, true},
		{"legacy error", lookup, 500, "application/json", `{"code":131,"message":"Internal error"}`, true},
		{"duplicate", create, 403, "application/problem+json", `{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}`, true},
		{"reply not allowed", create, 403, "application/json", `{"detail":"You can only reply to or quote posts where you are mentioned or are the author.","type":"about:blank","title":"Forbidden","status":403}`, true},
		{"permissions", create, 403, "application/problem+json", `{"detail":"You are not permitted to perform this action.","type":"about:blank","title":"Forbidden","status":403}`, true},
		{"unauthorized", create, 401, "application/problem+json", `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`, true},
		{"too many", create, 429, "application/problem+json", `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`, true},
		{"about:blank with another 403 detail", create, 403, "application/problem+json", `{"detail":"nope","type":"about:blank","title":"Forbidden","status":403}`, false},
		{"about:blank status mismatch", create, 401, "application/problem+json", `{"title":"Unauthorized","type":"about:blank","status":403,"detail":"Unauthorized"}`, false},
		{"about:blank for a 500", create, 500, "application/problem+json", `{"title":"Internal Server Error","type":"about:blank","status":500,"detail":"x"}`, false},
		{"about:blank extra member", create, 429, "application/problem+json", `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429,"x":1}`, false},
		{"text/plain", create, 201, "text/plain", `ok`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := spec.ValidateResponse(tc.req, tc.status, jsonHeader(tc.ct), []byte(tc.body))
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// failRecorder is a testing.TB that records Errorf instead of failing, so the Recorder's own failures
// can be asserted.
type failRecorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (f *failRecorder) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *failRecorder) failures() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	spec := xspec.Load(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("bad") != "" || strings.Contains(string(body), "bad") {
			w.WriteHeader(201)
			_, _ = io.WriteString(w, `{"data":{"text":"missing id"}}`)
			return
		}
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"data":{"id":"7","text":`+fmt.Sprintf("%q", strings.TrimSuffix(strings.TrimPrefix(string(body), `{"text":"`), `"}`))+`}}`)
	}))
	t.Cleanup(srv.Close)

	send := func(tb testing.TB, target, body string) string {
		rt := spec.Recorder(tb, nil)
		req, err := http.NewRequest("POST", srv.URL+target, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Transport: rt}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(got)
	}

	good := &failRecorder{TB: t}
	require.Equal(t, `{"data":{"id":"7","text":"hello"}}`, send(good, "/2/tweets", `{"text":"hello"}`), "the body reaches server and client intact")
	require.Empty(t, good.failures())

	badResp := &failRecorder{TB: t}
	send(badResp, "/2/tweets", `{"text":"bad"}`)
	require.Len(t, badResp.failures(), 1)
	require.Contains(t, badResp.failures()[0], "response does not match")

	badReq := &failRecorder{TB: t}
	send(badReq, "/2/tweets?bad=1", `{"text":"x"}`)
	require.Len(t, badReq.failures(), 2)
	require.Contains(t, badReq.failures()[0], "unknown query parameters [bad]")
}
