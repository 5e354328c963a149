package jobs

import "github.com/riverqueue/river"

// PlanArgs asks for one planning round for an account.
//
// Inserted by the leader's periodic schedule (every PLAN_INTERVAL, unique by Period via PeriodicOpts) and by
// `xbot enqueue plan` (no Period, never unique: a manual run always inserts). The worker samples bandit arms,
// asks the budgeted LLM for POSTS_PER_PLAN posts, gates them and stores the passing ones as queued decisions,
// inserting one `post` job per decision at its scheduled_at in the same transaction. An LLM quota or budget
// refusal completes the job with nothing queued (no retry storm); a retryable LLM error is retried.
type PlanArgs struct {
	AccountID int64  `json:"account_id" river:"unique"`
	Period    string `json:"period,omitempty" river:"unique"`
}

func (PlanArgs) Kind() string { return "plan" }

func (PlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 5}
}

// PeriodicOpts are the insert options of the periodic plan: unique by period.
func (PlanArgs) PeriodicOpts() *river.InsertOpts {
	return &river.InsertOpts{UniqueOpts: periodicUnique()}
}
