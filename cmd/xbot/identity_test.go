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
	m.LookupEnv = func(k string) (string, bool) { v, ok := e[k]; return v, ok }
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
	m.LookupEnv = func(k string) (string, bool) { v, ok := e[k]; return v, ok }
	err := m.Run(context.Background(), []string{"worker"})
	m.Close()
	require.Equal(t, 2, exitCode(out, err))
	require.Equal(t, "config: LIVE_POSTS=true with posting enabled needs user-context credentials: X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET\n",
		lastLine(out.String()))
}

func xsimUserID(id int64) string { return strconv.FormatInt(id, 10) }

func lastLine(s string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1] + "\n"
}

// OAuth 2.0 user context is not wired: setting it stops the start instead of being ignored.
func TestOAuth2SettingsRefused(t *testing.T) {
	t.Parallel()
	_, schema := dbtest.Schema(t)
	e := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "X_OAUTH2_REFRESH_TOKEN": "refresh-token-value"}
	runOnce(t, e, "migrate")
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = out, out
	m.LookupEnv = func(k string) (string, bool) { v, ok := e[k]; return v, ok }
	err := m.Run(context.Background(), []string{"worker"})
	m.Close()
	require.Equal(t, 2, exitCode(out, err))
	require.Contains(t, lastLine(out.String()), "config: X_OAUTH2_* is not supported")
	require.NotContains(t, out.String(), "refresh-token-value")
}
