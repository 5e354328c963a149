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

// The ledger's lock order, kept by every statement below: the day's llm_budget_days row (FOR UPDATE,
// first), then its llm_reservations rows, then its llm_budget_purposes rows, then its
// llm_budget_accounts rows. Taking the day's row
// first is what lets a late Settle and a reclaim of the same reservation run concurrently without a
// deadlock: one of them deletes the reservation row, the other finds it gone and does nothing.

// reserveSQL, in one statement: locks the day's row; reclaims the day's reservations expired by $5
// (moved from reserved to spent at their amount, with an api_usage row each; this leaves spent +
// reserved unchanged, so it cannot change the decision); then, when spent + reserved + $2 <= $3, adds
// $2 to the day's, the purpose's and the account's ($9, NULL for none) reservations and writes the
// reservation row. It returns no row when the day has no ledger row yet (the caller creates it and runs
// it again). The purpose's and the account's figures it returns are their rows' after the update (an
// upsert reads the latest committed row, which the day's lock keeps still), for the caps checked in Go.
const reserveSQL = `
WITH cur AS MATERIALIZED (
	SELECT spent_usd, reserved_usd, spent_usd + reserved_usd + $2::numeric <= $3::numeric AS fits
	FROM llm_budget_days WHERE day = $1::date FOR UPDATE
), x AS (
	DELETE FROM llm_reservations WHERE expires_at <= $5 AND day = $1::date AND EXISTS (SELECT 1 FROM cur)
	RETURNING purpose, account_id, amount_usd, request_id, model
), xs AS (
	SELECT COALESCE(sum(amount_usd), 0) AS amount, count(*) AS n FROM x
), d AS (
	UPDATE llm_budget_days b SET
		reserved_usd = b.reserved_usd - xs.amount + CASE WHEN cur.fits THEN $2::numeric ELSE 0 END,
		spent_usd = b.spent_usd + xs.amount, updated_at = now()
	FROM cur, xs WHERE b.day = $1::date AND (cur.fits OR xs.n > 0)
	RETURNING b.spent_usd, b.reserved_usd, cur.fits
), r AS (
	INSERT INTO llm_reservations (day, purpose, account_id, amount_usd, request_id, model, expires_at, created_at)
	SELECT $1::date, $4, $9::bigint, $2::numeric, $6, $7, $8, $5 FROM d WHERE d.fits
	RETURNING id
), pd AS (
	SELECT purpose, sum(reclaimed) AS reclaimed, sum(added) AS added FROM (
		SELECT purpose, amount_usd AS reclaimed, 0::numeric AS added FROM x
		UNION ALL
		SELECT $4, 0::numeric, $2::numeric FROM d WHERE d.fits
	) AS deltas GROUP BY purpose
), p AS (
	INSERT INTO llm_budget_purposes AS q (day, purpose, spent_usd, reserved_usd)
	SELECT $1::date, purpose, reclaimed, added FROM pd
	ON CONFLICT (day, purpose) DO UPDATE SET spent_usd = q.spent_usd + EXCLUDED.spent_usd,
		reserved_usd = q.reserved_usd - EXCLUDED.spent_usd + EXCLUDED.reserved_usd
	RETURNING q.purpose, q.spent_usd, q.reserved_usd
), ad AS (
	SELECT account_id, sum(reclaimed) AS reclaimed, sum(added) AS added FROM (
		SELECT account_id, amount_usd AS reclaimed, 0::numeric AS added FROM x WHERE account_id IS NOT NULL
		UNION ALL
		SELECT $9::bigint, 0::numeric, $2::numeric FROM d WHERE d.fits AND $9::bigint IS NOT NULL
	) AS deltas GROUP BY account_id
), a AS (
	INSERT INTO llm_budget_accounts AS q (day, account_id, spent_usd, reserved_usd)
	SELECT $1::date, account_id, reclaimed, added FROM ad
	ON CONFLICT (day, account_id) DO UPDATE SET spent_usd = q.spent_usd + EXCLUDED.spent_usd,
		reserved_usd = q.reserved_usd - EXCLUDED.spent_usd + EXCLUDED.reserved_usd
	RETURNING q.account_id, q.spent_usd, q.reserved_usd
), u AS (
	INSERT INTO api_usage (request_id, purpose, account_id, model, prompt_tokens, completion_tokens, cost_usd, status, error_code, budget_day, created_at)
	SELECT request_id, purpose, account_id, model, 0, 0, amount_usd, 'failed', '` + llm.ReasonReservationExpired + `', $1::date, $5 FROM x
)
SELECT cur.fits, COALESCE(d.spent_usd, cur.spent_usd)::float8, COALESCE(d.reserved_usd, cur.reserved_usd)::float8,
	COALESCE(p.spent_usd, 0)::float8, COALESCE(p.reserved_usd, 0)::float8,
	COALESCE(a.spent_usd, 0)::float8, COALESCE(a.reserved_usd, 0)::float8, COALESCE(r.id, 0), xs.n
FROM cur CROSS JOIN xs LEFT JOIN d ON true LEFT JOIN r ON true LEFT JOIN p ON cur.fits AND p.purpose = $4
	LEFT JOIN a ON cur.fits AND a.account_id = $9::bigint`

