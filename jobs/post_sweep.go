package jobs

import "github.com/riverqueue/river"

// PostSweepArgs is the posting safety net.
//
// Inserted by the leader's periodic schedule every SWEEP_INTERVAL, unique by Period. The worker runs the
// operators' canonical query and logs `Found N decisions in queue`; then, with a query of its own (no LIMIT,
// so snoozed rows cannot starve it), it ensures a live `post` job exists for every due queued row and every
// stale posting row, and finishes as unconfirmed the posting rows whose post job River gave up on.
type PostSweepArgs struct {
	Period string `json:"period" river:"unique"`
}

func (PostSweepArgs) Kind() string { return "post_sweep" }

func (PostSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 3, UniqueOpts: periodicUnique()}
}
