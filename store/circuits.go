package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Circuit is the fleet-wide state of one circuit breaker (table circuits). Both the LLM quota circuit
// ('llm', through LLMLedger) and the accounts' X posting circuits ('x:<account>') are rows of it.
type Circuit struct {
	Name         string
	Open         bool
	OpenUntil    time.Time
	Reason       string
	OpenedAt     time.Time
	ProbingUntil time.Time
}

// XCircuitName is the circuit of an account's X posting.
func XCircuitName(accountID int64) string { return fmt.Sprintf("x:%d", accountID) }

// GetCircuit reads a circuit; one never opened is closed.
func (s *Store) GetCircuit(ctx context.Context, db DBTX, name string) (*Circuit, error) {
	return getCircuit(ctx, db, name)
}

// OpenCircuit opens (or re-opens) a circuit until the given time.
func (s *Store) OpenCircuit(ctx context.Context, db DBTX, name string, until time.Time, reason string) error {
	return openCircuit(ctx, db, name, s.Now(), until, reason)
}

// CloseCircuit closes a circuit.
func (s *Store) CloseCircuit(ctx context.Context, db DBTX, name string) error {
	return closeCircuit(ctx, db, name, s.Now())
}

// ClaimProbe lets exactly one caller probe a circuit whose open period has passed; the claim lasts for
// hold, after which another caller may probe.
func (s *Store) ClaimProbe(ctx context.Context, db DBTX, name string, hold time.Duration) (bool, error) {
	now := s.Now()
	return claimProbe(ctx, db, name, now, now.Add(hold))
}

func getCircuit(ctx context.Context, db DBTX, name string) (*Circuit, error) {
	c := &Circuit{Name: name}
	var until, opened, probing *time.Time
	var reason *string
	err := db.QueryRow(ctx, `SELECT open_until, reason, opened_at, probing_until FROM circuits WHERE name = $1`, name).
		Scan(&until, &reason, &opened, &probing)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read circuit %s: %w", name, err)
	}
	return circuitOf(name, until, reason, opened, probing), nil
}

// circuitOf is the circuit a row's columns describe (all nil: closed, never opened).
func circuitOf(name string, until *time.Time, reason *string, opened, probing *time.Time) *Circuit {
	c := &Circuit{Name: name, Reason: deref(reason)}
	if until != nil {
		c.Open, c.OpenUntil = true, *until
	}
	if opened != nil {
		c.OpenedAt = *opened
	}
	if probing != nil {
		c.ProbingUntil = *probing
	}
	return c
}

func openCircuit(ctx context.Context, db DBTX, name string, now, until time.Time, reason string) error {
	_, err := db.Exec(ctx, `
		INSERT INTO circuits (name, open_until, reason, opened_at, probing_until, updated_at) VALUES ($1, $2, $3, $4, NULL, $4)
		ON CONFLICT (name) DO UPDATE SET open_until = GREATEST(circuits.open_until, EXCLUDED.open_until),
			reason = EXCLUDED.reason, opened_at = COALESCE(circuits.opened_at, EXCLUDED.opened_at),
			probing_until = NULL, updated_at = EXCLUDED.updated_at`, name, until, reason, now)
	if err != nil {
		return fmt.Errorf("open circuit %s: %w", name, err)
	}
	return nil
}

func closeCircuit(ctx context.Context, db DBTX, name string, now time.Time) error {
	_, err := db.Exec(ctx, `UPDATE circuits SET open_until = NULL, reason = NULL, opened_at = NULL, probing_until = NULL,
		updated_at = $2 WHERE name = $1`, name, now)
	if err != nil {
		return fmt.Errorf("close circuit %s: %w", name, err)
	}
	return nil
}

// claimProbe is one conditional UPDATE, so one caller in the fleet wins.
func claimProbe(ctx context.Context, db DBTX, name string, now, holdUntil time.Time) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE circuits SET probing_until = $2, updated_at = $3
		WHERE name = $1 AND open_until IS NOT NULL AND open_until <= $3 AND (probing_until IS NULL OR probing_until <= $3)`,
		name, holdUntil, now)
	if err != nil {
		return false, fmt.Errorf("claim probe of circuit %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}
