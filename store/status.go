package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// QueueCount is one row of the seed's queue query.
type QueueCount struct {
	DecisionType     string
	GenerationSource string
	Status           string
	Count            int64
}

// RecentDecision is one row of the seed's "recent queued items" query.
type RecentDecision struct {
	DecisionID       string
	DecisionType     string
	Status           string
	GenerationSource string
	ScheduledAt      time.Time
}

// Status is the answer to the seed's runbook queries.
type Status struct {
	Queue        []QueueCount
	Posted       int64
	RealOutcomes int64
	Recent       []RecentDecision
}

// Runbook runs the seed's runbook queries (the same SQL operators type into psql).
func (s *Store) Runbook(ctx context.Context, db DBTX) (*Status, error) {
	st := &Status{}
	rows, err := db.Query(ctx, `SELECT decision_type, generation_source, status, COUNT(*) FROM content_metadata GROUP BY 1,2,3 ORDER BY 1,2,3`)
	if err != nil {
		return nil, fmt.Errorf("runbook queue: %w", err)
	}
	st.Queue, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (QueueCount, error) {
		var q QueueCount
		return q, r.Scan(&q.DecisionType, &q.GenerationSource, &q.Status, &q.Count)
	})
	if err != nil {
		return nil, fmt.Errorf("runbook queue: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM posted_decisions`).Scan(&st.Posted); err != nil {
		return nil, fmt.Errorf("runbook posted: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM outcomes WHERE simulated=false`).Scan(&st.RealOutcomes); err != nil {
		return nil, fmt.Errorf("runbook outcomes: %w", err)
	}
	rows, err = db.Query(ctx, `SELECT decision_id::text, decision_type, status, generation_source, scheduled_at FROM content_metadata ORDER BY created_at DESC LIMIT 5`)
	if err != nil {
		return nil, fmt.Errorf("runbook recent: %w", err)
	}
	st.Recent, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (RecentDecision, error) {
		var d RecentDecision
		return d, r.Scan(&d.DecisionID, &d.DecisionType, &d.Status, &d.GenerationSource, &d.ScheduledAt)
	})
	if err != nil {
		return nil, fmt.Errorf("runbook recent: %w", err)
	}
	return st, nil
}
