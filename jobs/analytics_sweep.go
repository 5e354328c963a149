package jobs

import "github.com/riverqueue/river"

// AnalyticsSweepArgs is the analytics safety net.
//
// Inserted by the leader's periodic schedule every SWEEP_INTERVAL, unique by Period. The worker finds posted
// decisions past a reading time with no such reading stored, logs `Found N posts needing metrics`, and inserts
// their (unique) `collect_analytics` jobs.
type AnalyticsSweepArgs struct {
	Period string `json:"period" river:"unique"`
}

func (AnalyticsSweepArgs) Kind() string { return "analytics_sweep" }

func (AnalyticsSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 3, UniqueOpts: periodicUnique()}
}