// insertDaySQL creates the day's ledger row for the day's first reservation.
const insertDaySQL = `INSERT INTO llm_budget_days (day) VALUES ($1::date) ON CONFLICT (day) DO NOTHING`

var errOverCap = errors.New("purpose or account over cap")

// accountParam is an account id as reserveSQL's $9: NULL for none.
func accountParam(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// Reserve implements llm.Ledger. Without a purpose or account cap it is one statement (two on the
// day's first call, which creates the day's row); with one, the same statement runs in a transaction
// that is rolled back when the purpose's or the account's row (locked by then, behind the day's)
// ends up over its cap.
func (l *LLMLedger) Reserve(ctx context.Context, r llm.Reservation) (llm.Reserved, error) {
	if r.At.IsZero() || r.ExpiresAt.IsZero() || r.RequestID == "" {
		return llm.Reserved{}, fmt.Errorf("reserve for %s: time, expiry and request id are required", r.Purpose)
	}
	var out llm.Reserved
	run := func(db DBTX) error {
		for created := false; ; created = true {
			var pSpent, pReserved, aSpent, aReserved float64
			var reclaimed int64
			err := db.QueryRow(ctx, reserveSQL, r.Day, usd(r.Amount), usd(r.DayCap), r.Purpose, r.At, r.RequestID, r.Model, r.ExpiresAt,
				accountParam(r.AccountID)).
				Scan(&out.OK, &out.Spent, &out.Reserved, &pSpent, &pReserved, &aSpent, &aReserved, &out.ID, &reclaimed)
			if errors.Is(err, pgx.ErrNoRows) {
				// No row for the day yet: refused outright when the amount alone exceeds the cap
				// (nothing written), otherwise create the row and run the statement again.
				if created || r.Amount > r.DayCap {
					out = llm.Reserved{OK: false, Scope: "day", Cap: r.DayCap}
					return nil
				}
				if _, err := db.Exec(ctx, insertDaySQL, r.Day); err != nil {
					return fmt.Errorf("create the day's ledger row: %w", err)
				}
				continue
			}
			if err != nil {
				return err
			}
			out.Cap, out.Reclaimed = r.DayCap, int(reclaimed)
			if !out.OK {
				out.Scope, out.ID = "day", 0
				return nil
			}
			if r.HasPurposeCap && pSpent+pReserved > r.PurposeCap+1e-9 {
				out = llm.Reserved{Scope: "purpose", Spent: pSpent, Reserved: pReserved - r.Amount, Cap: r.PurposeCap}
				return errOverCap
			}
			if r.HasAccountCap && r.AccountID != 0 && aSpent+aReserved > r.AccountCap+1e-9 {
				out = llm.Reserved{Scope: "account", Spent: aSpent, Reserved: aReserved - r.Amount, Cap: r.AccountCap}
				return errOverCap
			}
			return nil
		}
	}
	if !r.HasPurposeCap && !(r.HasAccountCap && r.AccountID != 0) {
		if err := run(l.Pool); err != nil {
			return llm.Reserved{}, fmt.Errorf("reserve %s USD for %s on %s: %w", usd(r.Amount), r.Purpose, r.Day.Format(time.DateOnly), err)
		}
		return out, nil
	}
	err := pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error { return run(tx) })
	if errors.Is(err, errOverCap) {
		return out, nil
	}
	if err != nil {
		return llm.Reserved{}, fmt.Errorf("reserve %s USD for %s on %s: %w", usd(r.Amount), r.Purpose, r.Day.Format(time.DateOnly), err)
	}
	return out, nil
}

