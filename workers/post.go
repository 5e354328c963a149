package workers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// Poster is what posting needs from X: create, read our own timeline to reconcile, and probe the account.
type Poster interface {
	CreatePost(ctx context.Context, text, replyTo string) (*xapi.Post, error)
	UserPosts(ctx context.Context, userID string, q xapi.TimelineQuery) ([]xapi.Post, error)
	Me(ctx context.Context) (*xapi.User, error)
}

// PostWorker posts one decision exactly once (DESIGN.md section 5).
type PostWorker struct {
	river.WorkerDefaults[jobs.PostArgs]
	d *Deps
}

// NextRetry backs off 1 s, 2 s, 4 s, … between attempts that were retried (nothing was sent).
func (w *PostWorker) NextRetry(job *river.Job[jobs.PostArgs]) time.Time {
	shift := min(max(job.Attempt-1, 0), 10)
	return w.d.Now().Add(time.Second << shift)
}

// Timeout leaves room for the X call's own deadline and the database work around it.
func (w *PostWorker) Timeout(*river.Job[jobs.PostArgs]) time.Duration {
	return w.d.Config.XCallTimeout + 30*time.Second
}

func (w *PostWorker) Work(ctx context.Context, job *river.Job[jobs.PostArgs]) error {
	id := job.Args.DecisionID
	log := w.d.Log.With(zap.String("decision_id", id), zap.Int64("job_id", job.ID), zap.Int("job_attempt", job.Attempt))
	err := w.work(ctx, log, job)
	var snooze *river.JobSnoozeError
	var cancel *river.JobCancelError
	if err == nil || errors.As(err, &snooze) || errors.As(err, &cancel) {
		return err
	}
	if job.Attempt >= job.MaxAttempts {
		if errors.Is(err, xapi.ErrNotSent) {
			// X was unreachable through every attempt and nothing was sent: wait POSTING_SNOOZE and try again
			// (no attempt spent; QUEUED_MAX_AGE ends a queued row), so a network outage never fails a day of posts.
			log.Warn("post: X unreachable; nothing was sent; trying again later", zap.Error(err),
				zap.Duration("wait", w.d.Config.PostingSnooze))
			return river.JobSnooze(w.d.Config.PostingSnooze)
		}
		// River gives up now: finish the row rather than leave it hanging.
		w.giveUp(ctx, log, id, err)
	}
	return fmt.Errorf("post decision %s: %w", id, err)
}

// afterCallTimeout bounds each database write made once X has been called: the write must not be
// abandoned with the job's context, nor hang the worker forever.
const afterCallTimeout = 15 * time.Second

// afterCall is the context for a write made after the X call.
func afterCall(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), afterCallTimeout)
}

// giveUp finishes a row River will not retry: unconfirmed if a call may have reached X. A row still
// queued was never sent: it stays queued for the post sweep (until QUEUED_MAX_AGE makes it stale).
func (w *PostWorker) giveUp(ctx context.Context, log *zap.Logger, id string, cause error) {
	ctx, cancel := afterCall(ctx)
	defer cancel()
	d, err := w.d.Store.GetDecision(ctx, w.d.Store.Pool, id)
	if err != nil {
		log.Error("post: give up: read decision", zap.Error(err))
		return
	}
	if d.Status != store.StatusPosting {
		log.Warn("post: giving up on this job; nothing was sent, the row stays queued for the sweep", zap.Error(cause))
		return
	}
	reason := "gave up: " + cause.Error()
	if err := w.d.Store.Finish(ctx, w.d.Store.Pool, id, d.PostingAttempt, store.StatusUnconfirmed, reason); err != nil {
		log.Error("post: give up: finish decision", zap.Error(err))
		return
	}
	logUnconfirmed(log, id, reason)
}

