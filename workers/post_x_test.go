package workers

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// These tests run the post worker through River against the simulator behaving as X does: texts come
// back entity-escaped, replies with the replied-to author's @handle in front, links as t.co links. The
// simulator's duplicate check is off, so a post sent twice shows as two posts instead of hiding behind
// X's 403.

// linkText has everything X rewrites in a post: "&", "<", ">" and a link.
const linkText = "Ship small & often: <10 lines> per change beats one big bang. Notes: https://example.com/guide?a=1&b=2"

func noDuplicateCheck(c *xsim.Config) { c.NoDuplicateCheck = true }

// A post with "&" and a link whose create times out after X made it is found on the timeline as X
// returns it, and recorded once; never sent again.
func TestPostTimeoutWithEntitiesAndLinkFoundOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{simConfig: noDuplicateCheck})
	dec := b.queueDecision(t, linkText, nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
	require.Equal(t, 1, b.simPostsWithText(t, linkText), "X made the post")

	res = drive(t, b, res.Job, 4)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 1, got.PostingAttempt, "never re-sent")
	require.Equal(t, 1, b.simPostsWithText(t, linkText))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM posted_decisions WHERE decision_id = $1`, dec.DecisionID))
}

// A reply likewise: X returns it as "@author <our text>" with its link as t.co. A same-text reply of ours
// to another post is not this decision's post.
func TestPostReplyTimeoutFoundOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{simConfig: noDuplicateCheck})
	ctx := context.Background()
	mentions, err := b.sim.SeedMentions(ctx, 2)
	require.NoError(t, err)
	text := "Good question & thanks for asking: back off, then snooze <until the reset>. More: https://example.com/retries"
	// Our own earlier reply with the same text, to the other mention.
	_, err = b.x.CreatePost(ctx, text, sprintf("%d", mentions[1].ID))
	require.NoError(t, err)
	b.clock.Advance(time.Minute)

	dec := b.queueDecision(t, text, func(d *store.Decision) {
		d.DecisionType, d.TargetTweetID = "reply", sprintf("%d", mentions[0].ID)
	})
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})
	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind)

	res = drive(t, b, res.Job, 4)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 1, got.PostingAttempt, "never re-sent")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM sim_posts WHERE text = $1 AND in_reply_to_post_id = $2`, text, mentions[0].ID))
	var inReplyTo int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT in_reply_to_post_id FROM sim_posts WHERE id = $1::bigint`, got.TweetID).Scan(&inReplyTo))
	require.Equal(t, mentions[0].ID, inReplyTo, "the recorded post is the reply to our target, not the other one")
}

// A timeline page that is a 200 with errors[] and no data knows nothing: the reconciliation snoozes and
// reads again, spending no attempt, and never re-sends on it.
func TestPostReconcileTimelineErrors200Snoozes(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{simConfig: noDuplicateCheck})
	dec := b.queueDecision(t, honestTexts[2], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultErrors200, Count: 3})

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, &river.InsertOpts{MaxAttempts: 2})
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		b.advanceTo(res.Job.ScheduledAt)
		res, err = workJob(t, b, b.postWorker(), res.Job)
		require.NoError(t, err)
		require.Equal(t, river.EventKindJobSnoozed, res.EventKind, "read %d", i+1)
		require.Equal(t, 0, res.Job.Attempt, "a snooze spends no attempt")
		require.Equal(t, store.StatusPosting, b.decision(t, dec.DecisionID).Status)
	}
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[2]), "not re-sent while the timeline said nothing")

	res = drive(t, b, res.Job, 4)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 1, got.PostingAttempt)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[2]))
}

// A 429 on the timeline read snoozes until x-rate-limit-reset; no attempt is spent.
func TestPostReconcileTimelineRateLimitSnoozes(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{simConfig: noDuplicateCheck})
	dec := b.queueDecision(t, honestTexts[3], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultRateLimit, Count: 2,
		ResetAfter: xsim.Duration(10 * time.Minute)})

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, &river.InsertOpts{MaxAttempts: 1})
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		b.advanceTo(res.Job.ScheduledAt)
		res, err = workJob(t, b, b.postWorker(), res.Job)
		require.NoError(t, err)
		require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
		require.Equal(t, 0, res.Job.Attempt, "a snooze spends no attempt")
		require.WithinDuration(t, b.clock.Now().Add(10*time.Minute), res.Job.ScheduledAt, time.Second)
	}
	res = drive(t, b, res.Job, 4)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, 1, got.PostingAttempt)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[3]))
}

// A create whose answer is cut short (or an HTML page with 200) after X made the post is an unknown
// outcome: reconciled, recorded once.
func TestPostMalformedCreateBodyReconciled(t *testing.T) {
	t.Parallel()
	for _, f := range []xsim.Fault{
		{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultMalformedJSON, Count: 1},
		{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultHTML, Status: 200, Count: 1},
	} {
		t.Run(string(f.Kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t, testOpts{simConfig: noDuplicateCheck})
			dec := b.queueDecision(t, linkText, nil)
			b.addFault(t, f)
			res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
			require.NoError(t, err)
			require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
			require.Equal(t, store.StatusPosting, b.decision(t, dec.DecisionID).Status)

			res = drive(t, b, res.Job, 4)
			require.Equal(t, river.EventKindJobCompleted, res.EventKind)
			got := b.decision(t, dec.DecisionID)
			require.Equal(t, store.StatusPosted, got.Status)
			require.Equal(t, 1, got.PostingAttempt)
			require.Equal(t, 1, b.simPostsWithText(t, linkText))
		})
	}
}

// A malformed timeline page (an HTML 502) is a retryable read error: retried with an attempt, never
// cancelled and never taken as "not posted".
func TestPostMalformedTimelineRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{simConfig: noDuplicateCheck})
	dec := b.queueDecision(t, honestTexts[4], nil)
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointUserPosts, Kind: xsim.FaultMalformedJSON, Count: 1})

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	b.advanceTo(res.Job.ScheduledAt)
	res, err = workJob(t, b, b.postWorker(), res.Job)
	require.Error(t, err)
	require.Equal(t, river.EventKindJobFailed, res.EventKind, "retried, not cancelled")
	require.Equal(t, store.StatusPosting, b.decision(t, dec.DecisionID).Status)

	res = drive(t, b, res.Job, 4)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, store.StatusPosted, b.decision(t, dec.DecisionID).Status)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[4]))
}

// 403s are classified by what they say: a refusal of this one post fails that decision alone (with the
// reason, the circuit staying closed); an unknown 403 too, with X's answer logged; a problem with the
// credentials or the app's permissions opens the account's circuit and fails nothing.
func TestPost403Family(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind        xsim.FaultKind
		reply       bool
		wantStatus  string
		wantReason  string
		wantCircuit bool
	}{
		{xsim.FaultForbiddenReplyRestricted, true, store.StatusFailed, "reply_not_allowed", false},
		{xsim.FaultForbiddenPolicy, false, store.StatusFailed, "refused (403): This post violates the rules of the platform and cannot be created.", false},
		{xsim.FaultForbiddenUnknown, false, store.StatusFailed, "refused (403): Forbidden", false},
		{xsim.FaultForbidden, false, store.StatusQueued, "", true},
		{xsim.FaultForbiddenOAuth1Permissions, false, store.StatusQueued, "", true},
		{xsim.FaultForbiddenClient, false, store.StatusQueued, "", true},
		{xsim.FaultForbiddenSuspended, false, store.StatusQueued, "", true},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t, testOpts{simConfig: noDuplicateCheck})
			ctx := context.Background()
			mut := func(*store.Decision) {}
			if tc.reply {
				mentions, err := b.sim.SeedMentions(ctx, 1)
				require.NoError(t, err)
				mut = func(d *store.Decision) { d.DecisionType, d.TargetTweetID = "reply", sprintf("%d", mentions[0].ID) }
			}
			dec := b.queueDecision(t, honestTexts[5], mut)
			b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: tc.kind, Count: 1})

			res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
			require.NoError(t, err)
			got := b.decision(t, dec.DecisionID)
			require.Equal(t, tc.wantStatus, got.Status)
			c, err := b.st.GetCircuit(ctx, b.pool, store.XCircuitName(b.acct.ID))
			require.NoError(t, err)
			require.Equal(t, tc.wantCircuit, c.Open, "circuit")
			if tc.wantCircuit {
				require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
				require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata WHERE status = 'failed'`))
				return
			}
			require.Equal(t, river.EventKindJobCancelled, res.EventKind)
			require.Equal(t, tc.wantReason, got.ErrorMessage)
			b.requireLine(t, "[POSTING_ORCHESTRATOR] ❌ Failed decision_id="+dec.DecisionID+" reason="+tc.wantReason)
			if tc.kind == xsim.FaultForbiddenUnknown {
				b.requireLine(t, "post: X refused the post with a 403 it does not explain; failing this decision only")
			}
			// The account goes on posting.
			next := b.queueDecision(t, honestTexts[0], nil)
			res, err = work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: next.DecisionID}, nil)
			require.NoError(t, err)
			require.Equal(t, river.EventKindJobCompleted, res.EventKind)
			require.Equal(t, store.StatusPosted, b.decision(t, next.DecisionID).Status)
		})
	}
}

