package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotPendingError is returned when a decision a person approves or rejects no longer waits for them.
type NotPendingError struct {
	DecisionID string
	Status     string
}

func (e *NotPendingError) Error() string {
	return fmt.Sprintf("decision %s is %s, not pending_approval: nothing changed", e.DecisionID, e.Status)
}

// PendingDrafts lists the decisions waiting for a person, oldest first.
func (s *Store) PendingDrafts(ctx context.Context, db DBTX, limit int) ([]*Decision, error) {
	rows, err := db.Query(ctx, `SELECT `+decisionColumns+` FROM content_metadata WHERE status = 'pending_approval'
		ORDER BY created_at, decision_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending drafts: %w", err)
	}
	defer rows.Close()
	var out []*Decision
	for rows.Next() {
		d, err := scanDecision(rows)
		if err != nil {
			return nil, fmt.Errorf("pending drafts: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending drafts: %w", err)
	}
	return out, nil
}

// LockPending locks a pending_approval decision for the rest of tx; a concurrent approval waits, then finds
// it no longer pending (*NotPendingError).
func (s *Store) LockPending(ctx context.Context, tx pgx.Tx, decisionID string) (*Decision, error) {
	d, err := scanDecision(tx.QueryRow(ctx, `SELECT `+decisionColumns+` FROM content_metadata WHERE decision_id = $1 FOR UPDATE`, decisionID))
	if err != nil {
		return nil, notFound(err, "decision "+decisionID)
	}
	if d.Status != StatusPendingApproval {
		return nil, &NotPendingError{DecisionID: decisionID, Status: d.Status}
	}
	return d, nil
}

// MarkApproved queues a locked pending decision at its (re)scheduled time.
func (s *Store) MarkApproved(ctx context.Context, tx pgx.Tx, decisionID string, at time.Time, hourBucket int) error {
	tag, err := tx.Exec(ctx, `UPDATE content_metadata SET status = 'queued', scheduled_at = $2, hour_bucket = $3,
		reviewed_at = $4, updated_at = $4 WHERE decision_id = $1 AND status = 'pending_approval'`, decisionID, at, hourBucket, s.Now())
	if err != nil {
		return fmt.Errorf("approve decision %s: %w", decisionID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("approve decision %s: %w", decisionID, ErrNotFound)
	}
	return nil
}

// Reject marks a pending decision skipped with the person's reason ("rejected: reason").
func (s *Store) Reject(ctx context.Context, db DBTX, decisionID, reason string) error {
	var status string
	var changed bool
	err := db.QueryRow(ctx, `
		WITH upd AS (
			UPDATE content_metadata SET status = 'skipped', skip_reason = 'rejected: ' || $2, reviewed_at = $3, updated_at = $3
			WHERE decision_id = $1 AND status = 'pending_approval' RETURNING status)
		SELECT true, status FROM upd UNION ALL
		SELECT false, status FROM content_metadata WHERE decision_id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,
		decisionID, reason, s.Now()).Scan(&changed, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("reject decision %s: %w", decisionID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("reject decision %s: %w", decisionID, err)
	}
	if !changed && status == StatusPendingApproval {
		status = "being decided by another process" // its update committed while this statement ran
	}
	if !changed {
		return &NotPendingError{DecisionID: decisionID, Status: status}
	}
	return nil
}
