package xsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/dghubble/oauth1"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/internal/xspec"
	"github.com/xbot/xbot/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// t0 is a fixed simulated start: tests move time with AdvanceClock, never by sleeping.
var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

type testBundle struct {
	pool   *pgxpool.Pool
	sim    *xsim.Server
	ts     *httptest.Server
	spec   *xspec.Spec
	user   *http.Client // OAuth 1.0a as our account, every exchange checked against the spec
	bearer *http.Client // app-only bearer, checked against the spec
	raw    *http.Client // unsigned, unchecked
	cfg    xsim.Config
}

func testConfig() xsim.Config {
	return xsim.Config{
		ConsumerKey: "ck-test", ConsumerSecret: "cs-test", AccessToken: "at-test", AccessTokenSecret: "ats-test",
		BearerToken: "bearer-test", Seed: 42, Clock: xsim.FixedClock{T: t0}, HangFor: 5 * time.Second,
	}
}

// setup starts a simulator on a fresh schema; pool, when non-nil, shares another test's database.
func setup(t *testing.T, cfg xsim.Config, pool *pgxpool.Pool) *testBundle {
	t.Helper()
	if pool == nil {
		pool, _ = dbtest.Schema(t)
	}
	sim, err := xsim.NewServer(context.Background(), cfg, store.NewXSim(pool))
	require.NoError(t, err)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	spec := xspec.Load(t)
	b := &testBundle{pool: pool, sim: sim, ts: ts, spec: spec, cfg: cfg, raw: &http.Client{Timeout: 10 * time.Second}}
	b.user = signedClient(cfg.ConsumerKey, cfg.ConsumerSecret, cfg.AccessToken, cfg.AccessTokenSecret, spec.Recorder(t, nil))
	b.bearer = &http.Client{Timeout: 10 * time.Second, Transport: bearerTransport{token: cfg.BearerToken, next: spec.Recorder(t, nil)}}
	return b
}

func signedClient(ck, cs, at, ats string, base http.RoundTripper) *http.Client {
	c := oauth1.NewConfig(ck, cs)
	ctx := context.WithValue(context.Background(), oauth1.HTTPClient, &http.Client{Transport: base})
	hc := c.Client(ctx, oauth1.NewToken(at, ats))
	hc.Timeout = 10 * time.Second
	return hc
}

type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func do(t *testing.T, c *http.Client, method, url string, body any) response {
	t.Helper()
	resp, err := send(c, method, url, body)
	require.NoError(t, err)
	return resp
}

func send(c *http.Client, method, url string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			return response{}, err
		}
	}
	return out, nil
}

func (b *testBundle) url(path string) string { return b.ts.URL + path }

// post creates a post as our account and returns its id.
func (b *testBundle) post(t *testing.T, text string) string {
	t.Helper()
	r := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": text})
	require.Equal(t, 201, r.status, string(r.raw))
	return r.body["data"].(map[string]any)["id"].(string)
}

func (b *testBundle) advance(t *testing.T, d time.Duration) {
	t.Helper()
	require.NoError(t, b.sim.AdvanceClock(context.Background(), d))
}

func requireBlank(t *testing.T, r response, status int, title, detail string) {
	t.Helper()
	require.Equal(t, status, r.status, string(r.raw))
	require.JSONEq(t, `{"title":"`+title+`","type":"about:blank","status":`+itoa(status)+`,"detail":"`+detail+`"}`, string(r.raw))
}

func itoa(n int) string { return strconv.Itoa(n) }

func data(r response) map[string]any { return r.body["data"].(map[string]any) }

func num(v any) int64 { return int64(v.(float64)) }

func xsimStore(b *testBundle) *store.XSim { return store.NewXSim(b.pool) }
