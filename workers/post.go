package workers

import (
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
	// A retried error: on the last attempt River gives up, so finish the row now rather than leave it hanging.
	if job.Attempt >= job.MaxAttempts {
		w.giveUp(ctx, log, id, err)
	}
	return fmt.Errorf("post decision %s: %w", id, err)
}

// giveUp finishes a row River will not retry: unconfirmed if a call may have reached X, else failed.
func (w *PostWorker) giveUp(ctx context.Context, log *zap.Logger, id string, cause error) {
	ctx = context.WithoutCancel(ctx)
	d, err := w.d.Store.GetDecision(ctx, w.d.Store.Pool, id)
	if err != nil {
		log.Error("post: give up: read decision", zap.Error(err))
		return
	}
	reason := "gave up: " + cause.Error()
	status := store.StatusFailed
	if d.Status == store.StatusPosting {
		status = store.StatusUnconfirmed
	}
	if err := w.d.Store.Finish(ctx, w.d.Store.Pool, id, d.PostingAttempt, status, reason); err != nil {
		log.Error("post: give up: finish decision", zap.Error(err))
		return
	}
	if status == store.StatusUnconfirmed {
		logUnconfirmed(log, id, reason)
	} else {
		logFailed(log, id, reason)
	}
}

func (w *PostWorker) work(ctx context.Context, log *zap.Logger, job *river.Job[jobs.PostArgs]) error {
	cfg, st := w.d.Config, w.d.Store
	id := job.Args.DecisionID
	d, err := st.GetDecision(ctx, st.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("post decision %s: no such decision", id))
	}
	if err != nil {
		return err
	}
	if d.Status != store.StatusQueued && d.Status != store.StatusPosting {
		return nil // posted, finished, or waiting for a person: nothing to do
	}
	now := w.d.Now()
	if d.Status == store.StatusQueued {
		if wait := d.ScheduledAt.Sub(now); wait > time.Second {
			return river.JobSnooze(wait) // scheduled_at moved later by hand
		}
		if cfg.PostingDisabled {
			logPostingDisabled(log, id)
			return river.JobSnooze(cfg.PostingSnooze)
		}
		if now.Sub(d.ScheduledAt) > cfg.QueuedMaxAge {
			return w.finish(ctx, log, d, -1, store.StatusSkipped, "stale")
		}
		if cfg.Live && cfg.Backend == "x" && d.GenerationSource == "synthetic" {
			return w.finish(ctx, log, d, -1, store.StatusSkipped, "synthetic_in_live")
		}
	}
	acct, err := st.GetAccount(ctx, st.Pool, d.AccountID)
	if err != nil {
		return err
	}
	if err := w.checkCircuit(ctx, log, d.AccountID); err != nil {
		return err
	}
	if d.Status == store.StatusPosting {
		return w.reconcile(ctx, log, d, acct)
	}
	attempt, err := st.ClaimPosting(ctx, st.Pool, id, cfg.Backend, d.PostingAttempt)
	if errors.Is(err, store.ErrNotFound) {
		return nil // another run claimed it first; that run owns the row now
	}
	if err != nil {
		return err
	}
	d.PostingAttempt, d.Status = attempt, store.StatusPosting
	started := w.d.Now()
	d.PostingStartedAt = &started
	return w.send(ctx, log, d, acct)
}

// send makes the X call for a claimed row and maps its outcome (the one place X failures become River
// outcomes for posting).
func (w *PostWorker) send(ctx context.Context, log *zap.Logger, d *store.Decision, acct *store.Account) error {
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
		if err := w.finish(ctx, log, d, d.PostingAttempt, store.StatusQueued, ""); err != nil {
			return err
		}
		wait := max(rl.Reset.Sub(w.d.Now()), time.Second)
		log.Warn("post: X rate limit; snoozing until reset", zap.Time("reset", rl.Reset))
		return river.JobSnooze(wait)
	case errors.Is(err, xapi.ErrUnauthorized), errors.Is(err, xapi.ErrForbidden):
		if err2 := w.finish(ctx, log, d, d.PostingAttempt, store.StatusQueued, ""); err2 != nil {
			return err2
		}
		return w.openCircuit(ctx, log, d.AccountID, err)
	case errors.Is(err, xapi.ErrDuplicate):
		// The post X already has may come from any earlier attempt, not only this one: look from the
		// decision's creation (no post of it can be older).
		found, err := w.findOnTimeline(ctx, d, acct, d.CreatedAt)
		if err != nil {
			return err
		}
		if found != nil {
			return w.recordPosted(ctx, log, d, found.ID, found.CreatedAt)
		}
		return w.finish(ctx, log, d, d.PostingAttempt, store.StatusFailed, "duplicate_content")
	case errors.Is(err, xapi.ErrNotSent):
		// Nothing reached X: back to queued, and let River retry with backoff.
		if err2 := w.finish(ctx, log, d, d.PostingAttempt, store.StatusQueued, ""); err2 != nil {
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
		// A definite refusal (400, reply not allowed, other 403): never retried.
		reason := refusalReason(err)
		if err2 := w.finish(ctx, log, d, d.PostingAttempt, store.StatusFailed, reason); err2 != nil {
			return err2
		}
		return river.JobCancel(fmt.Errorf("post decision %s refused by X: %w", d.DecisionID, err))
	}
}