func (w *PostWorker) work(ctx context.Context, log *zap.Logger, job *river.Job[jobs.PostArgs]) error {
	st := w.d.Store
	id := job.Args.DecisionID
	// One statement reads what every run needs: the row, its account's posting switch and X circuit.
	v, err := st.GetPostView(ctx, st.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("post decision %s: no such decision", id))
	}
	if err != nil {
		return err
	}
	return w.workOn(ctx, log, v)
}

func (w *PostWorker) workOn(ctx context.Context, log *zap.Logger, v *store.PostView) error {
	cfg, d := w.d.Config, v.Decision
	if d.Status != store.StatusQueued && d.Status != store.StatusPosting {
		return nil // posted, finished, or waiting for a person: nothing to do
	}
	if ad, err := w.d.forAccount(ctx, d.AccountID); err != nil || ad != w.d {
		if err != nil {
			return err
		}
		return (&PostWorker{d: ad}).workOn(ctx, log, v) // posted with its own credentials, reconciled on its own timeline
	}
	now := w.d.Now()
	if d.Status == store.StatusQueued {
		if wait := d.ScheduledAt.Sub(now); wait > time.Second {
			return river.JobSnooze(wait) // scheduled_at moved later by hand
		}
		if w.d.postingHeldBy(log, d, v.Switch) {
			return river.JobSnooze(cfg.PostingSnooze)
		}
		if end, quiet := cfg.QuietHours.Until(now, cfg.AccountTZ); quiet {
			logQuiet(log, d.DecisionID, cfg.QuietHours.String(), end)
			return river.JobSnooze(end.Sub(now))
		}
		if now.Sub(d.ScheduledAt) > cfg.QueuedMaxAge {
			return w.skip(ctx, log, d, "stale")
		}
		if cfg.Live && cfg.Backend == "x" && d.GenerationSource == "synthetic" {
			return w.skip(ctx, log, d, "synthetic_in_live")
		}
	}
	if err := w.checkCircuit(ctx, log, d.AccountID, v.Circuit); err != nil {
		return err
	}
	if d.Status == store.StatusPosting {
		return w.reconcile(ctx, log, d)
	}
	attempt, next, err := w.claim(ctx, d)
	if errors.Is(err, store.ErrNotFound) {
		return nil // another run claimed it first; that run owns the row now
	}
	if err != nil {
		return err
	}
	if !next.IsZero() {
		// After a pause, an outage or a circuit the backlog drains one post per spacing, not in a burst.
		log.Info("post: pacing; waiting for the account's next posting slot", zap.Time("next_slot", next))
		return river.JobSnooze(max(next.Sub(w.d.Now()), time.Second))
	}
	d.PostingAttempt, d.Status = attempt, store.StatusPosting
	started := w.d.Now()
	d.PostingStartedAt = &started
	return w.send(ctx, log, d)
}

// claim moves a queued row to posting. An original post keeps the account's pace (MIN_POST_SPACING,
// MAX_POSTS_PER_DAY) across replicas: when no slot is free it claims nothing and says when one opens.
// Replies keep their own hourly and daily caps, applied when they are drafted.
func (w *PostWorker) claim(ctx context.Context, d *store.Decision) (int, time.Time, error) {
	cfg, st := w.d.Config, w.d.Store
	if d.DecisionType == "reply" {
		attempt, err := st.ClaimPosting(ctx, st.Pool, d.DecisionID, cfg.Backend, d.PostingAttempt)
		return attempt, time.Time{}, err
	}
	local := w.d.Now().In(cfg.AccountTZ)
	dayStart := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, cfg.AccountTZ)
	pace := store.PostPace{Spacing: cfg.MinPostSpacing, PerDay: cfg.MaxPostsPerDay, DayStart: dayStart, DayEnd: dayStart.AddDate(0, 0, 1)}
	// With the account's other waiting claims in one statement on the pool: its own transaction, durable
	// before the X call.
	r := w.d.claims.claim(ctx, st, d.AccountID, &paceClaim{
		claim: store.PaceClaim{DecisionID: d.DecisionID, PrevAttempt: d.PostingAttempt}, backend: cfg.Backend, pace: pace})
	return r.Attempt, r.Next, r.Err
}

