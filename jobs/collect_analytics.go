package jobs

import "github.com/riverqueue/river"

// CollectAnalyticsArgs reads one post's metrics once.
//
// Inserted by post, all of a post's readings at once (Reading 1 at posted_at + ANALYTICS_DELAY, the follow-ups
// at posted_at + each ANALYTICS_FOLLOWUPS), and by analytics_sweep; unique by (DecisionID, Reading) in any
// state, so a reading is taken once. The worker reads metrics from where the post lives (the simulator, or X
// when REAL_METRICS_ENABLED), stores or updates the decision's outcome row, and inserts `learn` for the next
// learn period in the same transaction. A post X reports as not found or not authorized is stored as such and
// not retried; its later readings read nothing.
type CollectAnalyticsArgs struct {
	DecisionID string `json:"decision_id" river:"unique"`
	Reading    int    `json:"reading" river:"unique"`
}

func (CollectAnalyticsArgs) Kind() string { return "collect_analytics" }

func (CollectAnalyticsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
