package xspec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// RelPath is where the spec lives relative to the module root.
const RelPath = "../shared/specs/x-api-v2-openapi.json"

// Spec is a loaded, routed OpenAPI document. It is safe for concurrent use.
type Spec struct {
	doc    *openapi3.T
	router routers.Router
	server *url.URL // the document's first server; requests are routed as if sent there
}

// FindFile walks up from the working directory to the module root (the folder holding go.mod) and
// returns the spec's path beside it, or an error saying where it looked.
func FindFile() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("xspec: working directory: %w", err)
	}
	dir := wd
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("xspec: no go.mod above %s", wd)
		}
		dir = parent
	}
	path := filepath.Clean(filepath.Join(dir, filepath.FromSlash(RelPath)))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("xspec: spec not found beside the module root %s: %w", dir, err)
	}
	return path, nil
}

// LoadFile parses and routes the spec at path. It does not call the document's Validate: that trips on
// one lookahead regex in a schema xbot never uses.
func LoadFile(path string) (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("xspec: load %s: %w", path, err)
	}
	if len(doc.Servers) == 0 {
		return nil, fmt.Errorf("xspec: %s declares no servers", path)
	}
	server, err := url.Parse(doc.Servers[0].URL)
	if err != nil {
		return nil, fmt.Errorf("xspec: server url: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("xspec: route %s: %w", path, err)
	}
	return &Spec{doc: doc, router: router, server: server}, nil
}

// loaded memoizes the parsed spec for the test binary: parsing 800 kB of JSON per test is wasteful.
var loaded struct {
	once sync.Once
	spec *Spec
	err  error
}

// Load returns the spec found from the module root, parsed once per process. A missing or unreadable
// spec fails the test; it never skips.
func Load(tb testing.TB) *Spec {
	tb.Helper()
	loaded.once.Do(func() {
		path, err := FindFile()
		if err != nil {
			loaded.err = err
			return
		}
		loaded.spec, loaded.err = LoadFile(path)
	})
	if loaded.err != nil {
		tb.Fatalf("%v", loaded.err)
	}
	return loaded.spec
}

// Version is the document's info.version (2.167 for the file xbot is built against).
func (s *Spec) Version() string { return s.doc.Info.Version }

// route finds the operation for req as if it had been sent to the spec's server.
func (s *Spec) route(req *http.Request) (*routers.Route, map[string]string, *http.Request, error) {
	r := req.Clone(context.Background())
	u := *req.URL
	u.Scheme, u.Host = s.server.Scheme, s.server.Host
	r.URL, r.Host = &u, s.server.Host
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s %s: no operation in the spec: %w", req.Method, req.URL.Path, err)
	}
	return route, params, r, nil
}

// Operation names the spec operation req routes to (its operationId), or returns an error.
func (s *Spec) Operation(req *http.Request) (string, error) {
	route, _, _, err := s.route(req)
	if err != nil {
		return "", err
	}
	return route.Operation.OperationID, nil
}

func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
		RejectWhenRequestBodyNotSpecified: true,
		IncludeResponseStatus:             true,
		MultiError:                        true,
	}
}

// ValidateRequest checks req (whose body is given separately; req.Body is not read) against its
// operation: the route, path and query parameters, the body, and that every query parameter is one the
// operation declares.
func (s *Spec) ValidateRequest(req *http.Request, body []byte) error {
	route, params, r, err := s.route(req)
	if err != nil {
		return err
	}
	if err := unknownQuery(route, r.URL.Query()); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: options()}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s): %w", req.Method, req.URL.Path, route.Operation.OperationID, err)
	}
	return nil
}

// unknownQuery fails on a query parameter the operation (or its path item) does not declare:
// kin-openapi ignores them, X refuses them with 400.
func unknownQuery(route *routers.Route, q url.Values) error {
	known := map[string]bool{}
	for _, ps := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, p := range ps {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
				known[p.Value.Name] = true
			}
		}
	}
	var unknown []string
	for name := range q {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown query parameters %v for %s", unknown, route.Operation.OperationID)
	}
	return nil
}

// ValidateResponse checks a response to req against the operation's responses. The plain about:blank
// bodies X sends for 401, 403 and 429 are accepted by their exact shape (see AboutBlank); nothing else is
// exempt.
func (s *Spec) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, r, err := s.route(req)
	if err != nil {
		return err
	}
	if AboutBlank(status, header, body) || Deliberate(header, body) {
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: options()},
		Status:                 status,
		Header:                 header,
		Options:                options(),
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s) response %d: %w", req.Method, req.URL.Path, route.Operation.OperationID, status, err)
	}
	return nil
}

