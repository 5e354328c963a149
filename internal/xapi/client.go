package xapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dghubble/oauth1"
)

// OAuth1Creds are the app's consumer key and secret and the user's access token and secret.
type OAuth1Creds struct {
	ConsumerKey    string
	ConsumerSecret string
	AccessToken    string
	AccessSecret   string
}

func (c OAuth1Creds) complete() bool {
	return c.ConsumerKey != "" && c.ConsumerSecret != "" && c.AccessToken != "" && c.AccessSecret != ""
}

func (c OAuth1Creds) empty() bool {
	return c.ConsumerKey == "" && c.ConsumerSecret == "" && c.AccessToken == "" && c.AccessSecret == ""
}

// Config configures a Client. Zero values take the defaults noted.
type Config struct {
	BaseURL     string        // default https://api.x.com
	CallTimeout time.Duration // deadline of every request; default 20s
	// Creds sign user-context calls with OAuth 1.0a, unless OAuth2 is set.
	Creds OAuth1Creds
	// Bearer is an app-only token, used for reads that do not need user context; optional.
	Bearer string
	// OAuth2 is an OAuth 2.0 user token used instead of Creds for user-context calls; optional.
	OAuth2 *OAuth2Config
	// Tokens stores rotated OAuth 2.0 tokens; required with OAuth2.
	Tokens TokenStore
	// HTTPClient's Transport carries the requests (http.DefaultTransport when nil). Its Timeout is not
	// used: CallTimeout is the deadline.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Client calls X API v2. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	plain   *http.Client // no auth header added
	signed  *http.Client // OAuth 1.0a
	oauth2  *tokenSource // nil unless configured
	secrets []string

	mu    sync.Mutex
	quota Quota
	seen  bool
}

// New validates cfg, fills its defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	cfg.BaseURL = strings.TrimRight(cmp.Or(cfg.BaseURL, "https://api.x.com"), "/")
	cfg.CallTimeout = cmp.Or(cfg.CallTimeout, 20*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("xapi: BaseURL %q: want an http(s) URL", cfg.BaseURL)
	}
	if cfg.CallTimeout < 0 {
		return nil, fmt.Errorf("xapi: CallTimeout %s: must be positive", cfg.CallTimeout)
	}
	if !cfg.Creds.empty() && !cfg.Creds.complete() {
		return nil, errors.New("xapi: OAuth 1.0a needs all four of consumer key and secret, access token and secret")
	}
	if cfg.Creds.empty() && cfg.OAuth2 == nil && cfg.Bearer == "" {
		return nil, errors.New("xapi: no credentials: need OAuth 1.0a creds, an OAuth 2.0 token or a bearer token")
	}
	transport := http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		transport = cfg.HTTPClient.Transport
	}
	plain := &http.Client{Transport: transport, CheckRedirect: noRedirect}
	c := &Client{cfg: cfg, base: base, plain: plain}
	if cfg.Creds.complete() {
		oc := oauth1.NewConfig(cfg.Creds.ConsumerKey, cfg.Creds.ConsumerSecret)
		ctx := context.WithValue(context.Background(), oauth1.HTTPClient, plain)
		c.signed = oc.Client(ctx, oauth1.NewToken(cfg.Creds.AccessToken, cfg.Creds.AccessSecret))
		c.signed.CheckRedirect = noRedirect
		c.secrets = append(c.secrets, cfg.Creds.ConsumerKey, cfg.Creds.ConsumerSecret, cfg.Creds.AccessToken, cfg.Creds.AccessSecret)
	}
	if cfg.Bearer != "" {
		c.secrets = append(c.secrets, cfg.Bearer)
	}
	if cfg.OAuth2 != nil {
		ts, err := newTokenSource(*cfg.OAuth2, cfg.Tokens, c)
		if err != nil {
			return nil, err
		}
		c.oauth2 = ts
		c.secrets = append(c.secrets, cfg.OAuth2.AccessToken, cfg.OAuth2.RefreshToken, cfg.OAuth2.ClientSecret)
	}
	return c, nil
}

// noRedirect: X API calls never redirect; following one would resend credentials elsewhere.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// redact replaces every configured secret and every token the client holds in s.
func (c *Client) redact(s string) string {
	var held []string
	if c.oauth2 != nil {
		held = c.oauth2.held()
	}
	return c.redactWith(s, held)
}

func (c *Client) redactWith(s string, extra []string) string {
	for _, list := range [][]string{c.secrets, extra} {
		for _, sec := range list {
			if len(sec) >= 4 {
				s = strings.ReplaceAll(s, sec, "[redacted]")
			}
		}
	}
	return s
}

