package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/store"
)

// briefTopic reads the topics of a plan's briefs ("1. topic: go; format: …") from its prompt.
var briefTopic = regexp.MustCompile(`(?m)^\d+\. topic: ([^;]+);`)

// Three added accounts with different topics and budgets in one fleet, through River on the real program
// (one worker, the LLM fake, each account its own user on one simulated X): @brand_open's X circuit is
// open, @brand_broke's share of the LLM budget is budget_usd=0, @brand_ok has a share of its own. They
// plan in the same fan-out. @brand_ok's posts are written on its topic and posted on its own user; the open
// circuit keeps @brand_open's planned posts queued and the spent share keeps @brand_broke from asking the
// LLM at all, and neither stops the other accounts.
func TestAccountsIsolatedThroughRiver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	envUser := newSimUser(1590000000000004001, "env_iso", "enviso")
	open, broke, ok := newSimUser(1590000000000004002, "brand_open", "bopen"),
		newSimUser(1590000000000004003, "brand_broke", "bbroke"), newSimUser(1590000000000004004, "brand_ok", "bok")
	x := serveMultiX(t, pool, &envUser, &open, &broke, &ok)

	const llmKey = "sk-isolation"
	fake := llmtest.NewServer(t, llmtest.Options{APIKey: llmKey})
	var plans atomic.Int64
	fake.Script(func(r llmtest.Request) llmtest.Response {
		k := plans.Add(1)
		posts := []map[string]string{}
		for i, m := range briefTopic.FindAllStringSubmatch(r.User(), -1) {
			posts = append(posts, map[string]string{"text": "On " + m[1] + ": " + llmtest.VariedText(int(k), i)})
		}
		if len(posts) == 0 { // a reply
			posts = append(posts, map[string]string{"text": llmtest.VariedText(int(k), 0)})
		}
		return llmtest.JSON(map[string]any{"posts": posts})
	})

	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	env := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "MODE": "live", "LIVE_POSTS": "true",
		"POSTING_DISABLED": "false", "X_API_BASE_URL": x.url, "X_CALL_TIMEOUT": "5s", "X_RECONCILE_GRACE": "1s",
		"MIN_POST_SPACING": "0s", "PLAN_WINDOW": "0s", "SWEEP_INTERVAL": "1s", "POSTING_SNOOZE": "1s",
		"PLAN_INTERVAL": longInterval(), "REPLY_INTERVAL": longInterval(),
		"OPENAI_API_KEY": llmKey, "OPENAI_BASE_URL": fake.URL, "DAILY_OPENAI_LIMIT_USD": "5",
		"XBOT_SECRET_KEY": key, "X_API_KEY": envUser.ck, "X_API_SECRET": envUser.cs, "X_ACCESS_TOKEN": envUser.at, "X_ACCESS_TOKEN_SECRET": envUser.as}
	runOnce(t, env, "migrate")
	st := store.New(pool)
	settings := map[*simUser][]string{
		&open:  {"topics=rust", "budget_usd=0.5"},
		&broke: {"topics=go", "budget_usd=0"},
		&ok:    {"topics=postgres tuning", "budget_usd=0.25"},
	}
	accts := map[string]*store.Account{}
	for _, u := range []*simUser{&open, &broke, &ok} {
		code, out := runCLI(env, u.lines(), "accounts", "add", "--handle", u.handle)
		require.Equal(t, 0, code, out)
		code, out = runCLI(env, "", append([]string{"accounts", "set", u.handle}, settings[u]...)...)
		require.Equal(t, 0, code, out)
		a, err := st.AccountByHandle(ctx, pool, u.handle)
		require.NoError(t, err)
		accts[u.handle] = a
	}
	// @brand_open's credentials were refused by X (as after a 401): its circuit is open for the hour.
	require.NoError(t, st.OpenCircuit(ctx, pool, store.XCircuitName(accts["brand_open"].ID), time.Now().Add(time.Hour), "x_401: unauthorized"))

	w := runProcess(t, env, "worker")
	count := func(sql string, args ...any) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	okID, openID, brokeID := accts["brand_ok"].ID, accts["brand_open"].ID, accts["brand_broke"].ID
	waitFor(t, "@brand_ok's plan posted while @brand_open's circuit is open and @brand_broke's share is spent", 90*time.Second, func() bool {
		return count(`SELECT count(*) FROM content_metadata WHERE account_id = $1 AND status = 'posted'`, okID) == 3 &&
			count(`SELECT count(*) FROM content_metadata WHERE account_id = $1 AND status = 'queued'`, openID) == 3 &&
			count(`SELECT count(*) FROM api_usage WHERE account_id = $1 AND error_code = 'budget_exhausted'`, brokeID) >= 1
	}, w.out.String)
	// @brand_open's posts are due and their jobs have run against the open circuit at least once.
	waitFor(t, "@brand_open's post jobs snoozed by its circuit", 30*time.Second, func() bool {
		return count(`SELECT count(*) FROM river_job WHERE kind = 'post' AND args->>'decision_id' IN
			(SELECT decision_id::text FROM content_metadata WHERE account_id = $1) AND attempted_at IS NOT NULL`, openID) == 3
	}, w.out.String)
	w.stop()

	// Each account's plan was written on its own topics.
	for handle, topic := range map[string]string{"brand_ok": "postgres tuning", "brand_open": "rust"} {
		require.Equal(t, 3, count(`SELECT count(*) FROM content_metadata WHERE account_id = $1 AND topic = $2 AND content LIKE '%' || $2 || '%'`,
			accts[handle].ID, topic), handle)
	}
	// @brand_ok's posts are on its own user only; @brand_open posted nothing, and nothing of it failed.
	require.Equal(t, 3, count(`SELECT count(*) FROM sim_posts WHERE author_id = $1 AND text LIKE '%postgres tuning%'`, ok.id))
	require.Zero(t, count(`SELECT count(*) FROM sim_posts WHERE author_id = $1`, open.id))
	require.Equal(t, 3, count(`SELECT count(*) FROM content_metadata WHERE account_id = $1 AND status = 'queued'`, openID))
	require.NotContains(t, x.callsOf(open), "POST /2/tweets", "an open circuit sends nothing")
	// @brand_broke asked the LLM nothing: refused by its share (nothing reserved), with its own log line.
	require.Zero(t, count(`SELECT count(*) FROM content_metadata WHERE account_id = $1`, brokeID))
	require.Zero(t, count(`SELECT count(*) FROM api_usage WHERE account_id = $1 AND status <> 'refused'`, brokeID))
	require.Regexp(t, fmt.Sprintf(`"msg":"\[PLAN_JOB\] ⚠️ OpenAI budget exhausted → not queueing spent=0.0000 cap=0.0000",[^\n]*"account_id":%d,[^\n]*"scope":"account"`, brokeID), w.out.String())
	// Spend is counted per account, within each share.
	var okSpent float64
	require.NoError(t, pool.QueryRow(ctx, `SELECT sum(spent_usd)::float8 FROM llm_budget_accounts WHERE account_id = $1`, okID).Scan(&okSpent))
	require.Positive(t, okSpent)
	require.LessOrEqual(t, okSpent, 0.25)
	require.Zero(t, count(`SELECT count(*) FROM api_usage WHERE status = 'success' AND account_id IS NULL`), "every plan's call is its account's")
	require.False(t, strings.Contains(w.out.String(), `"level":"error"`), "no errors in the worker's log")
}
