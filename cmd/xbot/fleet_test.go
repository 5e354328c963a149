package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
)

// A manual enqueue always inserts; periodic inserts are unique by period, so a new leader running on start
// never doubles a plan; args that no longer parse are cancelled at once, not retried.
func TestPeriodicOncePerPeriodAndManualEnqueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	env := map[string]string{
		"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "POSTING_DISABLED": "true",
		"PLAN_INTERVAL": "1h", "REPLY_INTERVAL": "1h", "SWEEP_INTERVAL": "1s", "POSTING_SNOOZE": "1h",
	}
	count := func(q string, args ...any) int {
		var c int
		require.NoError(t, pool.QueryRow(ctx, q, args...).Scan(&c), q)
		return c
	}

	w1 := runProcess(t, env, "worker")
	waitFor(t, "the periodic plan", 60*time.Second, func() bool {
		return count(`SELECT count(*) FROM river_job WHERE kind = 'plan' AND state = 'completed'`) == 1
	}, w1.out.String)
	w1.stop()

	// A new process becomes leader and runs its periodic jobs on start: the plan of this period exists.
	sweepsBefore := count(`SELECT count(*) FROM river_job WHERE kind = 'post_sweep'`)
	w2 := runProcess(t, env, "worker")
	waitFor(t, "the new leader's periodic inserts", 60*time.Second, func() bool {
		return count(`SELECT count(*) FROM river_job WHERE kind = 'post_sweep'`) > sweepsBefore+1
	}, w2.out.String)
	require.Equal(t, 1, count(`SELECT count(*) FROM river_job WHERE kind = 'plan'`), "one plan per period")
	require.Equal(t, 1, count(`SELECT count(*) FROM river_job WHERE kind = 'reply'`), "one reply per period")

	// Manual enqueues are never unique.
	id1 := strings.TrimSpace(runOnce(t, env, "enqueue", "plan"))
	id2 := strings.TrimSpace(runOnce(t, env, "enqueue", "plan"))
	require.Regexp(t, `^\d+$`, id1)
	require.NotEqual(t, id1, id2)
	require.Equal(t, 3, count(`SELECT count(*) FROM river_job WHERE kind = 'plan'`))

	// Args that no longer parse: cancelled by the error handler with a clear line, not retried.
	var badID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO river_job (kind, args, queue, state, max_attempts, scheduled_at, priority)
		VALUES ('post', '{"decision_id": 42}', 'post', 'available', 4, now(), 1) RETURNING id`).Scan(&badID))
	_, err := pool.Exec(ctx, `SELECT pg_notify('river_insert', json_build_object('queue', 'post')::text)`)
	require.NoError(t, err)
	waitFor(t, "the unparseable job cancelled", 60*time.Second, func() bool {
		return count(`SELECT count(*) FROM river_job WHERE id = $1 AND state = 'cancelled'`, badID) == 1
	}, w2.out.String)
	require.Contains(t, w2.out.String(), "job args do not parse; cancelled")
	require.Equal(t, 1, count(`SELECT attempt FROM river_job WHERE id = $1`, badID), "not retried")
}
