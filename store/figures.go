package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Figures are the fleet's operating figures beyond the runbook's, computed from the database so every
// replica reports alike (/metrics, /api/metrics).
type Figures struct {
	// Posted24h counts posted_decisions of the last 24 hours by decision_type.
	Posted24h map[string]int64
	// GateBlocks counts decisions stored skipped by each gate (skip_reason "gate: reason").
	GateBlocks map[string]int64
	// Lateness is posted_at - scheduled_at of every posted decision.
	Lateness LatenessHistogram
	// LearningVersion and ExploreRatio are the newest learning run's (0 before the first).
	LearningVersion int
	ExploreRatio    float64
	// XCircuits is each account's X posting circuit (open: posting paused until a probe closes it).
	XCircuits []AccountCircuit
	// Jobs counts river_job by kind and state.
	Jobs []JobCount
}

// LatenessHistogram is a cumulative histogram in seconds: Buckets[i] counts values <= Bounds[i].
type LatenessHistogram struct {
	Count   uint64    `json:"count"`
	Sum     float64   `json:"sum_seconds"`
	Bounds  []float64 `json:"bounds_seconds"`
	Buckets []uint64  `json:"buckets"`
}

// AccountCircuit is one account's X posting circuit.
type AccountCircuit struct {
	AccountID int64     `json:"account_id"`
	Handle    string    `json:"handle"`
	Open      bool      `json:"open"`
	OpenUntil time.Time `json:"open_until,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

// gateNames are the gates whose name prefixes a blocked decision's skip_reason.
var gateNames = []string{"quality", "uniqueness", "rotation", "safety"}

// Figures reads every figure; latenessBounds are the histogram's upper bounds in seconds, ascending.
func (s *Store) Figures(ctx context.Context, db DBTX, latenessBounds []float64) (*Figures, error) {
	f := &Figures{Posted24h: map[string]int64{}, GateBlocks: map[string]int64{}}
	for _, g := range gateNames {
		f.GateBlocks[g] = 0
	}
	if err := collectCounts(ctx, db, f.Posted24h, `SELECT decision_type, count(*) FROM posted_decisions
		WHERE posted_at > $1 GROUP BY 1`, s.Now().Add(-24*time.Hour)); err != nil {
		return nil, fmt.Errorf("figures: posted in 24 h: %w", err)
	}
	if err := collectCounts(ctx, db, f.GateBlocks, `SELECT split_part(skip_reason, ':', 1), count(*) FROM content_metadata
		WHERE status = 'skipped' AND split_part(skip_reason, ':', 1) = ANY($1) GROUP BY 1`, gateNames); err != nil {
		return nil, fmt.Errorf("figures: gate blocks: %w", err)
	}
	var err error
	if f.Lateness, err = lateness(ctx, db, latenessBounds); err != nil {
		return nil, err
	}
	err = db.QueryRow(ctx, `SELECT version, explore_ratio FROM learning_runs ORDER BY version DESC, id DESC LIMIT 1`).
		Scan(&f.LearningVersion, &f.ExploreRatio)
	if err != nil && err != pgx.ErrNoRows {
		return nil, fmt.Errorf("figures: learning: %w", err)
	}
	if f.XCircuits, err = s.xCircuits(ctx, db); err != nil {
		return nil, err
	}
	if f.Jobs, err = s.JobCounts(ctx, db); err != nil {
		return nil, err
	}
	return f, nil
}

func collectCounts(ctx context.Context, db DBTX, into map[string]int64, sql string, args ...any) error {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	var k string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&k, &n}, func() error { into[k] = n; return nil })
	return err
}

func lateness(ctx context.Context, db DBTX, bounds []float64) (LatenessHistogram, error) {
	l := LatenessHistogram{Bounds: bounds}
	err := db.QueryRow(ctx, `
		WITH l AS (SELECT greatest(extract(epoch FROM posted_at - scheduled_at)::float8, 0) AS s
		           FROM content_metadata WHERE status = 'posted' AND posted_at IS NOT NULL)
		SELECT (SELECT count(*) FROM l), (SELECT COALESCE(sum(s), 0) FROM l),
		       ARRAY(SELECT (SELECT count(*) FROM l WHERE s <= b) FROM unnest($1::float8[]) WITH ORDINALITY AS u(b, i) ORDER BY i)`,
		bounds).Scan(&l.Count, &l.Sum, &l.Buckets)
	if err != nil {
		return l, fmt.Errorf("figures: posting lateness: %w", err)
	}
	return l, nil
}

func (s *Store) xCircuits(ctx context.Context, db DBTX) ([]AccountCircuit, error) {
	// Open until a probe closes it, as the post worker sees it (the cooldown's end only makes a probe due).
	rows, err := db.Query(ctx, `SELECT a.id, COALESCE(a.handle, ''), c.open_until IS NOT NULL, c.open_until, COALESCE(c.reason, '')
		FROM accounts a LEFT JOIN circuits c ON c.name = 'x:' || a.id ORDER BY a.id`)
	if err != nil {
		return nil, fmt.Errorf("figures: x circuits: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AccountCircuit, error) {
		var c AccountCircuit
		var until *time.Time
		if err := r.Scan(&c.AccountID, &c.Handle, &c.Open, &until, &c.Reason); err != nil {
			return c, err
		}
		if c.Open && until != nil {
			c.OpenUntil = *until
		}
		if !c.Open {
			c.Reason = ""
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("figures: x circuits: %w", err)
	}
	return out, nil
}
