package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xbot/xbot/internal/llm"
)

// LLMLedger implements llm.Ledger over llm_budget_days, llm_budget_purposes, api_usage and circuits.
// Every reservation is one conditional statement, so the day's cap holds across replicas.
type LLMLedger struct {
	Pool *pgxpool.Pool
}

var _ llm.Ledger = (*LLMLedger)(nil)

// LLMLedger returns the budgeted client's ledger over the store's pool.
func (s *Store) LLMLedger() *LLMLedger { return &LLMLedger{Pool: s.Pool} }

// usd renders an amount for a numeric(14,8) parameter, so what is reserved is exactly what is released.
func usd(x float64) string { return strconv.FormatFloat(x, 'f', 8, 64) }

// reserveSQL adds $2 to the day's reservations when spent + reserved + $2 <= $3 (inserting the day's row
// when it is the first call of the day), and, only then, to the purpose's row. A refusal returns the
// day's figures with ok = false.
const reserveSQL = `
WITH d AS (
	INSERT INTO llm_budget_days AS b (day, reserved_usd, updated_at)
	SELECT $1::date, $2::numeric, now() WHERE $2::numeric <= $3::numeric
	ON CONFLICT (day) DO UPDATE SET reserved_usd = b.reserved_usd + EXCLUDED.reserved_usd, updated_at = EXCLUDED.updated_at
		WHERE b.spent_usd + b.reserved_usd + EXCLUDED.reserved_usd <= $3::numeric
	RETURNING b.spent_usd, b.reserved_usd
), p AS (
	INSERT INTO llm_budget_purposes AS q (day, purpose, reserved_usd)
	SELECT $1::date, $4, $2::numeric FROM d
	ON CONFLICT (day, purpose) DO UPDATE SET reserved_usd = q.reserved_usd + EXCLUDED.reserved_usd
	RETURNING q.spent_usd, q.reserved_usd
)
SELECT true, d.spent_usd, d.reserved_usd, p.spent_usd, p.reserved_usd FROM d, p
UNION ALL
SELECT false, b.spent_usd, b.reserved_usd, 0, 0 FROM llm_budget_days b
	WHERE b.day = $1::date AND NOT EXISTS (SELECT 1 FROM d)`

var errPurposeOverCap = errors.New("purpose over cap")

// Reserve implements llm.Ledger. Without a purpose cap it is one statement; with one, the same statement
// runs in a transaction that is rolled back when the purpose's row (locked by then) ends up over its cap.
func (l *LLMLedger) Reserve(ctx context.Context, r llm.Reservation) (llm.Reserved, error) {
	var out llm.Reserved
	run := func(db DBTX) error {
		var pSpent, pReserved float64
		err := db.QueryRow(ctx, reserveSQL, r.Day, usd(r.Amount), usd(r.DayCap), r.Purpose).
			Scan(&out.OK, &out.Spent, &out.Reserved, &pSpent, &pReserved)
		if errors.Is(err, pgx.ErrNoRows) {
			out = llm.Reserved{OK: false} // no row for the day yet and the amount alone exceeds the cap
			err = nil
		}
		if err != nil {
			return err
		}
		out.Cap = r.DayCap
		if !out.OK {
			out.Scope = "day"
			return nil
		}
		if r.HasPurposeCap && pSpent+pReserved > r.PurposeCap+1e-9 {
			out = llm.Reserved{Scope: "purpose", Spent: pSpent, Reserved: pReserved - r.Amount, Cap: r.PurposeCap}
			return errPurposeOverCap
		}
		return nil
	}
	if !r.HasPurposeCap {
		if err := run(l.Pool); err != nil {
			return llm.Reserved{}, fmt.Errorf("reserve %s USD for %s on %s: %w", usd(r.Amount), r.Purpose, r.Day.Format(time.DateOnly), err)
		}
		return out, nil
	}
	err := pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error { return run(tx) })
	if errors.Is(err, errPurposeOverCap) {
		return out, nil
	}
	if err != nil {
		return llm.Reserved{}, fmt.Errorf("reserve %s USD for %s on %s: %w", usd(r.Amount), r.Purpose, r.Day.Format(time.DateOnly), err)
	}
	return out, nil
}

// settleSQL releases the reservation $2, adds the cost $3 to spend (day first, then purpose: the same
// lock order as reserveSQL) and writes the api_usage row, in one statement.
const settleSQL = `
WITH d AS (
	UPDATE llm_budget_days SET reserved_usd = GREATEST(reserved_usd - $2::numeric, 0),
		spent_usd = spent_usd + $3::numeric, updated_at = now()
	WHERE day = $1::date RETURNING day
), p AS (
	UPDATE llm_budget_purposes SET reserved_usd = GREATEST(reserved_usd - $2::numeric, 0),
		spent_usd = spent_usd + $3::numeric
	WHERE day = (SELECT day FROM d) AND purpose = $4 RETURNING purpose
)
INSERT INTO api_usage (request_id, purpose, model, prompt_tokens, completion_tokens, cost_usd, status, error_code, budget_day, created_at)
SELECT $5, $4, $6, $7, $8, $3::numeric, $9, NULLIF($10, ''), $1::date, $11
FROM (SELECT count(*) AS n FROM p) AS settled
RETURNING (SELECT count(*) FROM d)`

