package workers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// A stored switch overrides POSTING_DISABLED while it exists; the account's own wins over the fleet's.
func TestPostingSwitches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name            string
		postingDisabled bool
		fleet, account  *bool // nil: no row
		posts           bool
		line            string
	}{
		{name: "pause overrides POSTING_DISABLED=false", fleet: ptr(true), line: ": paused (xbot pause, all)"},
		{name: "account pause", account: ptr(true), line: ": paused (xbot pause, account)"},
		{name: "account resume wins over a fleet pause", fleet: ptr(true), account: ptr(false), posts: true},
		{name: "resume overrides POSTING_DISABLED=true", postingDisabled: true, fleet: ptr(false), posts: true},
		{name: "no switch: POSTING_DISABLED decides", postingDisabled: true, line: ": POSTING_DISABLED=true"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testOpts{noLLM: true, cfg: func(c *Config) { c.PostingDisabled = tc.postingDisabled; c.PostingSnooze = 3 * time.Minute }})
			if tc.fleet != nil {
				require.NoError(t, b.st.SetPostingSwitch(ctx, b.pool, 0, *tc.fleet, "test"))
			}
			if tc.account != nil {
				require.NoError(t, b.st.SetPostingSwitch(ctx, b.pool, b.acct.ID, *tc.account, ""))
			}
			dec := b.queueDecision(t, honestTexts[i], nil)
			res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
			require.NoError(t, err)
			if tc.posts {
				require.Equal(t, river.EventKindJobCompleted, res.EventKind)
				require.Equal(t, store.StatusPosted, b.decision(t, dec.DecisionID).Status)
				require.Equal(t, 1, b.simPostsWithText(t, honestTexts[i]))
				return
			}
			require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
			require.Equal(t, b.clock.Now().Add(3*time.Minute), res.Job.ScheduledAt.UTC())
			require.Equal(t, store.StatusQueued, b.decision(t, dec.DecisionID).Status, "held rows stay queued")
			require.Equal(t, 0, b.simPostsWithText(t, honestTexts[i]))
			b.requireLine(t, "[POSTING_ORCHESTRATOR] ⏭️ Skipped posting decision_id="+dec.DecisionID+tc.line)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// With REQUIRE_APPROVAL a plan stores drafts and no post job; approving one inserts its post job in the same
// transaction at a paced time; approving or rejecting a decided row changes nothing.
func TestPlanDraftsAwaitApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, testOpts{cfg: func(c *Config) { c.RequireApproval = true; c.MinPostSpacing = 20 * time.Minute }})
	b.llm.Enqueue(postsAnswer(honestTexts[0], honestTexts[1], honestTexts[2]))
	res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	drafts, err := b.st.PendingDrafts(ctx, b.pool, 10)
	require.NoError(t, err)
	require.Len(t, drafts, 3)
	require.Empty(t, b.jobsOf(t, "post"), "no post job before a person approves")
	for _, d := range drafts {
		b.requireLine(t, "[PLAN_JOB] draft stored for approval decision_id="+d.DecisionID)
	}

	// Another item already holds now: the approved draft keeps MIN_POST_SPACING from it.
	now := b.clock.Now()
	b.queueDecision(t, honestTexts[3], func(d *store.Decision) { d.ScheduledAt = now })
	a := &Approvals{Config: b.deps.Config, Store: b.st, River: b.insertClient(t)}
	first := drafts[0]
	approved, err := a.Approve(ctx, first.DecisionID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, b.decision(t, first.DecisionID).Status)
	require.False(t, approved.ScheduledAt.Before(now.Add(20*time.Minute)), "paced: %s", approved.ScheduledAt)
	require.False(t, approved.ScheduledAt.Before(first.ScheduledAt), "never before its own time")
	job := b.postJobFor(t, first.DecisionID)
	require.WithinDuration(t, approved.ScheduledAt, job.ScheduledAt, time.Millisecond)
	require.Equal(t, jobs.QueuePost, job.Queue)

	_, err = a.Approve(ctx, first.DecisionID)
	var np *store.NotPendingError
	require.True(t, errors.As(err, &np), "%v", err)
	require.Equal(t, store.StatusQueued, np.Status)
	require.Len(t, b.jobsOf(t, "post"), 1, "a second approval inserts nothing")

	require.NoError(t, a.Reject(ctx, drafts[1].DecisionID, "off-brand"))
	rejected := b.decision(t, drafts[1].DecisionID)
	require.Equal(t, store.StatusSkipped, rejected.Status)
	require.Equal(t, "rejected: off-brand", rejected.SkipReason)
	require.True(t, errors.As(a.Reject(ctx, drafts[1].DecisionID, "again"), &np))
	require.True(t, errors.As(a.Reject(ctx, first.DecisionID, "late"), &np), "an approved row cannot be rejected")
	require.Equal(t, store.StatusQueued, b.decision(t, first.DecisionID).Status)
	require.ErrorIs(t, a.Reject(ctx, newUUID(t), "x"), store.ErrNotFound)
}
