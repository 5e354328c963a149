package main

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/jobs"
)

// Three `xbot worker` processes, posts due over a few seconds, the River leader SIGKILLed halfway: every
// due post is posted (none lost) and exactly once on X (none doubled). The benchmark runs the same at
// 1,000 posts for the lateness figure.
func TestLeaderKilledNoPostLostOrDoubled(t *testing.T) {
	t.Parallel()
	bin := buildXbot(t)
	const n = 30
	l, doubled, onX := failoverRun(t, bin, n, 8*time.Second)
	require.Equal(t, n, l.total)
	require.Equal(t, n, l.posted, "none lost")
	require.Zero(t, doubled, "none doubled")
	require.Equal(t, n, onX, "each posted once on the simulated X")
}

// Four replicas through PgBouncer in transaction mode with a small server pool and River polling: due
// posts and whole plans go through posting, analytics and learning with nothing lost or doubled, and the
// transaction-scoped advisory locks still serialise learning (versions without gaps).
func TestPgBouncerFleetNoneLostNoneDoubled(t *testing.T) {
	t.Parallel()
	bin := buildXbot(t)
	addr := startPgBouncer(t, 6)
	r := scaleRun(t, bin, 4, addr, 20, 3*time.Second, 2, 2, "DATABASE_MAX_CONNS=3")
	require.Equal(t, r.late.total, r.late.posted, "due posts lost")
	require.Zero(t, r.lost, "decisions neither posted nor skipped")
	require.Zero(t, r.doubled, "posts doubled on X")
	require.Positive(t, r.decisions)
	var runs, gapped int
	require.NoError(t, r.pool.QueryRow(context.Background(), `SELECT coalesce(sum(n), 0), count(*) FILTER (WHERE n <> top)
		FROM (SELECT count(*) AS n, max(version) AS top FROM learning_runs GROUP BY account_id) a`).Scan(&runs, &gapped))
	require.Positive(t, runs)
	require.Zero(t, gapped, "learning versions per account without gaps or repeats")
}

// Due post jobs become available without River's leader; future ones and other queues are left to it.
func TestPromoteDuePosts(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	ctx := context.Background()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: newBenchLog()})
	require.NoError(t, err)
	insert := func(args river.JobArgs, at time.Time) int64 {
		res, err := rc.Insert(ctx, args, &river.InsertOpts{ScheduledAt: at})
		require.NoError(t, err)
		require.Equal(t, rivertype.JobStateScheduled, res.Job.State)
		return res.Job.ID
	}
	due := insert(jobs.PostArgs{DecisionID: "00000000-0000-0000-0000-000000000001"}, time.Now().Add(time.Second))
	later := insert(jobs.PostArgs{DecisionID: "00000000-0000-0000-0000-000000000002"}, time.Now().Add(time.Hour))
	plan := insert(jobs.PlanArgs{AccountID: 1}, time.Now().Add(time.Second))
	waitUntil(t, time.Minute, "the first job due", func() (bool, error) {
		var ok bool
		err := pool.QueryRow(ctx, `SELECT scheduled_at <= now() FROM river_job WHERE id = $1`, due).Scan(&ok)
		return ok, err
	})
	n, err := promoteOnce(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	for id, want := range map[int64]rivertype.JobState{due: rivertype.JobStateAvailable, later: rivertype.JobStateScheduled, plan: rivertype.JobStateScheduled} {
		job, err := rc.JobGet(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, job.State, "job %d", id)
	}
}
