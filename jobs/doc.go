// Package jobs owns xbot's River job kinds: one file per kind with its args, Kind(), InsertOpts() and a
// doc comment stating the contract (who inserts it, its inputs, its idempotency, what it inserts next).
// Kinds are stored in river_job: never rename one. It imports River only.
package jobs

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Queue names. Posting has its own queue so a backlog of plans or analytics never delays a due post.
const (
	QueueDefault = river.QueueDefault
	QueuePost    = "post"
)

// liveStates are the states in which a job is still going to run: uniqueness across them means "at most one
// live job", while a completed, cancelled or discarded one never blocks a sweep from inserting anew.
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// LiveStates returns a copy of the job states that count as a live job.
func LiveStates() []rivertype.JobState { return append([]rivertype.JobState(nil), liveStates...) }

// Period names the period of length d that t falls in (UTC), the key periodic jobs are unique by.
func Period(t time.Time, d time.Duration) string {
	return t.UTC().Truncate(d).Format(time.RFC3339)
}

// periodicUnique is the uniqueness of a periodic insert: by args (which carry the period), in any state, so
// a new leader that runs on start never doubles a period's job.
func periodicUnique() river.UniqueOpts {
	return river.UniqueOpts{ByArgs: true}
}
