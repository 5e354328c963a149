package xspec

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// Proxy serves a reverse proxy to target (an X API or the simulator) that validates every X API request
// (paths under /2/) and its response against the spec, for programs a test runs as processes or whose X
// client it cannot reach: point their X_API_BASE_URL at the returned URL. A failed upstream exchange
// (reset, timeout) drops the client's connection instead of answering, so the client sees what it would
// have seen without the proxy. Checked(rt) on the second result counts the validated exchanges.
func (s *Spec) Proxy(tb testing.TB, target string) (string, http.RoundTripper) {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("xspec: proxy target %q: %v", target, err)
	}
	rec := s.Recorder(tb, nil)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = pathTransport{api: rec, other: http.DefaultTransport}
	rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	srv := httptest.NewServer(rp)
	tb.Cleanup(srv.Close)
	return srv.URL, rec
}

// pathTransport validates X API calls and passes anything else (the simulator's control endpoints) through.
type pathTransport struct{ api, other http.RoundTripper }

func (p pathTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/2/") {
		return p.api.RoundTrip(req)
	}
	return p.other.RoundTrip(req)
}