// A failed probe after the cooldown re-opens the circuit for another cooldown: nothing is posted, the
// row stays queued, other decisions keep waiting without calling X; the next good probe closes it.
func TestPostFailedProbeReopensCircuit(t *testing.T) {
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

	// After the cooldown the probe (GET /2/users/me) is refused too.
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointUsersMe, Kind: xsim.FaultUnauthorized, Count: 1})
	b.advanceTo(res1.Job.ScheduledAt)
	probedAt := b.clock.Now()
	res1, err = workJob(t, b, b.postWorker(), res1.Job)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res1.EventKind)
	c, err := b.st.GetCircuit(ctx, b.pool, store.XCircuitName(b.acct.ID))
	require.NoError(t, err)
	require.True(t, c.Open, "a failed probe re-opens the circuit")
	require.Equal(t, probedAt.Add(cfg.XCircuitCooldown), c.OpenUntil.UTC())
	require.Equal(t, store.StatusQueued, b.decision(t, first.DecisionID).Status)
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[0]))

	// Another decision's job waits without calling X (a scripted 401 would be spent if it did).
	b.addFault(t, xsim.Fault{Endpoint: xsim.EndpointAny, Kind: xsim.FaultUnauthorized, Count: 1})
	res2, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: second.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res2.EventKind)
	faults, err := store.NewXSim(b.pool).Faults(ctx)
	require.NoError(t, err)
	require.Len(t, faults, 1, "no request reached X while the circuit was open again")
	require.NoError(t, b.sim.ClearFaults(ctx))

	// The next cooldown ends with a good probe: the circuit closes and both post.
	res1 = drive(t, b, res1.Job, 2)
	require.Equal(t, river.EventKindJobCompleted, res1.EventKind)
	res2 = drive(t, b, res2.Job, 2)
	require.Equal(t, river.EventKindJobCompleted, res2.EventKind)
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[0]))
	require.Equal(t, 1, b.simPostsWithText(t, honestTexts[1]))
}