// auth is the authentication a call needs.
type auth int

const (
	authUser auth = iota // user context: OAuth 2.0 user token, else OAuth 1.0a
	authRead             // app-only bearer when configured, else user context
)

// call is one API request.
type call struct {
	method string
	path   string // escaped path below the base URL, e.g. /2/tweets/123
	query  url.Values
	body   any
	auth   auth
	create bool // a POST whose outcome matters: unknown outcomes become *Ambiguous
}

func (k call) op() string { return k.method + " " + k.path }

// do sends k and decodes a 2xx body into out. Errors are typed as the package doc says.
func (c *Client) do(ctx context.Context, k call, out any) error {
	var payload []byte
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return fmt.Errorf("xapi: %s: encode body: %w", k.op(), err)
		}
		payload = b
	}
	status, body, err := c.send(ctx, k, payload, false)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		// A cut or non-JSON body (an HTML error page with 200) is X's fault, not ours: the decoder's error is
		// kept as text only, so nothing mistakes it for a job's own arguments failing to decode.
		cause := fmt.Errorf("%w: status %d: %s", ErrMalformed, status, err.Error())
		if k.create {
			return &Ambiguous{Op: k.op(), Status: status, Err: cause}
		}
		return fmt.Errorf("xapi: %s: %w", k.op(), cause)
	}
	return nil
}

// send performs the request with its deadline and returns a 2xx status and body, or a typed error.
func (c *Client) send(ctx context.Context, k call, payload []byte, retried bool) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()

	u := *c.base
	u.Path = c.base.Path + k.path
	u.RawPath = ""
	if len(k.query) > 0 {
		u.RawQuery = k.query.Encode()
	}
	var rdr io.Reader
	if payload != nil {
		rdr = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u.String(), rdr)
	if err != nil {
		return 0, nil, fmt.Errorf("xapi: %s: build request: %w", k.op(), err)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc, usedToken, err := c.authorize(ctx, req, k.auth)
	if err != nil {
		return 0, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, c.transportError(k, err)
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	_ = resp.Body.Close()
	c.observe(k.op(), resp.Header)
	if rerr != nil {
		if k.create {
			return 0, nil, &Ambiguous{Op: k.op(), Status: resp.StatusCode, Err: &redacted{msg: c.redact(rerr.Error()), cause: rerr}}
		}
		return 0, nil, fmt.Errorf("xapi: %s: read response: %s", k.op(), c.redact(rerr.Error()))
	}
	if resp.StatusCode == http.StatusUnauthorized && usedToken != "" && !retried {
		// An OAuth 2.0 access token may have been revoked or expired early: refresh once and retry.
		// A 401 means X did nothing, so a retried create cannot double-post.
		if err := c.oauth2.refreshAfter(ctx, usedToken); err == nil {
			return c.send(ctx, k, payload, true)
		}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, body, nil
	}
	return 0, nil, c.statusError(k, resp.StatusCode, resp.Header, body)
}

// authorize picks the client and header for the call; it returns the OAuth 2.0 access token used, if any.
func (c *Client) authorize(ctx context.Context, req *http.Request, a auth) (*http.Client, string, error) {
	if a == authRead && c.cfg.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Bearer)
		return c.plain, "", nil
	}
	if c.oauth2 != nil {
		tok, err := c.oauth2.token(ctx)
		if err != nil {
			return nil, "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return c.plain, tok, nil
	}
	if c.signed != nil {
		return c.signed, "", nil
	}
	return nil, "", fmt.Errorf("xapi: %s %s: needs user context (OAuth 1.0a or OAuth 2.0), only a bearer token is configured",
		req.Method, req.URL.Path)
}

// transportError classifies a failure with no response.
func (c *Client) transportError(k call, err error) error {
	cause := &redacted{msg: c.redact(err.Error()), cause: err}
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect") {
		return fmt.Errorf("xapi: %s: %w: %w", k.op(), ErrNotSent, cause)
	}
	if k.create {
		return &Ambiguous{Op: k.op(), Err: cause}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("xapi: %s: %w", k.op(), context.DeadlineExceeded)
	}
	return fmt.Errorf("xapi: %s: %w", k.op(), cause)
}

// problem is the union of X's error bodies: RFC 7807 problems, about:blank problems and the legacy
// {"errors":[{"code","message"}]} shape.
type problem struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
	Code   int    `json:"code"`
	Msg    string `json:"message"`
	Errors []struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
		Detail  string `json:"detail"`
		Title   string `json:"title"`
	} `json:"errors"`
}

