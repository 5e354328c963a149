package jobs

import "github.com/riverqueue/river"

// LearnArgs folds the account's not-yet-learned outcomes into its bandit arms.
//
// Inserted by collect_analytics (scheduled at the next LEARN_PERIOD boundary, unique by (AccountID, Period),
// so outcomes stored while a run is in progress trigger the next period's run) and by the leader's periodic
// schedule. Runs are serialised by an advisory lock keyed by schema and account; each marks the outcomes it
// used in its own transaction, so none is counted twice. Fewer than LEARN_MIN_OUTCOMES outcomes: the skip line
// and nothing written.
type LearnArgs struct {
	AccountID int64  `json:"account_id" river:"unique"`
	Period    string `json:"period" river:"unique"`
}

func (LearnArgs) Kind() string { return "learn" }

func (LearnArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
