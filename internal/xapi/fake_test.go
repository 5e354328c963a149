package xapi_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xspec"
)

// Credentials the fake X accepts.
var testCreds = xapi.OAuth1Creds{ConsumerKey: "ck-test-key", ConsumerSecret: "cs-test-secret",
	AccessToken: "at-test-token", AccessSecret: "as-test-secret"}

const testBearer = "bearer-app-only-token"

// fakeX is a per-test X: it checks credentials like X does (OAuth 1.0a HMAC-SHA1 signatures computed
// here with the standard library, bearer tokens) and answers with handler, which the test writes.
type fakeX struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []seen
	bearers  map[string]bool // accepted bearer tokens (app-only and OAuth 2.0 user tokens)
	handler  func(w http.ResponseWriter, r *http.Request, body []byte)
}

type seen struct {
	Method, Path string
	Query        url.Values
	Body         []byte
	Auth         string // "oauth1", "bearer:<token>" or "bad"
}

func newFakeX(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeX {
	t.Helper()
	f := &fakeX{t: t, handler: handler, bearers: map[string]bool{testBearer: true}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeX) acceptBearer(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bearers[tok] = true
}

func (f *fakeX) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

func (f *fakeX) last() seen {
	s := f.seen()
	require.NotEmpty(f.t, s, "no request reached the fake")
	return s[len(s)-1]
}

func (f *fakeX) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth := "bad"
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "OAuth "):
		if verifyOAuth1(r, h, testCreds.ConsumerSecret, testCreds.AccessSecret) {
			auth = "oauth1"
		}
	case strings.HasPrefix(h, "Bearer "):
		f.mu.Lock()
		if f.bearers[strings.TrimPrefix(h, "Bearer ")] {
			auth = "bearer:" + strings.TrimPrefix(h, "Bearer ")
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.requests = append(f.requests, seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, Auth: auth})
	f.mu.Unlock()
	if auth == "bad" {
		writeJSON(w, http.StatusUnauthorized, "application/problem+json",
			`{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`)
		return
	}
	f.handler(w, r, body)
}

// client returns a client of f whose traffic is checked against the spec.
func (f *fakeX) client(t *testing.T, mod func(*xapi.Config)) *xapi.Client {
	t.Helper()
	cfg := xapi.Config{BaseURL: f.srv.URL, Creds: testCreds,
		HTTPClient: &http.Client{Transport: xspec.Load(t).Recorder(t, nil)}}
	if mod != nil {
		mod(&cfg)
	}
	c, err := xapi.New(cfg)
	require.NoError(t, err)
	return c
}

func writeJSON(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// rfc3986 percent-encodes as OAuth 1.0a requires (RFC 5849 3.6).
func rfc3986(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// verifyOAuth1 recomputes the request's HMAC-SHA1 signature from its method, URL, query and oauth_*
// parameters (RFC 5849 3.4) and compares it with the one sent.
func verifyOAuth1(r *http.Request, header, consumerSecret, tokenSecret string) bool {
	params := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(header, "OAuth "), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return false
		}
		uv, err := url.QueryUnescape(strings.Trim(v, `"`))
		if err != nil {
			return false
		}
		params[k] = uv
	}
	sig := params["oauth_signature"]
	delete(params, "oauth_signature")
	delete(params, "realm")
	if params["oauth_signature_method"] != "HMAC-SHA1" || params["oauth_token"] != testCreds.AccessToken ||
		params["oauth_consumer_key"] != testCreds.ConsumerKey || params["oauth_nonce"] == "" {
		return false
	}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	pairs := make([]string, 0, len(params))
	for k, v := range params {
		pairs = append(pairs, rfc3986(k)+"="+rfc3986(v))
	}
	sort.Strings(pairs)
	base := strings.ToUpper(r.Method) + "&" + rfc3986("http://"+strings.ToLower(r.Host)+r.URL.EscapedPath()) + "&" +
		rfc3986(strings.Join(pairs, "&"))
	mac := hmac.New(sha1.New, []byte(rfc3986(consumerSecret)+"&"+rfc3986(tokenSecret)))
	mac.Write([]byte(base))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}

// X's plain error bodies.
const (
	bodyDuplicate    = `{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}`
	bodyReplyRefused = `{"detail":"You can only reply to or quote posts where you are mentioned or are the author.","type":"about:blank","title":"Forbidden","status":403}`
	bodyNotPermitted = `{"detail":"You are not permitted to perform this action.","type":"about:blank","title":"Forbidden","status":403}`
	bodyTooMany      = `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`
	bodyInvalid      = `{"type":"https://api.x.com/2/problems/invalid-request","title":"Invalid Request","detail":"One or more parameters to your request was invalid.","errors":[{"message":"text too long"}]}`
	bodyServerError  = `{"type":"https://api.x.com/2/problems/internal-error","title":"Internal Error","detail":"Something went wrong."}`
)

func rateHeaders(w http.ResponseWriter, limit, remaining int, reset time.Time) {
	w.Header().Set("x-rate-limit-limit", fmt.Sprint(limit))
	w.Header().Set("x-rate-limit-remaining", fmt.Sprint(remaining))
	w.Header().Set("x-rate-limit-reset", fmt.Sprint(reset.Unix()))
}
