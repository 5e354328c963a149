package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

// A database that ran in shadow mode (the built-in simulator's account id) and then starts posting to X
// (LIVE_POSTS=true) takes its X identity from the credentials: reconciliation reads that user's timeline,
// never the simulator's user's. Posts made on X as another user stop the start with one line.
func TestShadowThenLiveUsesTheCredentialsUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	dbURL := dbtest.SchemaURL(t, schema)
	creds := map[string]string{"X_API_KEY": "id-ck", "X_API_SECRET": "id-cs", "X_ACCESS_TOKEN": "id-at", "X_ACCESS_TOKEN_SECRET": "id-as"}
	env := func(extra ...string) map[string]string {
		e := map[string]string{"DATABASE_URL": dbURL, "PORT": "0", "SWEEP_INTERVAL": "1s", "PLAN_INTERVAL": "1h", "REPLY_INTERVAL": "1h"}
		for i := 0; i+1 < len(extra); i += 2 {
			e[extra[i]] = extra[i+1]
		}
		return e
	}
	runOnce(t, env(), "migrate")

	// Shadow mode first: the built-in simulator's account.
	shadow := runProcess(t, env("POSTING_DISABLED", "true"), "worker")
	shadow.stop()
	st := store.New(pool)
	acct, err := st.DefaultAccount(ctx, pool)
	require.NoError(t, err)
	simID := xsimUserID(xsim.DefaultUserID)
	require.Equal(t, simID, acct.SimUserID)
	require.NotEqual(t, simID, acct.XUserID, "the simulator's id is not taken for the X id")

	// "X": another simulator on the same database, with another user, that records which timelines are read.
	const realID = int64(1590000000000000777)
	x, err := xsim.NewServer(ctx, xsim.Config{ConsumerKey: creds["X_API_KEY"], ConsumerSecret: creds["X_API_SECRET"],
		AccessToken: creds["X_ACCESS_TOKEN"], AccessTokenSecret: creds["X_ACCESS_TOKEN_SECRET"],
		UserID: realID, Username: "real_account", HangFor: 3 * time.Second, NoDuplicateCheck: true}, store.NewXSim(pool))
	require.NoError(t, err)
	var mu sync.Mutex
	var timelines []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tweets") && strings.HasPrefix(r.URL.Path, "/2/users/") {
			mu.Lock()
			timelines = append(timelines, r.URL.Path)
			mu.Unlock()
		}
		x.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	live := func() map[string]string {
		e := env("MODE", "live", "LIVE_POSTS", "true", "POSTING_DISABLED", "false", "X_API_BASE_URL", ts.URL,
			"X_CALL_TIMEOUT", "1s", "X_RECONCILE_GRACE", "1s", "MIN_POST_SPACING", "0s")
		for k, v := range creds {
			e[k] = v
		}
		return e
	}

	// The create times out after X made the post, so the worker must reconcile on a timeline.
	_, err = x.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})
	require.NoError(t, err)
	w := runProcess(t, live(), "worker")
	acct, err = st.DefaultAccount(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, xsimUserID(realID), acct.XUserID)
	d := &store.Decision{DecisionID: "7b0c2a51-3f0e-4d55-9d3e-0c1f5c2b9a11", AccountID: acct.ID, DecisionType: "single",
		Content: "Live & real: the first post on X, checked on https://example.com/status.", GenerationSource: "real",
		Status: store.StatusQueued, ScheduledAt: time.Now()}
	require.NoError(t, st.InsertDecision(ctx, pool, d))
	waitFor(t, "the post reconciled", 90*time.Second, func() bool {
		got, err := st.GetDecision(ctx, pool, d.DecisionID)
		return err == nil && got.Status == store.StatusPosted
	}, w.out.String)
	w.stop()
	got, err := st.GetDecision(ctx, pool, d.DecisionID)
	require.NoError(t, err)
	require.Equal(t, 1, got.PostingAttempt, "found on the timeline, not sent again")
	mu.Lock()
	require.NotEmpty(t, timelines, "the reconciliation read a timeline")
	for _, p := range timelines {
		require.Equal(t, "/2/users/"+xsimUserID(realID)+"/tweets", p)
	}
	mu.Unlock()

	// Posts were made on X as the stored user: credentials of another user stop the start, in one line.
	_, err = pool.Exec(ctx, `UPDATE accounts SET x_user_id = '1590000000000000555' WHERE id = $1`, acct.ID)
	require.NoError(t, err)
	out := &syncBuffer{}
	m := newTestMain(t)
	m.Stdout, m.Stderr = out, out
	e := live()
	m.LookupEnv = lookupIn(e)
	err = m.Run(ctx, []string{"worker"})
	m.Close()
	var ee *ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 2, ee.Code)
	require.Equal(t, "account: 1 posts were made on X as user 1590000000000000555, but the X credentials are user 1590000000000000777 (@real_account); use that account's credentials or a fresh database", ee.Msg)
}

