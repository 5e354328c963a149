package jobs

import "github.com/riverqueue/river"

// ReplyArgs asks for one reply round for an account.
//
// Inserted by the leader's periodic schedule (every REPLY_INTERVAL, unique by Period) and by
// `xbot enqueue reply` (never unique). The worker reads mentions of the account (GET /2/users/:id/mentions),
// drafts replies with the budgeted LLM for the best unanswered ones within REPLIES_PER_HOUR/REPLIES_PER_DAY,
// gates them and stores each passing reply as a queued decision with its `post` job in one transaction.
// Search hits (REPLY_QUERIES) become pending_approval drafts with no post job. A mention is answered at most
// once (a unique index on the target).
type ReplyArgs struct {
	AccountID int64  `json:"account_id" river:"unique"`
	Period    string `json:"period,omitempty" river:"unique"`
}

func (ReplyArgs) Kind() string { return "reply" }

func (ReplyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 5}
}

// PeriodicOpts are the insert options of the periodic reply: unique by period.
func (ReplyArgs) PeriodicOpts() *river.InsertOpts {
	return &river.InsertOpts{UniqueOpts: periodicUnique()}
}