// settleSQL, in one statement and only while the reservation $2 is still open: deletes it, moves its
// amount out of reserved and adds the cost $3 to spent (day, then purpose, then its account's row when
// it was made for one), and writes the api_usage row. It returns no row when the reservation is gone
// (reclaimed after it expired).
const settleSQL = `
WITH cur AS MATERIALIZED (
	SELECT day FROM llm_budget_days WHERE day = $1::date FOR UPDATE
), x AS (
	DELETE FROM llm_reservations WHERE id = $2 AND EXISTS (SELECT 1 FROM cur) RETURNING day, purpose, account_id, amount_usd
), d AS (
	UPDATE llm_budget_days b SET reserved_usd = b.reserved_usd - x.amount_usd, spent_usd = b.spent_usd + $3::numeric,
		updated_at = now()
	FROM x WHERE b.day = x.day RETURNING b.day
), p AS (
	UPDATE llm_budget_purposes q SET reserved_usd = q.reserved_usd - x.amount_usd, spent_usd = q.spent_usd + $3::numeric
	FROM x, d WHERE q.day = x.day AND q.purpose = x.purpose RETURNING q.purpose
), a AS (
	UPDATE llm_budget_accounts q SET reserved_usd = q.reserved_usd - x.amount_usd, spent_usd = q.spent_usd + $3::numeric
	FROM x, d WHERE q.day = x.day AND q.account_id = x.account_id RETURNING q.account_id
)
INSERT INTO api_usage (request_id, purpose, account_id, model, prompt_tokens, completion_tokens, cost_usd, status, error_code, budget_day, created_at)
SELECT $4, x.purpose, x.account_id, $5, $6, $7, $3::numeric, $8, NULLIF($9, ''), x.day, $10
FROM x, (SELECT count(*) AS n FROM p) AS settled, (SELECT count(*) AS n FROM a) AS settled_account
RETURNING (SELECT count(*) FROM d), (SELECT count(*) FROM p), (SELECT count(*) FROM a) + (SELECT count(*) FROM x WHERE account_id IS NULL)`

// Settle implements llm.Ledger.
func (l *LLMLedger) Settle(ctx context.Context, r llm.Reservation, u llm.Usage) (bool, error) {
	if r.ID == 0 {
		return false, fmt.Errorf("settle %s: the reservation has no id", u.RequestID)
	}
	var days, purposes, accounts int64
	err := l.Pool.QueryRow(ctx, settleSQL, r.Day, r.ID, usd(u.Cost), u.RequestID, u.Model,
		u.PromptTokens, u.CompletionTokens, u.Status, u.ErrorCode, u.At).Scan(&days, &purposes, &accounts)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settle %s (reservation %d, cost %s): %w", u.RequestID, r.ID, usd(u.Cost), err)
	}
	if days != 1 || purposes != 1 || accounts != 1 {
		return false, fmt.Errorf("settle %s: reservation %d had no ledger rows for %s", u.RequestID, r.ID, r.Day.Format(time.DateOnly))
	}
	return true, nil
}

// reclaimSQL settles every reservation expired by $1, of any day, at its reserved amount: the days'
// rows are locked first, in day order, then the reservations deleted and the ledger moved (days,
// purposes, accounts), with an api_usage row each.
const reclaimSQL = `
WITH cur AS MATERIALIZED (
	SELECT day FROM llm_budget_days WHERE day IN (SELECT day FROM llm_reservations WHERE expires_at <= $1)
	ORDER BY day FOR UPDATE
), x AS (
	DELETE FROM llm_reservations r USING cur WHERE r.expires_at <= $1 AND r.day = cur.day
	RETURNING r.day, r.purpose, r.account_id, r.amount_usd, r.request_id, r.model
), xd AS (
	SELECT day, sum(amount_usd) AS amount FROM x GROUP BY day
), d AS (
	UPDATE llm_budget_days b SET reserved_usd = b.reserved_usd - xd.amount, spent_usd = b.spent_usd + xd.amount,
		updated_at = now()
	FROM xd WHERE b.day = xd.day RETURNING b.day
), xp AS (
	SELECT day, purpose, sum(amount_usd) AS amount FROM x GROUP BY day, purpose
), p AS (
	UPDATE llm_budget_purposes q SET reserved_usd = q.reserved_usd - xp.amount, spent_usd = q.spent_usd + xp.amount
	FROM xp WHERE q.day = xp.day AND q.purpose = xp.purpose RETURNING q.purpose
), xa AS (
	SELECT day, account_id, sum(amount_usd) AS amount FROM x WHERE account_id IS NOT NULL GROUP BY day, account_id
), a AS (
	UPDATE llm_budget_accounts q SET reserved_usd = q.reserved_usd - xa.amount, spent_usd = q.spent_usd + xa.amount
	FROM xa WHERE q.day = xa.day AND q.account_id = xa.account_id RETURNING q.account_id
), u AS (
	INSERT INTO api_usage (request_id, purpose, account_id, model, prompt_tokens, completion_tokens, cost_usd, status, error_code, budget_day, created_at)
	SELECT request_id, purpose, account_id, model, 0, 0, amount_usd, 'failed', '` + llm.ReasonReservationExpired + `', day, $1 FROM x
	RETURNING 1
)
SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM xd), (SELECT count(*) FROM d),
	(SELECT count(*) FROM xp), (SELECT count(*) FROM p), (SELECT count(*) FROM xa), (SELECT count(*) FROM a),
	(SELECT count(*) FROM u)`

