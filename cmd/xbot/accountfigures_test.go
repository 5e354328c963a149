package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/store"
)

// Per-account figures from a known database state, with the fleet's totals: the environment's account and
// an added one with a budget_usd share, its X circuit open; xbot status, /metrics (label account = the
// account's id) and /api/metrics agree.
func TestAccountFiguresFromKnownDatabaseState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	pool := dbtest.Pool(t)
	b.env["X_HANDLE"], b.env["X_USER_ID"] = "env_figs", "1590000000000005001"
	require.NoError(t, b.main().Run(ctx, []string{"migrate"})) // upserts the default account
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, strings.ReplaceAll(sql, "S.", b.schema+"."), args...)
		require.NoError(t, err, sql)
	}
	var envID, twoID int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM `+b.schema+`.accounts WHERE is_default`).Scan(&envID))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO `+b.schema+`.accounts (handle, x_user_id, settings)
		VALUES ('brand_two', '1590000000000005002', '{"BUDGET_USD": "0.5"}') RETURNING id`).Scan(&twoID))
	// The environment's account: one queued, one posted 2 h ago. brand_two: two queued, one skipped, three
	// posted (one 30 h ago).
	exec(`INSERT INTO S.content_metadata (decision_id, account_id, decision_type, content, content_hash, generation_source,
		status, scheduled_at, tweet_id, posted_at)
		SELECT gen_random_uuid(), v.acct, 'single', v.content, md5(v.content), 'real', v.status, now() - v.ago, v.tweet, now() - v.ago
		FROM (VALUES ($1::bigint, 'e1', 'queued', interval '0', NULL),
			($1, 'e2', 'posted', interval '2 hours', '801'),
			($2, 't1', 'queued', interval '0', NULL), ($2, 't2', 'queued', interval '0', NULL),
			($2, 't3', 'skipped', interval '0', NULL),
			($2, 't4', 'posted', interval '1 hour', '802'), ($2, 't5', 'posted', interval '3 hours', '803'),
			($2, 't6', 'posted', interval '30 hours', '804')) AS v(acct, content, status, ago, tweet)`, envID, twoID)
	exec(`INSERT INTO S.posted_decisions (decision_id, account_id, decision_type, generation_source, backend, tweet_id, content, posted_at)
		SELECT decision_id, account_id, decision_type, generation_source, 'x', tweet_id, content, posted_at
		FROM S.content_metadata WHERE status = 'posted'`)
	day := llm.BudgetDay(time.Now(), time.UTC)
	exec(`INSERT INTO S.llm_budget_days (day, spent_usd, reserved_usd) VALUES ($1::date, 0.7, 0.1)`, day)
	exec(`INSERT INTO S.llm_budget_accounts (day, account_id, spent_usd, reserved_usd) VALUES ($1::date, $2, 0.2, 0), ($1::date, $3, 0.45, 0.05)`,
		day, envID, twoID)
	exec(`INSERT INTO S.api_usage (request_id, purpose, model, status, error_code, budget_day, account_id)
		VALUES ('r1', 'content_generation', 'gpt-4o-mini', 'refused', 'budget_exhausted', $1::date, $2)`, day, twoID)
	exec(`INSERT INTO S.circuits (name, open_until, reason, opened_at) VALUES ($1, now() + interval '10 minutes', 'unauthorized', now())`,
		store.XCircuitName(twoID))
	exec(`INSERT INTO S.posting_switches (account_id, paused, reason) VALUES ($1, true, 'brand review')`, envID)

	out := runOnce(t, b.env, "status")
	require.Regexp(t, fmt.Sprintf(`(?m)^%d +@env_figs +paused +posted=1 queued=1 +1 +1 +0\.2000 \(day cap\)$`, envID), out)
	require.Regexp(t, fmt.Sprintf(`(?m)^%d +@brand_two +x-circuit-open +posted=3 queued=2 skipped=1 +2 +3 +0\.5000 of 0\.5000 EXHAUSTED$`, twoID), out)
	require.Regexp(t, `(?m)^total +2 accounts +posted=4 queued=3 skipped=1 +3 +4 +0\.7000$`, out)

	_, base := b.start(t, "web", "--addr", "127.0.0.1:0")
	fams := scrape(t, base+"/metrics", nil)
	env, two := fmt.Sprint(envID), fmt.Sprint(twoID)
	require.Equal(t, 1.0, value(t, fams, "xbot_account_info", map[string]string{"account": two, "handle": "brand_two", "status": "active"}))
	require.Equal(t, 1.0, value(t, fams, "xbot_account_info", map[string]string{"account": env, "handle": "env_figs"}))
	require.Equal(t, 2.0, value(t, fams, "xbot_account_decisions", map[string]string{"account": two, "status": "queued"}))
	require.Equal(t, 1.0, value(t, fams, "xbot_account_decisions", map[string]string{"account": env, "status": "queued"}))
	require.Equal(t, 2.0, value(t, fams, "xbot_account_posted_24h", map[string]string{"account": two}))
	require.Equal(t, 3.0, value(t, fams, "xbot_account_posted_decisions_total", map[string]string{"account": two}))
	require.Equal(t, 0.45, value(t, fams, "xbot_account_llm_spent_usd", map[string]string{"account": two}))
	require.Equal(t, 0.05, value(t, fams, "xbot_account_llm_reserved_usd", map[string]string{"account": two}))
	require.Equal(t, 0.5, value(t, fams, "xbot_account_llm_share_usd", map[string]string{"account": two}))
	require.Equal(t, 1.0, value(t, fams, "xbot_account_llm_refused", map[string]string{"account": two}))
	require.Equal(t, 0.2, value(t, fams, "xbot_account_llm_spent_usd", map[string]string{"account": env}))
	for _, m := range fams["xbot_account_llm_share_usd"].GetMetric() {
		require.False(t, hasLabels(m, map[string]string{"account": env}), "no share: no sample")
	}
	require.Equal(t, 1.0, value(t, fams, "xbot_x_circuit_open", map[string]string{"account_id": two}))

	code, body := do(t, "GET", base+"/api/metrics", nil, nil)
	require.Equal(t, http.StatusOK, code, body)
	var m metrics
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	require.Len(t, m.Accounts, 2)
	require.Equal(t, envID, m.Accounts[0].AccountID, "the environment's first")
	require.True(t, m.Accounts[0].Paused)
	got := m.Accounts[1]
	require.Equal(t, "brand_two", got.Handle)
	require.Equal(t, map[string]int64{"queued": 2, "skipped": 1, "posted": 3}, got.Decisions)
	require.Equal(t, []any{int64(2), int64(3), 0.45, 0.05, 1, true}, []any{got.Posted24h, got.PostedTotal, got.LLMSpentUSD, got.LLMReservedUSD, got.LLMRefused, got.XCircuitOpen})
	require.NotNil(t, got.LLMShareUSD)
	require.Equal(t, 0.5, *got.LLMShareUSD)
	require.Nil(t, m.Accounts[0].LLMShareUSD)
	require.Equal(t, map[string]int64{"queued": 3, "skipped": 1, "posted": 4}, m.AccountsTotal.Decisions)
	require.Equal(t, int64(4), m.AccountsTotal.PostedTotal)
	require.InDelta(t, 0.65, m.AccountsTotal.LLMSpentUSD, 1e-9)
	require.Contains(t, body, `"llm_share_usd":0.5`)

	// The status page's accounts table: a row per account and the totals.
	code, page := do(t, "GET", base+"/", nil, nil)
	require.Equal(t, http.StatusOK, code, page)
	require.Regexp(t, fmt.Sprintf(`<tr data-account="%d"><td>@brand_two <span class="muted">\(%d\)</span></td>\s*<td class="bad">x-circuit-open</td><td>posted=3 queued=2 skipped=1</td><td>2</td><td>3</td>\s*<td class="bad">0.5000 of 0.5000 EXHAUSTED</td></tr>`, twoID, twoID), page)
	require.Regexp(t, fmt.Sprintf(`<tr data-account="%d"><td>@env_figs .*\s*<td class="bad">paused</td><td>posted=1 queued=1</td><td>1</td><td>1</td>\s*<td>0.2000 \(day cap\)</td></tr>`, envID), page)
	require.Regexp(t, `<tr data-account="total"><th>total \(2 accounts\)</th><th></th><th>posted=4 queued=3 skipped=1</th><th>3</th><th>4</th>\s*<th>0.7000</th></tr>`, page)
}