// send makes the X call for a claimed row and maps its outcome (the one place X failures become River
// outcomes for posting).
func (w *PostWorker) send(ctx context.Context, log *zap.Logger, d *store.Decision) error {
	cfg := w.d.Config
	callCtx, cancel := context.WithTimeout(ctx, cfg.XCallTimeout)
	post, err := w.d.X.CreatePost(callCtx, d.Content, d.TargetTweetID)
	cancel()
	var rl *xapi.RateLimited
	var amb *xapi.Ambiguous
	switch {
	case err == nil:
		return w.recordPosted(ctx, log, d, post.ID, w.d.Now())
	case errors.As(err, &rl):
		if err := w.requeue(ctx, d); err != nil {
			return err
		}
		wait := max(rl.Reset.Sub(w.d.Now()), time.Second)
		log.Warn("post: X rate limit; snoozing until reset", zap.Time("reset", rl.Reset))
		return river.JobSnooze(wait)
	case errors.Is(err, xapi.ErrUnauthorized), errors.Is(err, xapi.ErrForbidden):
		// The credentials, the app's permissions or the account: no post can succeed until fixed.
		if err2 := w.requeue(ctx, d); err2 != nil {
			return err2
		}
		return w.openCircuit(ctx, log, d.AccountID, err)
	case errors.Is(err, xapi.ErrDuplicate):
		// The post X already has may come from any earlier attempt, not only this one: look from the
		// decision's creation (no post of it can be older).
		found, rerr := w.findOnTimeline(ctx, d, d.CreatedAt)
		if rerr != nil {
			return w.readFailed(log, rerr)
		}
		if found != nil {
			return w.recordPosted(ctx, log, d, found.ID, found.CreatedAt)
		}
		return w.fail(ctx, log, d, "duplicate_content", err)
	case errors.Is(err, xapi.ErrNotSent):
		// Nothing reached X: back to queued, and let River retry with backoff (Work snoozes once the attempts
		// are spent).
		if err2 := w.requeue(ctx, d); err2 != nil {
			return err2
		}
		return err
	case errors.As(err, &amb), errors.Is(err, context.DeadlineExceeded):
		// The post may exist: leave the row posting and reconcile after the deadline plus grace.
		log.Warn("post: outcome unknown; reconciling after grace", zap.Error(err))
		return river.JobSnooze(w.reconcileAt(d).Sub(w.d.Now()))
	case ctx.Err() != nil:
		// The job itself was cancelled (shutdown): the row stays posting; the next run reconciles.
		return ctx.Err()
	default:
		// A definite refusal of this post (400, reply not allowed, too long, policy, an unknown 403): fail
		// it alone; never retried, never a reason to pause the account.
		return w.fail(ctx, log, d, refusalReason(err), err)
	}
}

// fail records a definite refusal of this decision by X and cancels its job.
func (w *PostWorker) fail(ctx context.Context, log *zap.Logger, d *store.Decision, reason string, cause error) error {
	var apiErr *xapi.APIError
	if errors.Is(cause, xapi.ErrForbiddenUnknown) && errors.As(cause, &apiErr) {
		// X's answer, as sent (the client has already taken any secret out of it).
		log.Error("post: X refused the post with a 403 it does not explain; failing this decision only",
			zap.Int("x_status", apiErr.Status), zap.String("x_type", apiErr.Type), zap.String("x_title", apiErr.Title),
			zap.String("x_detail", apiErr.Detail))
	}
	wctx, cancel := afterCall(ctx)
	defer cancel()
	if err := w.finish(wctx, log, d, d.PostingAttempt, store.StatusFailed, reason); err != nil {
		return err
	}
	if reason == "duplicate_content" {
		return nil
	}
	return river.JobCancel(fmt.Errorf("post decision %s refused by X: %w", d.DecisionID, cause))
}