// ReclaimExpired implements llm.Ledger.
func (l *LLMLedger) ReclaimExpired(ctx context.Context, now time.Time) (int, error) {
	var rows, days, daysMoved, purposes, purposesMoved, accounts, accountsMoved, usage int64
	if err := l.Pool.QueryRow(ctx, reclaimSQL, now).Scan(&rows, &days, &daysMoved, &purposes, &purposesMoved,
		&accounts, &accountsMoved, &usage); err != nil {
		return 0, fmt.Errorf("reclaim reservations expired by %s: %w", now.UTC().Format(time.RFC3339), err)
	}
	if days != daysMoved || purposes != purposesMoved || accounts != accountsMoved || usage != rows {
		// Cannot happen while every reservation has its ledger rows; the statement has committed.
		return int(rows), fmt.Errorf("reclaim: %d reservations over %d days, %d purposes and %d accounts, but moved %d day, %d purpose and %d account rows",
			rows, days, purposes, accounts, daysMoved, purposesMoved, accountsMoved)
	}
	return int(rows), nil
}

// RecordUsage implements llm.Ledger.
func (l *LLMLedger) RecordUsage(ctx context.Context, u llm.Usage) error {
	_, err := l.Pool.Exec(ctx, `INSERT INTO api_usage (request_id, purpose, model, prompt_tokens, completion_tokens,
		cost_usd, status, error_code, budget_day, created_at, account_id) VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, NULLIF($8, ''), $9::date, $10, $11)`,
		u.RequestID, u.Purpose, u.Model, u.PromptTokens, u.CompletionTokens, usd(u.Cost), u.Status, u.ErrorCode, u.Day, u.At, accountParam(u.AccountID))
	if err != nil {
		return fmt.Errorf("record api usage %s: %w", u.RequestID, err)
	}
	return nil
}

// Circuit implements llm.Ledger.
func (l *LLMLedger) Circuit(ctx context.Context, name string) (llm.Circuit, error) {
	c, err := getCircuit(ctx, l.Pool, name)
	if err != nil {
		return llm.Circuit{}, err
	}
	return llm.Circuit{Open: c.Open, OpenUntil: c.OpenUntil, Reason: c.Reason, OpenedAt: c.OpenedAt, ProbingUntil: c.ProbingUntil}, nil
}

// OpenCircuit implements llm.Ledger.
func (l *LLMLedger) OpenCircuit(ctx context.Context, name string, now, until time.Time, reason string) error {
	return openCircuit(ctx, l.Pool, name, now, until, reason)
}

// CloseCircuit implements llm.Ledger.
func (l *LLMLedger) CloseCircuit(ctx context.Context, name string, now time.Time) error {
	return closeCircuit(ctx, l.Pool, name, now)
}

// ClaimProbe implements llm.Ledger: one conditional UPDATE, so one caller in the fleet wins.
func (l *LLMLedger) ClaimProbe(ctx context.Context, name string, now, holdUntil time.Time) (bool, error) {
	return claimProbe(ctx, l.Pool, name, now, holdUntil)
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
	err := l.Pool.QueryRow(ctx, `SELECT COALESCE((SELECT spent_usd FROM llm_budget_days WHERE day = $1::date), 0)::float8,
		COALESCE((SELECT reserved_usd FROM llm_budget_days WHERE day = $1::date), 0)::float8,
		(SELECT count(*) FROM llm_reservations WHERE day = $1::date)`, day).
		Scan(&b.Spent, &b.Reserved, &b.OpenReservations)
	if err != nil {
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
	rows, err = l.Pool.Query(ctx, `WITH ids AS (
		SELECT account_id FROM llm_budget_accounts WHERE day = $1::date
		UNION SELECT account_id FROM api_usage WHERE budget_day = $1::date AND account_id IS NOT NULL AND error_code = 'budget_exhausted'
	)
	SELECT ids.account_id, COALESCE(a.spent_usd, 0)::float8, COALESCE(a.reserved_usd, 0)::float8,
		(SELECT count(*) FROM api_usage u WHERE u.budget_day = $1::date AND u.account_id = ids.account_id AND u.error_code = 'budget_exhausted')
	FROM ids LEFT JOIN llm_budget_accounts a ON a.day = $1::date AND a.account_id = ids.account_id
	ORDER BY ids.account_id`, day)
	if err != nil {
		return b, fmt.Errorf("read account budgets of %s: %w", day.Format(time.DateOnly), err)
	}
	b.Accounts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (llm.AccountBudget, error) {
		var a llm.AccountBudget
		return a, r.Scan(&a.AccountID, &a.Spent, &a.Reserved, &a.Refused)
	})
	if err != nil {
		return b, fmt.Errorf("read account budgets of %s: %w", day.Format(time.DateOnly), err)
	}
	return b, nil
}
