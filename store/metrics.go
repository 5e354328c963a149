package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// JobCount is the number of River jobs of one kind in one state.
type JobCount struct {
	Kind  string `json:"kind"`
	State string `json:"state"`
	Count int64  `json:"count"`
}

// JobCounts counts river_job rows by kind and state.
func (s *Store) JobCounts(ctx context.Context, db DBTX) ([]JobCount, error) {
	rows, err := db.Query(ctx, `SELECT kind, state::text, count(*) FROM river_job GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("job counts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (JobCount, error) {
		var c JobCount
		return c, r.Scan(&c.Kind, &c.State, &c.Count)
	})
	if err != nil {
		return nil, fmt.Errorf("job counts: %w", err)
	}
	return out, nil
}

// LatestLearningVersion is the newest learning run's version (0 before the first).
func (s *Store) LatestLearningVersion(ctx context.Context, db DBTX) (int, error) {
	var v int
	if err := db.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM learning_runs`).Scan(&v); err != nil {
		return 0, fmt.Errorf("latest learning version: %w", err)
	}
	return v, nil
}
