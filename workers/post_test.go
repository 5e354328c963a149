package workers

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

func TestPostSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	dec := b.queueDecision(t, honestTexts[0], nil)

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)

	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.NotEmpty(t, got.TweetID)
	require.NotNil(t, got.PostedAt)
	require.Equal(t, 1, got.PostingAttempt)
	posted, err := b.st.GetPosted(ctx, b.pool, dec.DecisionID)
	require.NoError(t, err)
	require.Equal(t, "simulator", posted.Backend)
	require.Equal(t, got.TweetID, posted.TweetID)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[0]))

	job := rivertest.RequireInserted(ctx, t, b.driver, jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 1}, nil)
	require.WithinDuration(t, got.PostedAt.Add(4*time.Hour), job.ScheduledAt, time.Millisecond)
	b.requireLine(t, "[POSTING_ORCHESTRATOR] ✅ Posted successfully tweet_id="+got.TweetID+" decision_id="+dec.DecisionID)

	// A re-run of the job (at least once delivery) finds the row posted and does nothing.
	res, err = work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[0]))
}

func TestPostDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.PostingDisabled = true; c.PostingSnooze = 7 * time.Minute }})
	dec := b.queueDecision(t, honestTexts[0], nil)
	before := b.decision(t, dec.DecisionID)

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, b.clock.Now().Add(7*time.Minute), res.Job.ScheduledAt.UTC())
	require.Equal(t, 0, res.Job.Attempt, "a snooze spends no attempt")
	b.requireLine(t, "[POSTING_ORCHESTRATOR] ⏭️ Skipped posting decision_id="+dec.DecisionID+": POSTING_DISABLED=true")

	after := b.decision(t, dec.DecisionID)
	require.Equal(t, before, after, "the row is unchanged")
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[0]))
}

func TestPostStaleQueuedRowSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.QueuedMaxAge = time.Hour }})
	dec := b.queueDecision(t, honestTexts[0], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(-2 * time.Hour) })

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusSkipped, got.Status)
	require.Equal(t, "stale", got.SkipReason)
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[0]))
}

func TestPostSyntheticInLive(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.Live, c.Backend = true, "x" }})
	dec := b.queueDecision(t, honestTexts[0], func(d *store.Decision) { d.GenerationSource = "synthetic" })

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusSkipped, got.Status)
	require.Equal(t, "synthetic_in_live", got.SkipReason)
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[0]))
}

func TestPostScheduledLaterSnoozes(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	dec := b.queueDecision(t, honestTexts[0], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(time.Hour) })

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, dec.ScheduledAt, res.Job.ScheduledAt.UTC())
	require.Equal(t, store.StatusQueued, b.decision(t, dec.DecisionID).Status)
}

// 5xx: the outcome is unknown, so the row stays posting and is reconciled (two empty timeline reads a
// grace apart) before it is sent again; it is posted exactly once.
func TestPost5xxThenSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	dec := b.queueDecision(t, honestTexts[1], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultServerError, Status: 503, Count: 1})
	cfg := b.deps.Config

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosting, got.Status)
	require.Equal(t, 1, got.PostingAttempt)
	require.Equal(t, got.PostingStartedAt.UTC().Add(cfg.XCallTimeout+cfg.XReconcileGrace), res.Job.ScheduledAt.UTC())
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[1]))

	job := res.Job
	for i := 0; i < 5 && b.decision(t, dec.DecisionID).Status == store.StatusPosting; i++ {
		b.clock.Advance(job.ScheduledAt.Sub(b.clock.Now()))
		res, err = workJob(t, b, b.postWorker(), job)
		require.NoError(t, err)
		job = res.Job
	}
	got = b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 2, got.PostingAttempt)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[1]))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM posted_decisions WHERE decision_id = $1`, dec.DecisionID))
}
