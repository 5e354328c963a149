package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AccountFigures are one account's operating figures (xbot status, /api/metrics, /metrics, the status
// page): its decisions by status, its posts, whether its X circuit is open and whether it is paused.
type AccountFigures struct {
	AccountID int64  `json:"account_id"`
	Handle    string `json:"handle"`
	Status    string `json:"status"` // active | disabled
	// Decisions counts the account's content_metadata rows by status.
	Decisions   map[string]int64 `json:"decisions"`
	Posted24h   int64            `json:"posted_24h"`
	PostedTotal int64            `json:"posted_total"`
	// XCircuitOpen: its X posting circuit is open (posting paused until a probe closes it).
	XCircuitOpen bool `json:"x_circuit_open"`
	// Paused: the stored switch that applies to it (its own, else every account's) is paused.
	Paused bool `json:"paused"`
}

// AccountsFigures reads every account's figures in id order (the environment's first): three grouped
// reads, whatever the number of accounts.
func (s *Store) AccountsFigures(ctx context.Context, db DBTX) ([]*AccountFigures, error) {
	rows, err := db.Query(ctx, `SELECT a.id, COALESCE(a.handle, ''), a.status,
		EXISTS (SELECT 1 FROM circuits c WHERE c.name = 'x:' || a.id AND c.open_until IS NOT NULL),
		COALESCE((SELECT p.paused FROM posting_switches p WHERE p.account_id = a.id OR p.account_id IS NULL
			ORDER BY p.account_id NULLS LAST LIMIT 1), false)
		FROM accounts a ORDER BY a.is_default DESC, a.id`)
	if err != nil {
		return nil, fmt.Errorf("account figures: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*AccountFigures, error) {
		f := &AccountFigures{Decisions: map[string]int64{}}
		return f, r.Scan(&f.AccountID, &f.Handle, &f.Status, &f.XCircuitOpen, &f.Paused)
	})
	if err != nil {
		return nil, fmt.Errorf("account figures: %w", err)
	}
	byID := make(map[int64]*AccountFigures, len(out))
	for _, f := range out {
		byID[f.AccountID] = f
	}
	var id, n, n24 int64
	var status string
	rows, err = db.Query(ctx, `SELECT account_id, status, count(*) FROM content_metadata GROUP BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("account figures: decisions: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &n}, func() error {
		if f := byID[id]; f != nil {
			f.Decisions[status] = n
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("account figures: decisions: %w", err)
	}
	rows, err = db.Query(ctx, `SELECT account_id, count(*), count(*) FILTER (WHERE posted_at > $1) FROM posted_decisions GROUP BY 1`,
		s.Now().Add(-24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("account figures: posted: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &n, &n24}, func() error {
		if f := byID[id]; f != nil {
			f.PostedTotal, f.Posted24h = n, n24
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("account figures: posted: %w", err)
	}
	return out, nil
}