// A backlog after a pause (ten posts all due) drains one post per MIN_POST_SPACING, not in a burst: each
// job that finds no free slot snoozes (no attempt spent) until the account's next slot.
func TestPostBacklogDrainsAtSpacing(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.MinPostSpacing = 20 * time.Minute; c.MaxPostsPerDay = 50 }})
	ctx := context.Background()
	start := b.clock.Now()
	var ids []string
	pending := map[string]*rivertest.WorkResult{}
	for i := 0; i < 10; i++ {
		dec := b.queueDecision(t, sprintf("Backlog post %d: one honest lesson about queues, written while posting was paused.", i),
			func(d *store.Decision) { d.ScheduledAt = start.Add(-time.Hour + time.Duration(i)*time.Minute) })
		ids = append(ids, dec.DecisionID)
		res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
		require.NoError(t, err)
		if res.EventKind == river.EventKindJobSnoozed {
			require.Equal(t, 0, res.Job.Attempt, "a pacing snooze spends no attempt")
			pending[dec.DecisionID] = res
		}
	}
	require.Len(t, pending, 9, "one post now, nine wait")
	for round := 0; len(pending) > 0 && round < 20; round++ {
		next := time.Time{}
		for _, r := range pending {
			if next.IsZero() || r.Job.ScheduledAt.Before(next) {
				next = r.Job.ScheduledAt
			}
		}
		b.advanceTo(next)
		for id, r := range pending {
			if r.Job.ScheduledAt.After(b.clock.Now()) {
				continue
			}
			res, err := workJob(t, b, b.postWorker(), r.Job)
			require.NoError(t, err)
			if res.EventKind == river.EventKindJobSnoozed {
				pending[id] = res
				continue
			}
			require.Equal(t, river.EventKindJobCompleted, res.EventKind)
			delete(pending, id)
		}
	}
	require.Empty(t, pending)
	rows, err := b.pool.Query(ctx, `SELECT posted_at FROM content_metadata WHERE decision_id = ANY($1::uuid[]) AND status = 'posted' ORDER BY posted_at`, ids)
	require.NoError(t, err)
	times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	require.NoError(t, err)
	require.Len(t, times, 10)
	for i := 1; i < len(times); i++ {
		require.Equal(t, 20*time.Minute, times[i].Sub(times[i-1]), "post %d", i)
	}
	require.Equal(t, start, times[0].UTC())
}

