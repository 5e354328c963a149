package jobs

import "github.com/riverqueue/river"

// PostArgs posts one decision under the exactly-once protocol.
//
// Inserted by plan and reply (scheduled at the decision's scheduled_at) and by post_sweep, unique by
// DecisionID among live jobs. The worker re-reads the row and acts only on queued or posting rows; it fences
// every update with the row's posting_attempt, reconciles against the account's timeline whenever the outcome
// of an earlier call is unknown, and never re-sends blindly. On success it records posted_decisions, marks the
// row posted and inserts `collect_analytics` (reading 1 at posted_at + ANALYTICS_DELAY, the follow-ups at
// posted_at + each ANALYTICS_FOLLOWUPS) in one transaction.
// Waits (POSTING_DISABLED, rate limits, reconciliation grace) are snoozes, which spend no attempt. Retried
// errors back off 1 s, 2 s, 4 s; MaxAttempts is POST_MAX_ATTEMPTS, set at insert time.
type PostArgs struct {
	DecisionID string `json:"decision_id" river:"unique"`
}

func (PostArgs) Kind() string { return "post" }

func (PostArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueuePost,
		MaxAttempts: 4,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: LiveStates()},
	}
}
