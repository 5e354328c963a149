package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

// Two accounts in one fleet, through River on the real program: the environment's account and one added
// with xbot accounts add. The environment's account is rate-limited by X on every post; the added one's
// posts go out meanwhile, each with its own credentials and reconciled on its own timeline, and the
// periodic plan fans out one job per account. No credential appears in the database or the output.
func TestTwoAccountsPostIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	envUser, brand := newSimUser(1590000000000003001, "env_brand", "envb"), newSimUser(1590000000000003002, "brand_two", "brand")
	x := serveMultiX(t, pool, &envUser, &brand)
	var limited atomic.Int64 // POST /2/tweets answered 429 for the environment's account
	x.mu.Lock()
	inner := x.handler
	x.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/2/tweets" && strings.Contains(r.Header.Get("Authorization"), `oauth_token="`+envUser.at+`"`) {
			limited.Add(1)
			w.Header().Set("x-rate-limit-limit", "100")
			w.Header().Set("x-rate-limit-remaining", "0")
			w.Header().Set("x-rate-limit-reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`)
			return
		}
		inner.ServeHTTP(w, r)
	})
	x.mu.Unlock()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	env := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "MODE": "live", "LIVE_POSTS": "true",
		"POSTING_DISABLED": "false", "X_API_BASE_URL": x.url, "X_CALL_TIMEOUT": "5s", "X_RECONCILE_GRACE": "1s",
		"MIN_POST_SPACING": "0s", "SWEEP_INTERVAL": "1s", "PLAN_INTERVAL": longInterval(), "REPLY_INTERVAL": longInterval(),
		"XBOT_SECRET_KEY": key, "X_API_KEY": envUser.ck, "X_API_SECRET": envUser.cs, "X_ACCESS_TOKEN": envUser.at, "X_ACCESS_TOKEN_SECRET": envUser.as}
	var outputs strings.Builder
	outputs.WriteString(runOnce(t, env, "migrate"))
	code, out := runCLI(env, brand.lines(), "accounts", "add", "--handle", "brand_two")
	require.Equal(t, 0, code, out)
	outputs.WriteString(out)
	code, out = runCLI(env, "", "accounts", "set", "brand_two", "topics=postgres tuning")
	require.Equal(t, 0, code, out)
	outputs.WriteString(out)

	w := runProcess(t, env, "worker")
	st := store.New(pool)
	def, err := st.DefaultAccount(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(envUser.id, 10), def.XUserID)
	two, err := st.AccountByHandle(ctx, pool, "brand_two")
	require.NoError(t, err)

	// The periodic plan fanned out: one plan job per account for the period.
	waitFor(t, "a plan job per account", 60*time.Second, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT args->>'account_id') FROM river_job WHERE kind = 'plan'
			AND (args->>'account_id')::bigint IN ($1, $2)`, def.ID, two.ID).Scan(&n))
		return n == 2
	}, w.out.String)

	decide := func(acct *store.Account, text string) string {
		d := &store.Decision{DecisionID: uuid.NewString(), AccountID: acct.ID, DecisionType: "single", Content: text,
			GenerationSource: "real", Status: store.StatusQueued, ScheduledAt: time.Now()}
		require.NoError(t, st.InsertDecision(ctx, pool, d))
		return d.DecisionID
	}
	envIDs := []string{decide(def, "The environment's account: a post X keeps refusing with 429 for now."),
		decide(def, "The environment's account: another post waiting for its rate-limit window.")}
	twoIDs := []string{decide(two, "Brand two: postgres tuning starts with measuring & reading the plan."),
		decide(two, "Brand two: vacuum settings <matter> more than most people think.")}

	waitFor(t, "brand two's posts posted while the other account is rate-limited", 90*time.Second, func() bool {
		for _, id := range twoIDs {
			d, err := st.GetDecision(ctx, pool, id)
			if err != nil || d.Status != store.StatusPosted {
				return false
			}
		}
		return limited.Load() > 0
	}, w.out.String)
	for _, id := range envIDs {
		d, err := st.GetDecision(ctx, pool, id)
		require.NoError(t, err)
		require.Contains(t, []string{store.StatusQueued, store.StatusPosting}, d.Status, "rate-limited: waiting, neither posted nor failed")
	}
	// Brand two's posts are on its own X user; reads of a timeline are made with that user's own token.
	var onTwo int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM sim_posts WHERE author_id = $1`, brand.id).Scan(&onTwo))
	require.Equal(t, 2, onTwo)
	var onEnv int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM sim_posts WHERE author_id = $1`, envUser.id).Scan(&onEnv))
	require.Zero(t, onEnv)
	for _, u := range []simUser{envUser, brand} {
		for _, c := range x.callsOf(u) {
			if strings.HasPrefix(c, "GET /2/users/") && strings.HasSuffix(c, "/tweets") {
				require.Equal(t, "GET /2/users/"+strconv.FormatInt(u.id, 10)+"/tweets", c, "@%s reads only its own timeline", u.handle)
			}
		}
	}
	require.Contains(t, x.callsOf(brand), "POST /2/tweets")
	w.stop()

	all := append(envUser.secrets(), brand.secrets()...)
	all = append(all, key)
	requireNoSecret(t, "the database (river_job included)", tableText(t, pool), all...)
	requireNoSecret(t, "the output and logs", outputs.String()+w.out.String(), all...)
}