// The details X puts in its about:blank 403 bodies.
const (
	DetailDuplicate       = "You are not allowed to create a Tweet with duplicate content."
	DetailReplyNotAllowed = "You can only reply to or quote posts where you are mentioned or are the author."
	DetailNotPermitted    = "You are not permitted to perform this action."
	DetailReplyRestricted = "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to."
	DetailSuspended       = "Your account is suspended and is not permitted to access this feature."
	DetailForbidden       = "Forbidden"
)

// forbiddenTypes are the problem types of the 403s X sends outside its spec (credentials and app
// permissions), under either host.
var forbiddenTypes = []string{"client-forbidden", "unsupported-authentication", "oauth1-permissions"}

// faultHeader marks a simulator response a scripted fault broke on purpose (a cut body, an HTML page).
const faultHeader = "X-Xsim-Fault"

// Deliberate reports whether a response is one a scripted fault broke on purpose: marked by the
// simulator and, to be sure the mark is not covering a bug, really not JSON.
func Deliberate(header http.Header, body []byte) bool {
	switch header.Get(faultHeader) {
	case "malformed_json", "html":
		return !json.Valid(body)
	}
	return false
}

// AboutBlank reports whether a response is one of the plain problem bodies X sends outside its spec:
// exactly the members type "about:blank" (or, for a 403, one of X's credential problem types), title,
// detail and status (equal to the HTTP status), for 401
// (title Unauthorized), 403 (title Forbidden, detail one of the Detail constants) or 429 (title Too Many
// Requests), as JSON or problem+JSON.
func AboutBlank(status int, header http.Header, body []byte) bool {
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/problem+json") {
		return false
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(body, &p); err != nil || len(p) != 4 {
		return false
	}
	var typ, title, detail string
	var st int
	for k, dst := range map[string]any{"type": &typ, "title": &title, "detail": &detail, "status": &st} {
		raw, ok := p[k]
		if !ok || json.Unmarshal(raw, dst) != nil {
			return false
		}
	}
	if status == http.StatusForbidden && st == status {
		for _, t := range forbiddenTypes {
			if typ == "https://api.twitter.com/2/problems/"+t || typ == "https://api.x.com/2/problems/"+t {
				return title != "" && detail != ""
			}
		}
	}
	if typ != "about:blank" || st != status {
		return false
	}
	switch status {
	case http.StatusUnauthorized:
		return title == "Unauthorized" && detail != ""
	case http.StatusForbidden:
		return title == "Forbidden" && slices.Contains([]string{DetailDuplicate, DetailReplyNotAllowed, DetailNotPermitted,
			DetailReplyRestricted, DetailSuspended, DetailForbidden}, detail)
	case http.StatusTooManyRequests:
		return title == "Too Many Requests" && detail != ""
	}
	return false
}

// Recorder wraps next (http.DefaultTransport when nil) so that every request sent through it and every
// response received is validated against the spec; a mismatch fails tb. Transport errors (no response)
// are passed through untouched.
func (s *Spec) Recorder(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &recorder{spec: s, tb: tb, next: next}
}

type recorder struct {
	spec *Spec
	tb   testing.TB
	next http.RoundTripper
	mu   sync.Mutex
	n    int
}

func (rt *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("xspec: read request body: %w", err)
		}
		body = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	if err := rt.spec.ValidateRequest(req, body); err != nil {
		rt.tb.Errorf("xspec: request does not match the spec: %v", err)
	}
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	rb, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	if rerr != nil {
		// A body cut short (a reset mid-response) is the client's problem to report, not a spec mismatch.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(rb), errReader{rerr}))
		return resp, nil
	}
	if err := rt.spec.ValidateResponse(req, resp.StatusCode, resp.Header, rb); err != nil {
		rt.tb.Errorf("xspec: response does not match the spec: %v", err)
	}
	rt.mu.Lock()
	rt.n++
	rt.mu.Unlock()
	return resp, nil
}

// Checked is how many exchanges a Recorder has validated (to assert that traffic went through it).
func Checked(rt http.RoundTripper) int {
	r, ok := rt.(*recorder)
	if !ok {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