// requeue puts a claimed row back to queued after a call X refused without posting.
func (w *PostWorker) requeue(ctx context.Context, d *store.Decision) error {
	wctx, cancel := afterCall(ctx)
	defer cancel()
	err := w.d.Store.Finish(wctx, w.d.Store.Pool, d.DecisionID, d.PostingAttempt, store.StatusQueued, "")
	if errors.Is(err, store.ErrNotFound) {
		return nil // a newer attempt or a person changed the row first
	}
	return err
}

// readFailed maps a timeline read that knows nothing: a 429 snoozes until its reset, a page with errors[]
// a grace; neither spends an attempt, and neither is ever taken as "not posted". Other errors (5xx, a
// malformed body, a timeout) are retried.
func (w *PostWorker) readFailed(log *zap.Logger, err error) error {
	var rl *xapi.RateLimited
	var inc *xapi.Incomplete
	switch {
	case errors.As(err, &rl):
		log.Warn("post: timeline read rate limited; reconciling after reset", zap.Time("reset", rl.Reset))
		return river.JobSnooze(max(rl.Reset.Sub(w.d.Now()), time.Second))
	case errors.As(err, &inc):
		log.Warn("post: timeline read incomplete; reading again later", zap.Error(err))
		return river.JobSnooze(max(w.d.Config.XReconcileGrace, time.Second))
	}
	return err
}

func refusalReason(err error) string {
	var apiErr *xapi.APIError
	switch {
	case errors.Is(err, xapi.ErrReplyNotAllowed):
		return "reply_not_allowed"
	case errors.Is(err, xapi.ErrDuplicate):
		return "duplicate_content"
	case errors.As(err, &apiErr) && (errors.Is(err, xapi.ErrPostRefused) || errors.Is(err, xapi.ErrForbiddenUnknown)):
		return fmt.Sprintf("refused (%d): %s", apiErr.Status, cmp.Or(apiErr.Detail, apiErr.Title))
	}
	return err.Error()
}

// reconcileAt is when a row left posting may be checked: the earlier call's deadline plus the grace.
func (w *PostWorker) reconcileAt(d *store.Decision) time.Time {
	// A row put in posting by hand has no start: its creation is the earliest a call could have started.
	started := d.CreatedAt
	if d.PostingStartedAt != nil {
		started = *d.PostingStartedAt
	}
	return started.Add(w.d.Config.XCallTimeout + w.d.Config.XReconcileGrace)
}

// reconcile settles a row found in posting: found on our timeline → posted; two empty reads a grace apart
// after the deadline → the earlier call did not post, so send again under a new attempt.
func (w *PostWorker) reconcile(ctx context.Context, log *zap.Logger, d *store.Decision) error {
	cfg, st := w.d.Config, w.d.Store
	now := w.d.Now()
	if at := w.reconcileAt(d); now.Before(at) {
		return river.JobSnooze(at.Sub(now))
	}
	found, err := w.findOnTimeline(ctx, d, w.firstStartedAt(d))
	if err != nil {
		return w.readFailed(log, err)
	}
	if found != nil {
		log.Info("post: reconciled: found on timeline", zap.String("tweet_id", found.ID))
		return w.recordPosted(ctx, log, d, found.ID, found.CreatedAt)
	}
	if d.ReconcileCheckedAt == nil {
		if err := st.MarkReconcileChecked(ctx, st.Pool, d.DecisionID, d.PostingAttempt, now); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil // a newer attempt owns the row
			}
			return err
		}
		return river.JobSnooze(max(cfg.XReconcileGrace, time.Second))
	}
	if wait := d.ReconcileCheckedAt.Add(cfg.XReconcileGrace).Sub(now); wait > 0 {
		return river.JobSnooze(wait)
	}
	if held, err := w.d.postingHeld(ctx, log, d); err != nil {
		return err
	} else if held {
		// The earlier call did not post, and posting is off: back to the queue, never sent now.
		if err := w.requeue(ctx, d); err != nil {
			return err
		}
		return river.JobSnooze(cfg.PostingSnooze)
	}
	log.Warn("post: reconciled: not on timeline after two reads; sending again")
	attempt, err := st.ClaimPosting(ctx, st.Pool, d.DecisionID, cfg.Backend, d.PostingAttempt)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	d.PostingAttempt = attempt
	started := w.d.Now()
	d.PostingStartedAt = &started
	return w.send(ctx, log, d)
}

