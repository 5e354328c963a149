package workers

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
)

// leaderCanaryArgs is a test-only periodic job the leader inserts on start after xbot's own, never unique:
// River inserts every run-on-start job of a leader in one transaction, so once a new canary row is visible,
// that leader's inserts (or its skips as duplicates) are committed. Nothing works its kind.
type leaderCanaryArgs struct {
	Leader int `json:"leader"`
}

func (leaderCanaryArgs) Kind() string { return "test_leader_canary" }

// runLeader starts a River client on the test's schema with the periodic jobs, waits until its run-on-start
// batch is committed (its canary row appears), and stops it. It works no queue of ours, so the jobs stay put.
func (b *testBundle) runLeader(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	canaries := b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'test_leader_canary'`)
	periodic := append(PeriodicJobs(b.deps.Config, b.acct.ID, b.clock.Now),
		river.NewPeriodicJob(river.PeriodicInterval(24*time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return leaderCanaryArgs{Leader: canaries + 1}, &river.InsertOpts{Queue: "idle"}
		}, &river.PeriodicJobOpts{RunOnStart: true}))
	c, err := river.NewClient(b.driver, &river.Config{
		Logger: slog.New(slog.DiscardHandler), Workers: b.rcfg.Workers, SkipUnknownJobCheck: true,
		Queues:       map[string]river.QueueConfig{"idle": {MaxWorkers: 1}},
		PeriodicJobs: periodic,
	})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(stopCtx))
	}()
	require.Eventually(t, func() bool {
		return b.counted(canaries+1, `SELECT count(*) FROM river_job WHERE kind = 'test_leader_canary'`)
	}, 60*time.Second, 20*time.Millisecond, "the leader's run-on-start inserts never committed")
}

// A new leader that runs the periodic jobs on start in the same period inserts nothing new; a manual
// insert always does. Periods come from the test's clock, so the wall clock crossing an hour changes nothing.
func TestPeriodicJobsUniqueByPeriod(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	// plan and reply are periodic fan-outs (kind fanout, of plan or reply): one job per account follows.
	kinds := []string{"fanout", "post_sweep", "analytics_sweep", "learn"}
	want := map[string]int{"fanout": 2, "post_sweep": 1, "analytics_sweep": 1, "learn": 1}

	b.runLeader(t)
	for _, kind := range kinds {
		require.Equal(t, want[kind], b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1`, kind), kind)
	}
	b.runLeader(t) // a new leader, on start: its inserts are skipped as duplicates
	for _, kind := range kinds {
		require.Equal(t, want[kind], b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1`, kind), "%s after a second leader", kind)
	}
	var period string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT args->>'period' FROM river_job WHERE kind = 'fanout' AND args->>'of' = 'plan'`).Scan(&period))
	require.Equal(t, jobs.Period(b.clock.Now(), b.deps.Config.PlanInterval), period)

	// xbot enqueue plan: no period, never unique.
	rc := b.insertClient(t)
	for range 2 {
		res, err := rc.Insert(ctx, jobs.PlanArgs{AccountID: b.acct.ID}, nil)
		require.NoError(t, err)
		require.False(t, res.UniqueSkippedAsDuplicate)
	}
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'plan'`))

	// The next period's insert is a new job, one per kind whose period changed.
	b.clock.Advance(b.deps.Config.PlanInterval)
	b.runLeader(t)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'fanout' AND args->>'of' = 'plan'`))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'fanout' AND args->>'of' = 'reply'`))
}

// learn inserted by collect_analytics is unique by the next learn period: many outcomes stored in one
// period trigger one run; once a replica's insert committed, its later outcomes of the period skip it.
func TestNextLearnUniqueByPeriod(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	rc := b.insertClient(t)
	insert := func() string {
		tx, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		period, err := b.deps.nextLearn(rivertest.WorkContext(ctx, rc), tx, b.acct.ID)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
		return period
	}
	first := insert()
	require.NotEmpty(t, first)
	// Not recorded yet (as for another replica): the insert is made and River's uniqueness holds.
	require.Equal(t, first, insert())
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'learn'`))
	b.deps.learnCommitted(b.acct.ID, first)
	require.Empty(t, insert(), "recorded: no insert")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'learn'`))
	b.clock.Advance(time.Minute)
	require.NotEqual(t, first, insert())
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'learn'`))
}
