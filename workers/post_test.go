package workers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xapi"
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

	// Every reading is inserted with the post: the first after ANALYTICS_DELAY, then each follow-up.
	job := b.requireOneJob(t, jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 1})
	require.WithinDuration(t, got.PostedAt.Add(4*time.Hour), job.ScheduledAt, time.Millisecond)
	for i, after := range b.deps.Config.AnalyticsFollowups {
		job := b.requireOneJob(t, jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: i + 2})
		require.WithinDuration(t, got.PostedAt.Add(after), job.ScheduledAt, time.Millisecond)
	}
	require.Len(t, b.jobsOf(t, "collect_analytics"), 1+len(b.deps.Config.AnalyticsFollowups))
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

// advanceTo moves the clock to a snoozed or retried job's time.
func (b *testBundle) advanceTo(at time.Time) {
	if d := at.Sub(b.clock.Now()); d > 0 {
		b.clock.Advance(d)
	}
}

// drive works a post job until it completes, is cancelled, or n runs have passed, moving the clock to
// each snooze.
func drive(t *testing.T, b *testBundle, job *rivertype.JobRow, n int) *rivertest.WorkResult {
	t.Helper()
	var res *rivertest.WorkResult
	for i := 0; i < n; i++ {
		b.advanceTo(job.ScheduledAt)
		var err error
		res, err = workJob(t, b, b.postWorker(), job)
		require.NoError(t, err)
		job = res.Job
		if res.EventKind != river.EventKindJobSnoozed {
			return res
		}
	}
	return res
}

// The post is created but the answer never arrives: the row stays posting, the job snoozes past the
// deadline plus the grace, and the post is then found on the timeline and recorded, never re-sent.
func TestPostTimeoutAfterCreation(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	dec := b.queueDecision(t, honestTexts[2], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})
	cfg := b.deps.Config

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosting, got.Status)
	require.Equal(t, got.PostingStartedAt.UTC().Add(cfg.XCallTimeout+cfg.XReconcileGrace), res.Job.ScheduledAt.UTC())
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[2]), "X created the post")

	res = drive(t, b, res.Job, 3)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got = b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 1, got.PostingAttempt, "never re-sent")
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[2]))
	b.requireOneJob(t, jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 1})
	b.requireLine(t, "[POSTING_ORCHESTRATOR] ✅ Posted successfully tweet_id="+got.TweetID+" decision_id="+dec.DecisionID)
}

func TestPostRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	dec := b.queueDecision(t, honestTexts[3], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultRateLimit, Count: 1,
		ResetAfter: xsim.Duration(10 * time.Minute)})

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, 0, res.Job.Attempt, "no attempt spent")
	require.WithinDuration(t, b.clock.Now().Add(10*time.Minute), res.Job.ScheduledAt, time.Second)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[3]))

	res = drive(t, b, res.Job, 1)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, store.StatusPosted, b.decision(t, dec.DecisionID).Status)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[3]))
}

// A duplicate refusal for a post an earlier attempt made: found on the timeline, recorded, not re-sent.
func TestPostDuplicateReconciled(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	dec := b.queueDecision(t, honestTexts[4], nil)
	// An earlier attempt's post, which X made although its answer was lost.
	b.clock.Advance(time.Minute)
	_, err := b.x.CreatePost(ctx, honestTexts[4], "")
	require.NoError(t, err)
	b.clock.Advance(2 * time.Minute)

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[4]))
}

// The earlier attempt's post is found even when more than a page of newer posts followed it.
func TestPostDuplicateReconciledOnBusyTimeline(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{simConfig: func(c *xsim.Config) { c.PostsPer15Min = 1000 }})
	ctx := context.Background()
	dec := b.queueDecision(t, honestTexts[4], nil)
	b.clock.Advance(time.Minute)
	_, err := b.x.CreatePost(ctx, honestTexts[4], "")
	require.NoError(t, err)
	for i := 0; i < 130; i++ {
		b.clock.Advance(time.Second)
		_, err := b.x.CreatePost(ctx, sprintf("Unrelated post number %d about something else entirely.", i), "")
		require.NoError(t, err)
	}

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, store.StatusPosted, b.decision(t, dec.DecisionID).Status)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[4]))
}

