package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