// Reconciliation reads from the decision's first attempt, not the current one: the first attempt's post
// showed on the timeline only after that attempt had been given up on, and a second attempt's outcome is
// unknown too. The first post is found and recorded; nothing is sent a third time.
func TestPostReconcileFromFirstAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{simConfig: noDuplicateCheck})
	ctx := context.Background()
	cfg := b.deps.Config
	dec := b.queueDecision(t, linkText, nil)
	_, err := b.st.ClaimPosting(ctx, b.pool, dec.DecisionID, "simulator", 0)
	require.NoError(t, err)
	first, err := b.x.CreatePost(ctx, linkText, "")
	require.NoError(t, err)
	b.clock.Advance(10 * time.Minute)
	_, err = b.st.ClaimPosting(ctx, b.pool, dec.DecisionID, "simulator", 1)
	require.NoError(t, err)
	b.clock.Advance(cfg.XCallTimeout + cfg.XReconcileGrace)

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	if res.EventKind == river.EventKindJobSnoozed {
		res = drive(t, b, res.Job, 4)
	}
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, first.ID, got.TweetID)
	require.Equal(t, 2, got.PostingAttempt)
	require.Equal(t, 1, b.simPostsWithText(t, linkText), "never sent a third time")
}

// Posts of one account claimed at once by many workers of a replica go in coalesced claim statements, and
// the account's pace still holds across them: with a daily cap of 8, twelve posts due together give
// exactly 8 sends, each once, and 4 rows left queued with their jobs snoozed to the next day.
func TestPostConcurrentClaimsKeepTheDailyCap(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.MinPostSpacing = 0; c.MaxPostsPerDay = 8 }})
	ctx := context.Background()
	var params []river.InsertManyParams
	var texts []string
	for i := range 12 {
		text := sprintf("Concurrent post %d: small batches of work keep a queue honest about its latency.", i)
		texts = append(texts, text)
		dec := b.queueDecision(t, text, nil)
		params = append(params, river.InsertManyParams{Args: jobs.PostArgs{DecisionID: dec.DecisionID}})
	}
	c, err := river.NewClient(b.driver, &river.Config{Logger: slog.New(slog.DiscardHandler), Workers: b.rcfg.Workers,
		Queues: map[string]river.QueueConfig{jobs.QueuePost: {MaxWorkers: 12}}, FetchCooldown: 10 * time.Millisecond})
	require.NoError(t, err)
	_, err = c.InsertMany(ctx, params)
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	require.Eventually(t, func() bool {
		return b.counted(12, `SELECT count(*) FROM river_job WHERE kind = 'post' AND state IN ('completed', 'scheduled')`)
	}, 60*time.Second, 20*time.Millisecond)
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, c.Stop(stopCtx))
	require.Equal(t, 8, b.count(t, `SELECT count(*) FROM content_metadata WHERE status = 'posted'`))
	require.Equal(t, 4, b.count(t, `SELECT count(*) FROM content_metadata WHERE status = 'queued'`))
	require.Equal(t, 4, b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'post' AND state = 'scheduled' AND scheduled_at > now()`))
	sent := 0
	for _, text := range texts {
		n := b.simPostsWithText(t, text)
		require.LessOrEqual(t, n, 1, "sent once at most")
		sent += n
	}
	require.Equal(t, 8, sent)
}