func (c *Client) statusError(k call, status int, h http.Header, body []byte) error {
	if status == http.StatusTooManyRequests {
		return c.rateLimited(k.op(), h)
	}
	var p problem
	_ = json.Unmarshal(body, &p)
	e := &APIError{Op: k.op(), Status: status, Title: p.Title, Detail: p.Detail, Type: p.Type}
	if e.Detail == "" && p.Msg != "" {
		e.Detail = p.Msg
	}
	if e.Detail == "" && len(p.Errors) > 0 {
		e.Detail = cmp.Or(p.Errors[0].Detail, p.Errors[0].Message)
	}
	if e.Title == "" {
		e.Title = http.StatusText(status)
	}
	e.Title, e.Detail = c.redact(e.Title), c.redact(e.Detail)
	switch {
	case status == http.StatusUnauthorized:
		e.kind = ErrUnauthorized
	case status == http.StatusForbidden:
		e.kind = forbiddenKind(e.Type, e.Title, e.Detail)
	case status >= 500 && k.create:
		return &Ambiguous{Op: k.op(), Status: status, Err: e}
	}
	return e
}

// Window is one rate-limit window as X reports it.
type Window struct {
	Limit     int
	Remaining int
	Reset     time.Time
}

// Quota is what the last response with rate-limit headers said.
type Quota struct {
	Op      string    // the call it came from, e.g. "POST /2/tweets"
	At      time.Time // when it was seen
	Window  *Window   // x-rate-limit-* (the endpoint's 15-minute window)
	User24h *Window   // x-user-limit-24hour-*
	App24h  *Window   // x-app-limit-24hour-*
}

// Quota returns the rate-limit state from the last response that carried rate-limit headers, and
// whether one has been seen.
func (c *Client) Quota() (Quota, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.quota, c.seen
}

func window(h http.Header, prefix string) *Window {
	reset := h.Get(prefix + "-reset")
	limit := h.Get(prefix + "-limit")
	remaining := h.Get(prefix + "-remaining")
	if reset == "" && limit == "" && remaining == "" {
		return nil
	}
	w := &Window{Remaining: -1, Limit: -1}
	if n, err := strconv.Atoi(limit); err == nil {
		w.Limit = n
	}
	if n, err := strconv.Atoi(remaining); err == nil {
		w.Remaining = n
	}
	if n, err := strconv.ParseInt(reset, 10, 64); err == nil {
		w.Reset = time.Unix(n, 0).UTC()
	}
	return w
}

func (c *Client) observe(op string, h http.Header) {
	q := Quota{Op: op, At: c.cfg.Now(), Window: window(h, "x-rate-limit"),
		User24h: window(h, "x-user-limit-24hour"), App24h: window(h, "x-app-limit-24hour")}
	if q.Window == nil && q.User24h == nil && q.App24h == nil {
		return
	}
	c.mu.Lock()
	c.quota, c.seen = q, true
	c.mu.Unlock()
}

// rateLimited builds the 429 error: the exhausted window with the latest reset wins; without any
// exhausted window, the endpoint window's reset, else the latest reset given; without headers at all,
// 15 minutes from now.
func (c *Client) rateLimited(op string, h http.Header) *RateLimited {
	e := &RateLimited{Op: op, Limit: -1, Remaining: -1}
	named := []struct {
		name string
		w    *Window
	}{{"15m", window(h, "x-rate-limit")}, {"user-24h", window(h, "x-user-limit-24hour")}, {"app-24h", window(h, "x-app-limit-24hour")}}
	pick := func(exhaustedOnly bool) bool {
		found := false
		for _, n := range named {
			if n.w == nil || n.w.Reset.IsZero() || (exhaustedOnly && n.w.Remaining != 0) {
				continue
			}
			if !found || n.w.Reset.After(e.Reset) {
				e.Reset, e.Limit, e.Remaining, e.Window = n.w.Reset, n.w.Limit, n.w.Remaining, n.name
				found = true
			}
		}
		return found
	}
	if !pick(true) {
		if w := named[0].w; w != nil && !w.Reset.IsZero() {
			e.Reset, e.Limit, e.Remaining, e.Window = w.Reset, w.Limit, w.Remaining, named[0].name
		} else if !pick(false) {
			e.Reset, e.Window = c.cfg.Now().Add(15*time.Minute).UTC(), "15m"
		}
	}
	return e
}

// redacted keeps an error's chain (for errors.Is) while its text has the secrets replaced.
type redacted struct {
	msg   string
	cause error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.cause }