// Settle implements llm.Ledger.
func (l *LLMLedger) Settle(ctx context.Context, r llm.Reservation, u llm.Usage) error {
	var days int64
	err := l.Pool.QueryRow(ctx, settleSQL, r.Day, usd(r.Amount), usd(u.Cost), r.Purpose, u.RequestID, u.Model,
		u.PromptTokens, u.CompletionTokens, u.Status, u.ErrorCode, u.At).Scan(&days)
	if err != nil {
		return fmt.Errorf("settle %s (reserved %s, cost %s): %w", u.RequestID, usd(r.Amount), usd(u.Cost), err)
	}
	if days != 1 {
		return fmt.Errorf("settle %s: no ledger row for %s", u.RequestID, r.Day.Format(time.DateOnly))
	}
	return nil
}

// RecordUsage implements llm.Ledger.
func (l *LLMLedger) RecordUsage(ctx context.Context, u llm.Usage) error {
	_, err := l.Pool.Exec(ctx, `INSERT INTO api_usage (request_id, purpose, model, prompt_tokens, completion_tokens,
		cost_usd, status, error_code, budget_day, created_at) VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, NULLIF($8, ''), $9::date, $10)`,
		u.RequestID, u.Purpose, u.Model, u.PromptTokens, u.CompletionTokens, usd(u.Cost), u.Status, u.ErrorCode, u.Day, u.At)
	if err != nil {
		return fmt.Errorf("record api usage %s: %w", u.RequestID, err)
	}
	return nil
}

// Circuit implements llm.Ledger.
func (l *LLMLedger) Circuit(ctx context.Context, name string) (llm.Circuit, error) {
	var c llm.Circuit
	var until, opened, probing *time.Time
	var reason *string
	err := l.Pool.QueryRow(ctx, `SELECT open_until, reason, opened_at, probing_until FROM circuits WHERE name = $1`, name).
		Scan(&until, &reason, &opened, &probing)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read circuit %s: %w", name, err)
	}
	if until != nil {
		c.Open, c.OpenUntil = true, *until
	}
	if opened != nil {
		c.OpenedAt = *opened
	}
	if probing != nil {
		c.ProbingUntil = *probing
	}
	c.Reason = deref(reason)
	return c, nil
}

// OpenCircuit implements llm.Ledger.
func (l *LLMLedger) OpenCircuit(ctx context.Context, name string, now, until time.Time, reason string) error {
	_, err := l.Pool.Exec(ctx, `
		INSERT INTO circuits (name, open_until, reason, opened_at, probing_until, updated_at) VALUES ($1, $2, $3, $4, NULL, $4)
		ON CONFLICT (name) DO UPDATE SET open_until = GREATEST(circuits.open_until, EXCLUDED.open_until),
			reason = EXCLUDED.reason, opened_at = COALESCE(circuits.opened_at, EXCLUDED.opened_at),
			probing_until = NULL, updated_at = EXCLUDED.updated_at`, name, until, reason, now)
	if err != nil {
		return fmt.Errorf("open circuit %s: %w", name, err)
	}
	return nil
}

// CloseCircuit implements llm.Ledger.
func (l *LLMLedger) CloseCircuit(ctx context.Context, name string, now time.Time) error {
	_, err := l.Pool.Exec(ctx, `UPDATE circuits SET open_until = NULL, reason = NULL, opened_at = NULL, probing_until = NULL,
		updated_at = $2 WHERE name = $1`, name, now)
	if err != nil {
		return fmt.Errorf("close circuit %s: %w", name, err)
	}
	return nil
}

// ClaimProbe implements llm.Ledger: one conditional UPDATE, so one caller in the fleet wins.
func (l *LLMLedger) ClaimProbe(ctx context.Context, name string, now, holdUntil time.Time) (bool, error) {
	tag, err := l.Pool.Exec(ctx, `UPDATE circuits SET probing_until = $2, updated_at = $3
		WHERE name = $1 AND open_until IS NOT NULL AND open_until <= $3 AND (probing_until IS NULL OR probing_until <= $3)`,
		name, holdUntil, now)
	if err != nil {
		return false, fmt.Errorf("claim probe of circuit %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseProbe implements llm.Ledger.
func (l *LLMLedger) ReleaseProbe(ctx context.Context, name string, now time.Time) error {
	_, err := l.Pool.Exec(ctx, `UPDATE circuits SET probing_until = NULL, updated_at = $2 WHERE name = $1`, name, now)
	if err != nil {
		return fmt.Errorf("release probe of circuit %s: %w", name, err)
	}
	return nil
}

// Budget implements llm.Ledger.
func (l *LLMLedger) Budget(ctx context.Context, day time.Time) (llm.DayBudget, error) {
	b := llm.DayBudget{Day: day}
	err := l.Pool.QueryRow(ctx, `SELECT spent_usd::float8, reserved_usd::float8 FROM llm_budget_days WHERE day = $1::date`, day).
		Scan(&b.Spent, &b.Reserved)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("read budget of %s: %w", day.Format(time.DateOnly), err)
	}
	rows, err := l.Pool.Query(ctx, `SELECT purpose, spent_usd::float8, reserved_usd::float8 FROM llm_budget_purposes
		WHERE day = $1::date ORDER BY purpose`, day)
	if err != nil {
		return b, fmt.Errorf("read purpose budgets of %s: %w", day.Format(time.DateOnly), err)
	}
	b.Purposes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (llm.PurposeBudget, error) {
		var p llm.PurposeBudget
		return p, r.Scan(&p.Purpose, &p.Spent, &p.Reserved)
	})
	if err != nil {
		return b, fmt.Errorf("read purpose budgets of %s: %w", day.Format(time.DateOnly), err)
	}
	return b, nil
}