// A duplicate of a post made before this decision existed is not ours: failed, never re-sent.
func TestPostDuplicateFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	_, err := b.x.CreatePost(ctx, honestTexts[5], "")
	require.NoError(t, err)
	b.clock.Advance(2 * time.Hour)
	dec := b.queueDecision(t, honestTexts[5], nil)

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Contains(t, []river.EventKind{river.EventKindJobCompleted, river.EventKindJobCancelled}, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "duplicate_content", got.ErrorMessage)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[5]))
	b.requireLine(t, "[POSTING_ORCHESTRATOR] ❌ Failed decision_id="+dec.DecisionID+" reason=duplicate_content")

	res, err = work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[5]))
}

// 401: the account's X circuit opens fleet-wide, the job snoozes, the row goes back to queued and nothing
// fails; another decision's job snoozes without calling X; after the cooldown one probe closes it.
func TestPostUnauthorizedOpensCircuit(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	cfg := b.deps.Config
	first := b.queueDecision(t, honestTexts[0], nil)
	second := b.queueDecision(t, honestTexts[1], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultUnauthorized, Count: 1})

	res1, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: first.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res1.EventKind)
	require.Equal(t, b.clock.Now().Add(cfg.XCircuitCooldown+time.Second), res1.Job.ScheduledAt.UTC())
	require.Equal(t, store.StatusQueued, b.decision(t, first.DecisionID).Status)
	c, err := b.st.GetCircuit(ctx, b.pool, store.XCircuitName(b.acct.ID))
	require.NoError(t, err)
	require.True(t, c.Open)

	// The second job must not call X at all: a scripted 401 would be spent if it did.
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointAny, Kind: xsim.FaultUnauthorized, Count: 1})
	res2, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: second.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res2.EventKind)
	require.Equal(t, store.StatusQueued, b.decision(t, second.DecisionID).Status)
	faults, err := store.NewXSim(b.pool).Faults(ctx)
	require.NoError(t, err)
	require.Len(t, faults, 1, "no request reached X while the circuit was open")
	require.NoError(t, b.sim.ClearFaults(ctx))
	require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata WHERE status = 'failed'`))

	// After the cooldown one probe (GET /2/users/me) closes the circuit and posting resumes.
	res2 = drive(t, b, res2.Job, 2)
	require.Equal(t, river.EventKindJobCompleted, res2.EventKind)
	c, err = b.st.GetCircuit(ctx, b.pool, store.XCircuitName(b.acct.ID))
	require.NoError(t, err)
	require.False(t, c.Open)
	require.Equal(t, store.StatusPosted, b.decision(t, second.DecisionID).Status)
	res1 = drive(t, b, res1.Job, 1)
	require.Equal(t, river.EventKindJobCompleted, res1.EventKind)
	require.Equal(t, store.StatusPosted, b.decision(t, first.DecisionID).Status)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[0]))
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[1]))
}

// No connection to X: nothing was sent, so River retries with 1 s, 2 s, 4 s backoff; once the attempts
// are spent the row stays queued and the job waits POSTING_SNOOZE (no attempt spent), until QUEUED_MAX_AGE
// makes the row stale. An outage never fails a decision.
func TestPostNotSentRetriedThenWaits(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.QueuedMaxAge = time.Hour; c.PostingSnooze = 5 * time.Minute }})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	b.deps.X = newXClient(t, dead.URL, b.deps.Config.XCallTimeout, b.clock)
	dec := b.queueDecision(t, honestTexts[0], nil)

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, &river.InsertOpts{MaxAttempts: 4})
	require.ErrorIs(t, err, xapi.ErrNotSent)
	require.Equal(t, river.EventKindJobFailed, res.EventKind)
	for attempt := 1; attempt < 4; attempt++ {
		require.Contains(t, []rivertype.JobState{rivertype.JobStateRetryable, rivertype.JobStateAvailable}, res.Job.State)
		require.Equal(t, attempt, res.Job.Attempt)
		require.Equal(t, b.clock.Now().Add(time.Second<<(attempt-1)), res.Job.ScheduledAt.UTC())
		require.Equal(t, store.StatusQueued, b.decision(t, dec.DecisionID).Status)
		b.advanceTo(res.Job.ScheduledAt)
		res, err = workJob(t, b, b.postWorker(), res.Job)
		if attempt < 3 {
			require.ErrorIs(t, err, xapi.ErrNotSent)
		}
	}
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind, "the last attempt waits instead of failing")
	require.Equal(t, b.clock.Now().Add(5*time.Minute), res.Job.ScheduledAt.UTC())
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Empty(t, b.linesWithPrefix("[POSTING_ORCHESTRATOR] ❌ Failed decision_id="+dec.DecisionID))

	// Still unreachable an hour later: the row is too old to post now, so it is skipped as stale.
	b.clock.Advance(time.Hour)
	res, err = workJob(t, b, b.postWorker(), res.Job)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got = b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusSkipped, got.Status)
	require.Equal(t, "stale", got.SkipReason)
}

// A posting row whose outcome is unknown when River gives up becomes unconfirmed, never re-sent.
func TestPostGiveUpWhilePostingIsUnconfirmed(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	dec := b.queueDecision(t, honestTexts[1], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutBefore, Count: 1})

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, &river.InsertOpts{MaxAttempts: 2})
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, store.StatusPosting, b.decision(t, dec.DecisionID).Status)

	// The timeline cannot be read, so the outcome stays unknown until River gives up.
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultServerError, Count: 10})
	job := res.Job
	for i := 0; i < 2; i++ {
		b.advanceTo(job.ScheduledAt)
		res, err = workJob(t, b, b.postWorker(), job)
		require.Error(t, err)
		job = res.Job
	}
	require.Equal(t, rivertype.JobStateDiscarded, job.State)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusUnconfirmed, got.Status)
	require.Len(t, b.linesWithPrefix("[POSTING_ORCHESTRATOR] ❓ Unconfirmed decision_id="+dec.DecisionID+" reason="), 1)
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[1]))
}

// A stale run holding an old posting_attempt can never overwrite what a newer attempt did.
func TestPostStaleAttemptIsFenced(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	dec := b.queueDecision(t, honestTexts[2], nil)
	w := b.postWorker()

	// The stale run claimed attempt 1 and then stalled.
	_, err := b.st.ClaimPosting(ctx, b.pool, dec.DecisionID, "simulator", 0)
	require.NoError(t, err)
	stale := b.decision(t, dec.DecisionID)
	// A newer run (the job retried after a rescue) claimed attempt 2 and posted.
	b.clock.Advance(time.Minute)
	_, err = b.st.ClaimPosting(ctx, b.pool, dec.DecisionID, "simulator", 1)
	require.NoError(t, err)
	newer := b.decision(t, dec.DecisionID)
	require.NoError(t, b.recordPosted(t, w, newer, "1234567890"))
	posted := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, posted.Status)

	// The stale run wakes up with every possible outcome; none of them changes the row.
	require.NoError(t, b.recordPosted(t, w, stale, "999999"))
	for _, status := range []string{store.StatusQueued, store.StatusFailed, store.StatusUnconfirmed} {
		require.NoError(t, w.finish(ctx, b.deps.Log, stale, stale.PostingAttempt, status, "stale run"))
	}
	require.Equal(t, posted, b.decision(t, dec.DecisionID))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM posted_decisions WHERE decision_id = $1`, dec.DecisionID))
}

