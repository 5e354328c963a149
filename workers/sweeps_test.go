package workers

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

func TestPostSweep(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	rc := b.insertClient(t)

	// A due real row with a live (snoozed) job, and one whose job is missing.
	withJob := b.queueDecision(t, honestTexts[0], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(-time.Minute) })
	_, err := rc.Insert(ctx, jobs.PostArgs{DecisionID: withJob.DecisionID}, &river.InsertOpts{ScheduledAt: b.clock.Now().Add(5 * time.Minute)})
	require.NoError(t, err)
	orphan := b.queueDecision(t, honestTexts[1], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(-2 * time.Minute) })
	// Shadow mode: synthetic rows are in the queue too; future rows are not.
	synthetic := b.queueDecision(t, honestTexts[2], func(d *store.Decision) {
		d.GenerationSource, d.ScheduledAt = "synthetic", b.clock.Now().Add(-3*time.Minute)
	})
	future := b.queueDecision(t, honestTexts[3], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(time.Hour) })

	// A posting row whose job River discarded: the call may have reached X, so it is unconfirmed.
	gaveUp := b.queueDecision(t, honestTexts[4], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(-time.Hour) })
	_, err = b.st.ClaimPosting(ctx, b.pool, gaveUp.DecisionID, "simulator", 0)
	require.NoError(t, err)
	gj, err := rc.Insert(ctx, jobs.PostArgs{DecisionID: gaveUp.DecisionID}, nil)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE id = $1`, gj.Job.ID)
	require.NoError(t, err)
	b.clock.Advance(10 * time.Minute)

	res, err := work(t, b, b.postSweepWorker(), jobs.PostSweepArgs{Period: "p"}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	b.requireLine(t, "[POSTING_ORCHESTRATOR] 📋 Found 3 decisions in queue")

	require.Len(t, b.jobsWithArgs(t, jobs.PostArgs{DecisionID: withJob.DecisionID}), 1, "a live job is not doubled")
	require.Len(t, b.jobsWithArgs(t, jobs.PostArgs{DecisionID: orphan.DecisionID}), 1)
	require.Len(t, b.jobsWithArgs(t, jobs.PostArgs{DecisionID: synthetic.DecisionID}), 1)
	require.Empty(t, b.jobsWithArgs(t, jobs.PostArgs{DecisionID: future.DecisionID}))
	require.Len(t, b.jobsWithArgs(t, jobs.PostArgs{DecisionID: gaveUp.DecisionID}), 1, "never re-sent")
	got := b.decision(t, gaveUp.DecisionID)
	require.Equal(t, store.StatusUnconfirmed, got.Status)
	b.requireLine(t, "[POSTING_ORCHESTRATOR] ❓ Unconfirmed decision_id="+gaveUp.DecisionID+" reason="+got.ErrorMessage)
}

// Live mode: the canonical query is the operators' own, real rows only.
func TestPostSweepLiveCountsRealOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.Live = true }})
	b.queueDecision(t, honestTexts[0], nil)
	b.queueDecision(t, honestTexts[1], func(d *store.Decision) { d.GenerationSource = "synthetic" })

	_, err := work(t, b, b.postSweepWorker(), jobs.PostSweepArgs{Period: "p"}, nil)
	require.NoError(t, err)
	b.requireLine(t, "[POSTING_ORCHESTRATOR] 📋 Found 1 decisions in queue")
}
