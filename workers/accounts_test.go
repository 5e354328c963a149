package workers

import (
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
)

// settingsResolver is an AccountResolver over a map: each listed account runs with its own mutation of
// the fleet's configuration and the fleet's X client (the program's resolver is cmd/xbot's).
type settingsResolver struct {
	x   XAPI
	mut map[int64]func(*Config)
}

func (r settingsResolver) ForAccount(_ context.Context, base Config, accountID int64) (Config, XAPI, bool, error) {
	m, ok := r.mut[accountID]
	if !ok {
		return base, r.x, true, nil
	}
	m(&base)
	return base, r.x, false, nil
}

// One account's share of the LLM budget (budget_usd) is spent: its plan asks nothing, logs the account's
// refusal and completes; the other account's plan, under the same day's cap, calls the LLM and queues
// its posts. Spend and refusals are recorded against each account.
func TestPlanAccountShareExhausted(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.Live = true }})
	ctx := context.Background()
	two, err := b.st.AddAccount(ctx, b.pool, "brand_two", "1590000000000002002")
	require.NoError(t, err)
	b.deps.Accounts = settingsResolver{x: b.x, mut: map[int64]func(*Config){
		b.acct.ID: func(c *Config) { c.AccountBudgetUSD, c.HasAccountBudget = 0.00001, true },
		two.ID:    func(c *Config) { c.Topics = []string{"postgres tuning"} },
	}}

	res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Zero(t, b.llm.Requests())
	require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata`))
	b.requireLine(t, sprintf("[PLAN_JOB] ⚠️ OpenAI budget exhausted → not queueing spent=0.0000 cap=0.0000 scope=account account_id=%d", b.acct.ID))

	b.llm.Enqueue(postsAnswer(honestTexts[0], honestTexts[1], honestTexts[2]))
	res, err = work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: two.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, 1, b.llm.Requests())
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM content_metadata WHERE account_id = $1 AND status = 'queued' AND topic = 'postgres tuning'`, two.ID))
	require.Len(t, b.jobsOf(t, "post"), 3)

	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM api_usage WHERE account_id = $1 AND status = 'refused' AND error_code = 'budget_exhausted'`, b.acct.ID))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM api_usage WHERE account_id = $1 AND status = 'success'`, two.ID))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM llm_budget_accounts WHERE account_id = $1 AND spent_usd > 0 AND reserved_usd = 0`, two.ID))
	require.Zero(t, b.count(t, `SELECT count(*) FROM llm_budget_accounts WHERE account_id = $1`, b.acct.ID), "refused: nothing reserved for it")
}