func refusalReason(err error) string {
	if errors.Is(err, xapi.ErrReplyNotAllowed) {
		return "reply_not_allowed"
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
func (w *PostWorker) reconcile(ctx context.Context, log *zap.Logger, d *store.Decision, acct *store.Account) error {
	cfg, st := w.d.Config, w.d.Store
	now := w.d.Now()
	if at := w.reconcileAt(d); now.Before(at) {
		return river.JobSnooze(at.Sub(now))
	}
	found, err := w.findOnTimeline(ctx, d, acct, w.startedAt(d))
	if err != nil {
		return err
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
	if cfg.PostingDisabled {
		// The earlier call did not post, and the kill switch is on: back to the queue, never sent now.
		if err := w.finish(ctx, log, d, d.PostingAttempt, store.StatusQueued, ""); err != nil {
			return err
		}
		logPostingDisabled(log, d.DecisionID)
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
	return w.send(ctx, log, d, acct)
}

// startedAt is when the row's current attempt started (its creation when none has).
func (w *PostWorker) startedAt(d *store.Decision) time.Time {
	if d.PostingStartedAt != nil {
		return *d.PostingStartedAt
	}
	return d.CreatedAt
}

// findOnTimeline looks for a post with the decision's normalised text on our timeline since since (less a
// minute for clock skew).
func (w *PostWorker) findOnTimeline(ctx context.Context, d *store.Decision, acct *store.Account, since time.Time) (*xapi.Post, error) {
	if acct.XUserID == "" {
		return nil, fmt.Errorf("reconcile decision %s: account %d has no X user id yet", d.DecisionID, acct.ID)
	}
	// A busy account may have posted more than a page since: follow the pages (each request has its own
	// deadline in the client), up to X's own limit of the 3,200 most recent posts.
	posts, err := w.d.X.UserPosts(ctx, acct.XUserID, xapi.TimelineQuery{StartTime: since.Add(-time.Minute), MaxResults: 100, MaxPages: 32})
	if err != nil {
		return nil, fmt.Errorf("reconcile decision %s: read timeline: %w", d.DecisionID, err)
	}
	want := store.NormalizeText(d.Content)
	for i := range posts {
		if store.NormalizeText(posts[i].Text) == want {
			return &posts[i], nil
		}
	}
	return nil, nil
}

// recordPosted stores the post and inserts its first analytics reading in one transaction.
func (w *PostWorker) recordPosted(ctx context.Context, log *zap.Logger, d *store.Decision, tweetID string, postedAt time.Time) error {
	if postedAt.IsZero() {
		postedAt = w.d.Now()
	}
	ctx = context.WithoutCancel(ctx) // the post exists: recording it must not be abandoned half-way
	err := w.d.inTx(ctx, func(tx pgx.Tx) error {
		if err := w.d.Store.MarkPosted(ctx, tx, store.PostedRecord{
			DecisionID: d.DecisionID, Attempt: d.PostingAttempt, Backend: w.d.Config.Backend, TweetID: tweetID, PostedAt: postedAt,
		}); err != nil {
			return err
		}
		_, err := client(ctx).InsertTx(ctx, tx, jobs.CollectAnalyticsArgs{DecisionID: d.DecisionID, Reading: 1},
			&river.InsertOpts{ScheduledAt: postedAt.Add(w.d.Config.AnalyticsDelay)})
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

// checkCircuit pauses posting while the account's X circuit is open; after the cooldown one probe
// (GET /2/users/me) closes or re-opens it.
func (w *PostWorker) checkCircuit(ctx context.Context, log *zap.Logger, accountID int64) error {
	st := w.d.Store
	name := store.XCircuitName(accountID)
	c, err := st.GetCircuit(ctx, st.Pool, name)
	if err != nil {
		return err
	}
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
