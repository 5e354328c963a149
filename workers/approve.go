package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/xbot/xbot/store"
)

// Approvals decides on drafts waiting in pending_approval (xbot approve / xbot reject).
type Approvals struct {
	Config Config
	Store  *store.Store
	// River inserts the post job in the approval's transaction (an insert-only client is enough).
	River *river.Client[pgx.Tx]
}

// ReplyLimitError refuses an approval that would exceed REPLIES_PER_HOUR or REPLIES_PER_DAY.
type ReplyLimitError struct {
	Setting string
	Limit   int
}

func (e *ReplyLimitError) Error() string {
	return fmt.Sprintf("%s=%d reached: approve later; nothing changed", e.Setting, e.Limit)
}

// Approve queues a pending decision and inserts its post job in one transaction, at the later of its time
// and now, with the pacing rules applied: a post keeps MIN_POST_SPACING from the account's other items and
// moves to the next day with room under MAX_POSTS_PER_DAY; a reply must fit REPLIES_PER_HOUR/DAY. A
// decision no longer pending is a *store.NotPendingError and changes nothing; of two approvals at once,
// one wins and the other gets that error.
func (a *Approvals) Approve(ctx context.Context, decisionID string) (*store.Decision, error) {
	var out *store.Decision
	err := pgx.BeginFunc(ctx, a.Store.Pool, func(tx pgx.Tx) error {
		d, err := a.Store.LockPending(ctx, tx, decisionID)
		if err != nil {
			return err
		}
		now := a.Store.Now()
		at := maxTime(d.ScheduledAt, now)
		if d.DecisionType == "reply" {
			if err := a.replyRoom(ctx, tx, d.AccountID, now); err != nil {
				return err
			}
		} else if at, err = a.postSlot(ctx, tx, d.AccountID, at, now); err != nil {
			return err
		}
		hb := at.In(a.Config.AccountTZ).Hour()
		if err := a.Store.MarkApproved(ctx, tx, decisionID, at, hb); err != nil {
			return err
		}
		d.Status, d.ScheduledAt, d.HourBucket = store.StatusQueued, at, &hb
		if _, err := a.River.InsertManyTx(ctx, tx, []river.InsertManyParams{postJob(d, a.Config, now)}); err != nil {
			return fmt.Errorf("approve decision %s: insert post job: %w", decisionID, err)
		}
		out = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// postSlot is the earliest time at or after from that keeps MIN_POST_SPACING and lies on a day with room
// (the plan's scheduler, under its per-account lock).
func (a *Approvals) postSlot(ctx context.Context, tx pgx.Tx, accountID int64, from, now time.Time) (time.Time, error) {
	sched, err := newScheduler(ctx, a.Store, tx, a.Config, accountID, now)
	if err != nil {
		return time.Time{}, err
	}
	at := sched.free(from)
	for range 31 {
		if !sched.dayFull(at) {
			return at, nil
		}
		local := at.In(a.Config.AccountTZ)
		at = sched.free(time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, a.Config.AccountTZ))
	}
	return time.Time{}, fmt.Errorf("MAX_POSTS_PER_DAY=%d: no day with room in the next month; nothing changed", a.Config.MaxPostsPerDay)
}

func (a *Approvals) replyRoom(ctx context.Context, tx pgx.Tx, accountID int64, now time.Time) error {
	hour, day, err := a.Store.RepliesSince(ctx, tx, accountID, now.Add(-time.Hour), now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	switch {
	case hour >= a.Config.RepliesPerHour:
		return &ReplyLimitError{Setting: "REPLIES_PER_HOUR", Limit: a.Config.RepliesPerHour}
	case day >= a.Config.RepliesPerDay:
		return &ReplyLimitError{Setting: "REPLIES_PER_DAY", Limit: a.Config.RepliesPerDay}
	}
	return nil
}

// Reject marks a pending decision skipped with the reason; one no longer pending is a
// *store.NotPendingError and changes nothing.
func (a *Approvals) Reject(ctx context.Context, decisionID, reason string) error {
	return a.Store.Reject(ctx, a.Store.Pool, decisionID, reason)
}
