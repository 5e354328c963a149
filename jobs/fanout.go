package jobs

import "github.com/riverqueue/river"

// FanoutArgs spreads one periodic round of plan or reply over every account the fleet serves.
//
// Inserted by the leader's periodic schedules (every PLAN_INTERVAL for Of "plan", REPLY_INTERVAL for "reply"),
// unique by Of and Period. The worker lists the active accounts and inserts one `plan` (or `reply`) job per
// account in one batch (InsertManyTx), each unique by account and Period, so a re-run or a second leader
// never doubles an account's round. A slow, paused or rate-limited account delays only its own job.
type FanoutArgs struct {
	Of     string `json:"of" river:"unique"` // "plan" or "reply"
	Period string `json:"period" river:"unique"`
}

func (FanoutArgs) Kind() string { return "fanout" }

func (FanoutArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 5, UniqueOpts: periodicUnique()}
}
