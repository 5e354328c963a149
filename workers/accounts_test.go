package workers

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
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
	b.requireLine(t, "[PLAN_JOB] ⚠️ OpenAI budget exhausted → not queueing spent=0.0000 cap=0.0000") // DESIGN §4, exact
	refused := b.logs.FilterMessageSnippet("OpenAI budget exhausted").All()
	require.Len(t, refused, 1)
	require.Equal(t, "account", refused[0].ContextMap()["scope"])
	require.EqualValues(t, b.acct.ID, refused[0].ContextMap()["account_id"])

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

// Quiet hours are the account's own, in its own time zone: at 23:30 in Berlin (22:30 UTC) @brand_two
// (QUIET_HOURS=22-7, Europe/Berlin) neither posts nor plans into the night, while the environment's account
// (no quiet hours, UTC) posts.
func TestQuietHoursPerAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	b.clock.mu.Lock()
	b.clock.t = time.Date(2026, 12, 3, 22, 30, 0, 0, time.UTC)
	b.clock.mu.Unlock()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	quiet, err := config.ParseQuietHours("22-7")
	require.NoError(t, err)
	two, err := b.st.AddAccount(ctx, b.pool, "brand_two", "1590000000000002002")
	require.NoError(t, err)
	b.deps.Accounts = settingsResolver{x: b.x, mut: map[int64]func(*Config){
		two.ID: func(c *Config) { c.AccountTZ, c.QuietHours, c.PlanWindow = berlin, quiet, 24*time.Hour }, // quiet as it is when the job runs
	}}

	// Send time: @brand_two's due post waits for 07:00 in Berlin; the environment's goes out.
	late := b.queueDecision(t, honestTexts[0], func(d *store.Decision) { d.AccountID = two.ID })
	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: late.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC), res.Job.ScheduledAt.UTC())
	require.Equal(t, store.StatusQueued, b.decision(t, late.DecisionID).Status)
	b.requireLine(t, "[POSTING_ORCHESTRATOR] ⏭️ Skipped posting decision_id="+late.DecisionID+": quiet hours (QUIET_HOURS=22-7) until=2026-12-04T06:00:00Z")
	now := b.queueDecision(t, honestTexts[1], nil)
	res, err = work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: now.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, store.StatusPosted, b.decision(t, now.DecisionID).Status)

	// Scheduling: with quiet hours of 9-7 (posting only from 07:00 to 09:00 in Berlin), @brand_two's plan
	// over the next 24 h places its posts there.
	quiet, err = config.ParseQuietHours("9-7")
	require.NoError(t, err)
	b.llm.Enqueue(postsAnswer(honestTexts[2], honestTexts[3], honestTexts[4]))
	res, err = work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: two.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	rows, err := b.pool.Query(ctx, `SELECT scheduled_at FROM content_metadata WHERE account_id = $1 AND status = 'queued' AND decision_id <> $2`,
		two.ID, late.DecisionID)
	require.NoError(t, err)
	planned, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	require.NoError(t, err)
	require.Len(t, planned, 3)
	for _, at := range planned {
		require.False(t, quiet.Contains(at.In(berlin).Hour()), "scheduled at %s in Berlin", at.In(berlin))
		require.True(t, at.After(b.clock.Now()))
	}
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM content_metadata WHERE account_id = $1 AND status = 'queued'
		AND hour_bucket = extract(hour FROM scheduled_at AT TIME ZONE 'Europe/Berlin')`, two.ID), "hour buckets are Berlin's")
}