// recordPosted runs the worker's success step for d as a run of a River job would.
func (b *testBundle) recordPosted(t *testing.T, w *PostWorker, d *store.Decision, tweetID string) error {
	t.Helper()
	ctx := rivertest.WorkContext(context.Background(), b.insertClient(t))
	return w.recordPosted(ctx, b.deps.Log, d, tweetID, b.clock.Now())
}

// The kill switch also holds for a row being reconciled: when the earlier call is known not to have
// posted, the row goes back to queued and nothing is sent.
func TestPostDisabledWhileReconciling(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	dec := b.queueDecision(t, honestTexts[3], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutBefore, Count: 1})

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, store.StatusPosting, b.decision(t, dec.DecisionID).Status)

	b.deps.Config.PostingDisabled = true
	res = drive(t, b, res.Job, 3)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[3]))
	b.requireLine(t, "[POSTING_ORCHESTRATOR] ⏭️ Skipped posting decision_id="+dec.DecisionID+": POSTING_DISABLED=true")
}

// A row hand-edited into posting with no start and no attempt (a state the worker never writes) is
// reconciled like any unknown outcome: two empty timeline reads a grace apart, then one send.
func TestPostHandEditedPostingRow(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	dec := b.queueDecision(t, honestTexts[0], nil)
	_, err := b.pool.Exec(ctx, `UPDATE content_metadata SET status = 'posting', posting_started_at = NULL WHERE decision_id = $1`, dec.DecisionID)
	require.NoError(t, err)

	var res *rivertest.WorkResult
	for i := 0; i < 6; i++ {
		res, err = work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
		require.NoError(t, err)
		if res.EventKind != river.EventKindJobSnoozed {
			break
		}
		b.clock.Advance(res.Job.ScheduledAt.Sub(b.clock.Now()) + time.Second)
	}
	require.Equal(t, river.EventKindJobCompleted, res.EventKind, "never stuck snoozing")
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[0]), "sent exactly once")
}