// firstStartedAt is when the decision's first attempt started (its creation when unknown): a post of
// any earlier attempt is no older.
func (w *PostWorker) firstStartedAt(d *store.Decision) time.Time {
	if d.FirstPostingAt != nil {
		return *d.FirstPostingAt
	}
	return d.CreatedAt
}

// findOnTimeline looks for the decision's post on our timeline since since (less a minute for clock
// skew), comparing texts as X returns them (xapi.SameText).
func (w *PostWorker) findOnTimeline(ctx context.Context, d *store.Decision, since time.Time) (*xapi.Post, error) {
	acct, err := w.d.Store.GetAccount(ctx, w.d.Store.Pool, d.AccountID)
	if err != nil {
		return nil, fmt.Errorf("reconcile decision %s: %w", d.DecisionID, err)
	}
	userID := acct.UserID(w.d.Config.Backend)
	if userID == "" {
		return nil, fmt.Errorf("reconcile decision %s: account %d has no %s user id yet", d.DecisionID, acct.ID, w.d.Config.Backend)
	}
	// A busy account may have posted more than a page since: follow the pages (each request has its own
	// deadline in the client), up to X's own limit of the 3,200 most recent posts.
	posts, err := w.d.X.UserPosts(ctx, userID, xapi.TimelineQuery{StartTime: since.Add(-time.Minute), MaxResults: 100, MaxPages: 32})
	if err != nil {
		return nil, fmt.Errorf("reconcile decision %s: read timeline: %w", d.DecisionID, err)
	}
	for i := range posts {
		if xapi.SameText(d.Content, d.TargetTweetID, posts[i]) {
			return &posts[i], nil
		}
	}
	return nil, nil
}

