package workers

import (
	"context"

	"go.uber.org/zap"

	"github.com/xbot/xbot/store"
)

// postingHeld reports whether the decision's account may not post now, logging the skip line when it may
// not. A stored switch (xbot pause / xbot resume) overrides POSTING_DISABLED while it exists; it is read on
// every post job, so every replica obeys a change by the next job (snoozed jobs wake within POSTING_SNOOZE).
func (d *Deps) postingHeld(ctx context.Context, log *zap.Logger, dec *store.Decision) (bool, error) {
	sw, err := d.Store.EffectivePostingSwitch(ctx, d.Store.Pool, dec.AccountID)
	if err != nil {
		return false, err
	}
	return d.postingHeldBy(log, dec, sw), nil
}

// postingHeldBy is postingHeld with the switch already read (nil: none stored).
func (d *Deps) postingHeldBy(log *zap.Logger, dec *store.Decision, sw *store.PostingSwitch) bool {
	switch {
	case sw != nil && sw.Paused:
		logPaused(log, dec.DecisionID, sw.AccountID == 0)
		return true
	case sw == nil && d.Config.PostingDisabled:
		logPostingDisabled(log, dec.DecisionID)
		return true
	}
	return false
}

// newDecisionStatus is the status a new decision is stored with: pending_approval when a person approves
// every post (REQUIRE_APPROVAL=true), else queued.
func (c Config) newDecisionStatus() string {
	if c.RequireApproval {
		return store.StatusPendingApproval
	}
	return store.StatusQueued
}
