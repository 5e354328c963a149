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

// runLeader starts a River client on the test's schema with the periodic jobs and waits until it has
// inserted them (it works no queue of ours, so they stay put); it is stopped before returning.
func (b *testBundle) runLeader(t *testing.T, until func() bool) {
	t.Helper()
	ctx := context.Background()
	c, err := river.NewClient(b.driver, &river.Config{
		Logger: slog.New(slog.DiscardHandler), Workers: b.rcfg.Workers,
		Queues:       map[string]river.QueueConfig{"idle": {MaxWorkers: 1}},
		PeriodicJobs: PeriodicJobs(b.deps.Config, b.acct.ID, b.clock.Now),
	})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(stopCtx))
	}()
	require.Eventually(t, until, 30*time.Second, 50*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // let the enqueuer finish its batch
}

// A new leader that runs the periodic jobs on start in the same period inserts nothing new; a manual
// insert always does.
func TestPeriodicJobsUniqueByPeriod(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()

	inserted := func() bool {
		return b.count(t, `SELECT count(*) FROM river_job WHERE kind IN ('plan', 'reply', 'post_sweep', 'analytics_sweep', 'learn')`) >= 5
	}
	b.runLeader(t, inserted)
	b.runLeader(t, func() bool { // a new leader, on start: its inserts are skipped as duplicates
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM river_leader`).Scan(&n))
		return n == 1
	})
	time.Sleep(500 * time.Millisecond)
	for _, kind := range []string{"plan", "reply", "post_sweep", "analytics_sweep", "learn"} {
		require.Equal(t, 1, b.count(t, `SELECT count(*) FROM river_job WHERE kind = $1`, kind), kind)
	}
	var period string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT args->>'period' FROM river_job WHERE kind = 'plan'`).Scan(&period))
	require.Equal(t, jobs.Period(b.clock.Now(), b.deps.Config.PlanInterval), period)

	// xbot enqueue plan: no period, never unique.
	rc := b.insertClient(t)
	for range 2 {
		res, err := rc.Insert(ctx, jobs.PlanArgs{AccountID: b.acct.ID}, nil)
		require.NoError(t, err)
		require.False(t, res.UniqueSkippedAsDuplicate)
	}
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'plan'`))

	// The next period's insert is a new job.
	b.clock.Advance(b.deps.Config.PlanInterval)
	b.runLeader(t, func() bool { return b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'plan'`) == 4 })
	require.Equal(t, 4, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'plan'`))
}

// learn inserted by collect_analytics is unique by the next learn period: many outcomes stored in one
// period trigger one run.
func TestNextLearnUniqueByPeriod(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	rc := b.insertClient(t)
	for range 3 {
		tx, err := b.pool.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, b.deps.nextLearn(rivertest.WorkContext(ctx, rc), tx, b.acct.ID))
		require.NoError(t, tx.Commit(ctx))
	}
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'learn'`))
	b.clock.Advance(time.Minute)
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, b.deps.nextLearn(rivertest.WorkContext(ctx, rc), tx, b.acct.ID))
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'learn'`))
}