// recordPosted stores the post and inserts its analytics readings in one transaction.
func (w *PostWorker) recordPosted(ctx context.Context, log *zap.Logger, d *store.Decision, tweetID string, postedAt time.Time) error {
	if postedAt.IsZero() {
		postedAt = w.d.Now()
	}
	// The post exists: recording it must not be abandoned with the job's context, but has its own deadline.
	ctx, cancel := afterCall(ctx)
	defer cancel()
	// Lost in a crash, the row is still posting under a durable claim: the re-run reconciles and finds the post.
	err := w.d.inReplayableTx(ctx, func(tx pgx.Tx) error {
		if err := w.d.Store.MarkPosted(ctx, tx, store.PostedRecord{
			DecisionID: d.DecisionID, Attempt: d.PostingAttempt, Backend: w.d.Config.Backend, TweetID: tweetID, PostedAt: postedAt,
		}); err != nil {
			return err
		}
		_, err := client(ctx).InsertManyTx(ctx, tx, readingJobs(w.d.Config, d.DecisionID, postedAt, w.d.Now()))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		log.Warn("post: row changed under us; a newer attempt owns it", zap.String("tweet_id", tweetID))
		return nil
	}
	if err != nil {
		return fmt.Errorf("record post %s of decision %s: %w", tweetID, d.DecisionID, err)
	}
	logPosted(log, tweetID, d.DecisionID)
	return nil
}

// readingJobs are a post's metrics readings: the first at posted_at + ANALYTICS_DELAY, the follow-ups at
// posted_at + each ANALYTICS_FOLLOWUPS, inserted together (one statement) when the post is recorded. A
// follow-up of a post an earlier reading found gone reads nothing.
func readingJobs(cfg Config, decisionID string, postedAt, now time.Time) []river.InsertManyParams {
	out := []river.InsertManyParams{{Args: jobs.CollectAnalyticsArgs{DecisionID: decisionID, Reading: 1},
		InsertOpts: &river.InsertOpts{ScheduledAt: runAt(postedAt.Add(cfg.AnalyticsDelay), now)}}}
	for i, f := range cfg.AnalyticsFollowups {
		out = append(out, river.InsertManyParams{Args: jobs.CollectAnalyticsArgs{DecisionID: decisionID, Reading: i + 2},
			InsertOpts: &river.InsertOpts{ScheduledAt: runAt(postedAt.Add(f), now)}})
	}
	return out
}

// finish moves the row to status (fenced by attempt; -1 for an unclaimed row) and logs final outcomes.
func (w *PostWorker) finish(ctx context.Context, log *zap.Logger, d *store.Decision, attempt int, status, reason string) error {
	err := w.d.Store.Finish(ctx, w.d.Store.Pool, d.DecisionID, attempt, status, reason)
	if errors.Is(err, store.ErrNotFound) {
		return nil // a newer attempt or a person changed the row first
	}
	if err != nil {
		return err
	}
	switch status {
	case store.StatusFailed:
		logFailed(log, d.DecisionID, reason)
	case store.StatusSkipped:
		log.Info("post: skipped", zap.String("reason", reason))
	}
	return nil
}

// skip marks a row that is still queued skipped; a row a concurrent run has claimed is left to it.
func (w *PostWorker) skip(ctx context.Context, log *zap.Logger, d *store.Decision, reason string) error {
	err := w.d.Store.SkipQueued(ctx, w.d.Store.Pool, d.DecisionID, reason)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	log.Info("post: skipped", zap.String("reason", reason))
	return nil
}

// checkCircuit pauses posting while the account's X circuit (c, as read) is open; after the cooldown one
// probe (GET /2/users/me) closes or re-opens it.
func (w *PostWorker) checkCircuit(ctx context.Context, log *zap.Logger, accountID int64, c *store.Circuit) error {
	st := w.d.Store
	name := store.XCircuitName(accountID)
	if !c.Open {
		return nil
	}
	now := w.d.Now()
	if now.Before(c.OpenUntil) {
		log.Warn("post: X circuit open; account posting paused", zap.Time("until", c.OpenUntil), zap.String("reason", c.Reason))
		return river.JobSnooze(c.OpenUntil.Sub(now) + time.Second)
	}
	claimed, err := st.ClaimProbe(ctx, st.Pool, name, w.d.Config.XCallTimeout+5*time.Second)
	if err != nil {
		return err
	}
	if !claimed {
		return river.JobSnooze(w.d.Config.XCallTimeout + 5*time.Second)
	}
	callCtx, cancel := context.WithTimeout(ctx, w.d.Config.XCallTimeout)
	_, err = w.d.X.Me(callCtx)
	cancel()
	if err != nil {
		return w.openCircuit(ctx, log, accountID, err)
	}
	log.Info("post: X circuit probe succeeded; closing")
	return st.CloseCircuit(ctx, st.Pool, name)
}

func (w *PostWorker) openCircuit(ctx context.Context, log *zap.Logger, accountID int64, cause error) error {
	until := w.d.Now().Add(w.d.Config.XCircuitCooldown)
	if err := w.d.Store.OpenCircuit(ctx, w.d.Store.Pool, store.XCircuitName(accountID), until, cause.Error()); err != nil {
		return err
	}
	log.Error("post: X refused our credentials; account posting paused fleet-wide", zap.Time("until", until), zap.Error(cause))
	return river.JobSnooze(w.d.Config.XCircuitCooldown + time.Second)
}