// Credentials that cannot post, with posting enabled, are a configuration error at start.
func TestLivePostingWithoutUserCredentialsExitsTwo(t *testing.T) {
	t.Parallel()
	_, schema := dbtest.Schema(t)
	e := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "MODE": "live", "LIVE_POSTS": "true",
		"POSTING_DISABLED": "false", "X_BEARER_TOKEN": "app-only-token", "X_API_BASE_URL": "http://127.0.0.1:9"}
	runOnce(t, e, "migrate")
	out := &syncBuffer{}
	m := newTestMain(t)
	m.Stdout, m.Stderr = out, out
	m.LookupEnv = lookupIn(e)
	err := m.Run(context.Background(), []string{"worker"})
	m.Close()
	require.Equal(t, 2, exitCode(out, err))
	require.Equal(t, "config: LIVE_POSTS=true with posting enabled needs user-context credentials: X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET (or X_OAUTH2_*)\n",
		lastLine(out.String()))
}

func xsimUserID(id int64) string { return strconv.FormatInt(id, 10) }

func lastLine(s string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1] + "\n"
}

// OAuth 2.0 user context end to end: the worker starts from the configured refresh token, trades it once,
// stores the new pair encrypted with XBOT_SECRET_KEY (never in clear text) before using it, and resolves the
// account with it. Without the key a refresh token is refused at start, in one line that shows no secret.
func TestOAuth2WorkerStoresRotatedTokensEncrypted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	e := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "MODE": "live", "LIVE_POSTS": "true",
		"POSTING_DISABLED": "true", "PLAN_INTERVAL": "1h", "REPLY_INTERVAL": "1h",
		"X_OAUTH2_CLIENT_ID": "client-1", "X_OAUTH2_REFRESH_TOKEN": "refresh-token-one"}
	runOnce(t, e, "migrate")

	run := func(env map[string]string) (*Main, *syncBuffer, context.CancelFunc, chan error) {
		out := &syncBuffer{}
		m := newTestMain(t)
		m.XTransport = oauthPassthrough{api: m.XTransport}
		m.Stdout, m.Stderr = out, out
		m.LookupEnv = lookupIn(env)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(runCtx, []string{"worker"}) }()
		return m, out, cancel, done
	}

	// Without XBOT_SECRET_KEY: refused at start.
	m, out, cancel, done := run(e)
	err := <-done
	cancel()
	m.Close()
	require.Equal(t, 2, exitCode(out, err))
	require.Equal(t, "config: X_OAUTH2_REFRESH_TOKEN needs XBOT_SECRET_KEY: rotated refresh tokens are stored only encrypted\n", lastLine(out.String()))
	require.NotContains(t, out.String(), "refresh-token-one")

	var mu sync.Mutex
	var traded []string
	x := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/2/oauth2/token":
			_ = r.ParseForm()
			mu.Lock()
			traded = append(traded, r.PostForm.Get("refresh_token"))
			mu.Unlock()
			if r.PostForm.Get("refresh_token") != "refresh-token-one" || r.PostForm.Get("client_id") != "client-1" {
				w.WriteHeader(400)
				_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`))
				return
			}
			_, _ = w.Write([]byte(`{"token_type":"bearer","expires_in":7200,"access_token":"access-token-two","refresh_token":"refresh-token-two"}`))
		case "/2/users/me":
			if r.Header.Get("Authorization") != "Bearer access-token-two" {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(401)
				_, _ = w.Write([]byte(`{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`))
				return
			}
			_, _ = w.Write([]byte(`{"data":{"id":"1590000000000000888","name":"OAuth","username":"oauth_account"}}`))
		default:
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"errors":[{"message":"The requested resource could not be found.","code":34}]}`))
		}
	}))
	t.Cleanup(x.Close)
	e["X_API_BASE_URL"] = x.URL
	e["XBOT_SECRET_KEY"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	m, out, cancel, done = run(e)
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("worker exited: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("worker not up\n%s", out.String())
	}
	cancel()
	require.NoError(t, <-done)
	m.Close()

	mu.Lock()
	require.Equal(t, []string{"refresh-token-one"}, traded, "traded once")
	mu.Unlock()
	acct, err := store.New(pool).DefaultAccount(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, "1590000000000000888", acct.XUserID)
	var rawAccess, rawRefresh string
	require.NoError(t, pool.QueryRow(ctx, `SELECT access_token, refresh_token FROM x_oauth_tokens WHERE account_id = $1`, acct.ID).
		Scan(&rawAccess, &rawRefresh))
	require.NotContains(t, rawAccess, "access-token-two")
	require.NotContains(t, rawRefresh, "refresh-token-two")
	tok, found, err := store.New(pool).XTokens([]byte("0123456789abcdef0123456789abcdef")).LoadOAuth2Token(ctx, acct.ID)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "refresh-token-two", tok.RefreshToken)
	for _, secret := range []string{"refresh-token-one", "refresh-token-two", "access-token-two"} {
		require.NotContains(t, out.String(), secret)
	}
}

// oauthPassthrough sends X's token endpoint (outside the API spec) straight through and checks the rest.
type oauthPassthrough struct{ api http.RoundTripper }

func (o oauthPassthrough) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/2/oauth2/token" {
		return http.DefaultTransport.RoundTrip(r)
	}
	return o.api.RoundTrip(r)
}
