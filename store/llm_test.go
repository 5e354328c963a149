package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/store"
)

var (
	llmDay = time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	// llmNow is when the tests' reservations are made; they expire llmTTL later.
	llmNow = llmDay.Add(15 * time.Hour)
)

const llmTTL = 3 * time.Minute

func reservation(purpose string, amount, dayCap float64) llm.Reservation {
	return llm.Reservation{Day: llmDay, Purpose: purpose, Amount: amount, DayCap: dayCap,
		RequestID: "req-" + purpose, Model: "gpt-4o-mini", At: llmNow, ExpiresAt: llmNow.Add(llmTTL)}
}

// reserve reserves r and returns it with its id, failing the test unless it was admitted.
func reserve(t testing.TB, l *store.LLMLedger, r llm.Reservation) llm.Reservation {
	t.Helper()
	got, err := l.Reserve(context.Background(), r)
	require.NoError(t, err)
	require.True(t, got.OK, "%+v", got)
	require.Positive(t, got.ID)
	r.ID = got.ID
	return r
}

// ledgerTotals is the whole ledger next to what it must agree with: spent and reserved of the days,
// SUM(api_usage.cost_usd), SUM of the open reservations, and the purposes' sums, as exact numeric text.
type ledgerTotals struct {
	Spent, Reserved, Usage, Open, PurposeSpent, PurposeReserved string
}

func totals(t testing.TB, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) ledgerTotals {
	t.Helper()
	var g ledgerTotals
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT
		(SELECT COALESCE(SUM(spent_usd), 0) FROM llm_budget_days)::text,
		(SELECT COALESCE(SUM(reserved_usd), 0) FROM llm_budget_days)::text,
		(SELECT COALESCE(SUM(cost_usd), 0) FROM api_usage)::text,
		(SELECT COALESCE(SUM(amount_usd), 0) FROM llm_reservations)::text,
		(SELECT COALESCE(SUM(spent_usd), 0) FROM llm_budget_purposes)::text,
		(SELECT COALESCE(SUM(reserved_usd), 0) FROM llm_budget_purposes)::text`).
		Scan(&g.Spent, &g.Reserved, &g.Usage, &g.Open, &g.PurposeSpent, &g.PurposeReserved))
	return g
}

func TestLLMLedgerReserveHoldsTheDayCap(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()

	// First call of a day whose cap it alone exceeds: refused, nothing written.
	got, err := l.Reserve(ctx, reservation("gate", 2, 1))
	require.NoError(t, err)
	require.Equal(t, llm.Reserved{OK: false, Scope: "day", Cap: 1}, got)

	got, err = l.Reserve(ctx, reservation("gate", 0.4, 1))
	require.NoError(t, err)
	require.True(t, got.OK)
	require.InDelta(t, 0.4, got.Reserved, 1e-12)
	r := reservation("gate", 0.4, 1)
	r.ID = got.ID
	settled, err := l.Settle(ctx, r, llm.Usage{RequestID: "a", Purpose: "gate", Model: "m",
		PromptTokens: 10, CompletionTokens: 5, Cost: 0.3, Status: llm.StatusSuccess, Day: llmDay, At: llmDay})
	require.NoError(t, err)
	require.True(t, settled)
	got, err = l.Reserve(ctx, reservation("gate", 0.7, 1))
	require.NoError(t, err)
	require.True(t, got.OK, "0.3 spent + 0.7 = 1 fits exactly")
	got, err = l.Reserve(ctx, reservation("gate", 0.00000001, 1))
	require.NoError(t, err)
	require.Equal(t, llm.Reserved{OK: false, Scope: "day", Spent: 0.3, Reserved: 0.7, Cap: 1}, got)

	b, err := l.Budget(ctx, llmDay)
	require.NoError(t, err)
	require.InDelta(t, 0.3, b.Spent, 1e-12)
	require.InDelta(t, 0.7, b.Reserved, 1e-12)
	require.Equal(t, []llm.PurposeBudget{{Purpose: "gate", Spent: 0.3, Reserved: 0.7}}, b.Purposes)
	require.Equal(t, 1, b.OpenReservations)

	var tokens, completion int
	var cost, status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT prompt_tokens, completion_tokens, cost_usd::text, status FROM api_usage WHERE request_id = 'a'`).
		Scan(&tokens, &completion, &cost, &status))
	require.Equal(t, []any{10, 5, "0.30000000", "success"}, []any{tokens, completion, cost, status})
}

func TestLLMLedgerPurposeCapRollsBackTheDay(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()
	r := reservation("reply_generation", 0.6, 5)
	r.HasPurposeCap, r.PurposeCap = true, 1
	got, err := l.Reserve(ctx, r)
	require.NoError(t, err)
	require.True(t, got.OK)
	got, err = l.Reserve(ctx, r)
	require.NoError(t, err)
	require.False(t, got.OK)
	require.Equal(t, "purpose", got.Scope)
	require.InDelta(t, 0.6, got.Reserved, 1e-12)
	require.InDelta(t, 1, got.Cap, 1e-12)

	b, err := l.Budget(ctx, llmDay)
	require.NoError(t, err)
	require.InDelta(t, 0.6, b.Reserved, 1e-12, "the refused purpose reservation must not stay on the day")
	require.InDelta(t, 0.6, b.Purposes[0].Reserved, 1e-12)
	require.Equal(t, 1, b.OpenReservations, "the refused reservation's row was rolled back too")
}

func TestLLMLedgerCircuitProbeIsClaimedOnce(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

	c, err := l.Circuit(ctx, llm.CircuitName)
	require.NoError(t, err)
	require.False(t, c.Open)
	require.NoError(t, l.OpenCircuit(ctx, llm.CircuitName, now, now.Add(time.Hour), "insufficient_quota"))
	ok, err := l.ClaimProbe(ctx, llm.CircuitName, now.Add(30*time.Minute), now.Add(32*time.Minute))
	require.NoError(t, err)
	require.False(t, ok, "no probe before the cooldown ends")

	later := now.Add(61 * time.Minute)
	claims := 0
	for range 5 {
		ok, err := l.ClaimProbe(ctx, llm.CircuitName, later, later.Add(2*time.Minute))
		require.NoError(t, err)
		if ok {
			claims++
		}
	}
	require.Equal(t, 1, claims)
	c, err = l.Circuit(ctx, llm.CircuitName)
	require.NoError(t, err)
	require.True(t, c.Open)
	require.Equal(t, later.Add(2*time.Minute), c.ProbingUntil.UTC())

	require.NoError(t, l.ReleaseProbe(ctx, llm.CircuitName, later))
	ok, err = l.ClaimProbe(ctx, llm.CircuitName, later, later.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, ok, "a released probe may be claimed again")

	require.NoError(t, l.CloseCircuit(ctx, llm.CircuitName, later))
	c, err = l.Circuit(ctx, llm.CircuitName)
	require.NoError(t, err)
	require.Equal(t, llm.Circuit{}, c)
}

// A replica killed between reserve and settle leaves its reservation row; once it expires, the next
// reservation of the day reclaims it at its amount (OpenAI may have billed the call), whichever way
// that reservation goes; a late settle of it then records nothing.
func TestLLMLedgerReserveReclaimsExpiredReservations(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()

	crashed := reserve(t, l, reservation("gate", 0.4, 1))
	alive := reservation("reply_generation", 0.25, 1)
	alive.At, alive.ExpiresAt = llmNow.Add(time.Minute), llmNow.Add(time.Minute+llmTTL)
	alive = reserve(t, l, alive)

	// Not yet expired: nothing reclaimed, and the open reservations keep their budget.
	early := reservation("gate", 0.36, 1)
	early.At = crashed.ExpiresAt.Add(-time.Second)
	got, err := l.Reserve(ctx, early)
	require.NoError(t, err)
	require.Equal(t, llm.Reserved{OK: false, Scope: "day", Spent: 0, Reserved: 0.65, Cap: 1}, got)

	// At its expiry the crashed reservation is spent at its amount, even though this one is refused
	// too (the cap counts it either way).
	late := early
	late.At, late.RequestID = crashed.ExpiresAt, "req-late"
	got, err = l.Reserve(ctx, late)
	require.NoError(t, err)
	require.Equal(t, llm.Reserved{OK: false, Reclaimed: 1, Scope: "day", Spent: 0.4, Reserved: 0.25, Cap: 1}, got)
	require.Equal(t, ledgerTotals{Spent: "0.40000000", Reserved: "0.25000000", Usage: "0.40000000", Open: "0.25000000",
		PurposeSpent: "0.40000000", PurposeReserved: "0.25000000"}, totals(t, pool))
	var reqID, status, code, cost string
	var day time.Time
	var at time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT request_id, status, error_code, cost_usd::text, budget_day, created_at FROM api_usage`).
		Scan(&reqID, &status, &code, &cost, &day, &at))
	require.Equal(t, []any{"req-gate", "failed", "reservation_expired", "0.40000000"}, []any{reqID, status, code, cost})
	require.Equal(t, llmDay, day.UTC())
	require.Equal(t, crashed.ExpiresAt, at.UTC())

	// The crashed caller comes back and settles: nothing more is counted.
	settled, err := l.Settle(ctx, crashed, llm.Usage{RequestID: "req-gate", Purpose: "gate", Model: "gpt-4o-mini",
		PromptTokens: 100, CompletionTokens: 50, Cost: 0.1, Status: llm.StatusSuccess, Day: llmDay, At: crashed.ExpiresAt})
	require.NoError(t, err)
	require.False(t, settled)
	require.Equal(t, ledgerTotals{Spent: "0.40000000", Reserved: "0.25000000", Usage: "0.40000000", Open: "0.25000000",
		PurposeSpent: "0.40000000", PurposeReserved: "0.25000000"}, totals(t, pool))

	// A reservation that fits reclaims too, in the same statement; the live one settles normally.
	fits := reservation("gate", 0.1, 1)
	fits.At, fits.ExpiresAt, fits.RequestID = alive.ExpiresAt.Add(-time.Second), alive.ExpiresAt.Add(llmTTL), "req-fits"
	fits = reserve(t, l, fits)
	settled, err = l.Settle(ctx, alive, llm.Usage{RequestID: alive.RequestID, Purpose: alive.Purpose, Model: "gpt-4o-mini",
		Cost: 0.05, Status: llm.StatusSuccess, Day: llmDay, At: fits.At})
	require.NoError(t, err)
	require.True(t, settled)
	require.Equal(t, ledgerTotals{Spent: "0.45000000", Reserved: "0.10000000", Usage: "0.45000000", Open: "0.10000000",
		PurposeSpent: "0.45000000", PurposeReserved: "0.10000000"}, totals(t, pool))
	b, err := l.Budget(ctx, llmDay)
	require.NoError(t, err)
	require.Equal(t, 1, b.OpenReservations)
	require.Equal(t, []llm.PurposeBudget{{Purpose: "gate", Spent: 0.4, Reserved: 0.1}, {Purpose: "reply_generation", Spent: 0.05}}, b.Purposes)

	got, err = l.Reserve(ctx, reservation("gate", 0.01, 1))
	require.NoError(t, err)
	require.True(t, got.OK)
	require.Zero(t, got.Reclaimed, "a reclaimed reservation is reclaimed once")
}

func TestLLMLedgerReclaimExpiredSweepsEveryDay(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()

	yesterday := reservation("gate", 0.2, 1)
	yesterday.Day, yesterday.At, yesterday.ExpiresAt = llmDay.AddDate(0, 0, -1), llmDay.Add(-time.Minute), llmDay.Add(2*time.Minute)
	yesterday = reserve(t, l, yesterday)
	today := reserve(t, l, reservation("content_generation", 0.3, 1))
	open := reservation("content_generation", 0.5, 1)
	open.ExpiresAt = llmNow.Add(time.Hour)
	reserve(t, l, open)

	n, err := l.ReclaimExpired(ctx, yesterday.ExpiresAt.Add(-time.Nanosecond))
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = l.ReclaimExpired(ctx, today.ExpiresAt)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = l.ReclaimExpired(ctx, today.ExpiresAt)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, ledgerTotals{Spent: "0.50000000", Reserved: "0.50000000", Usage: "0.50000000", Open: "0.50000000",
		PurposeSpent: "0.50000000", PurposeReserved: "0.50000000"}, totals(t, pool))
	for day, want := range map[time.Time][2]float64{llmDay.AddDate(0, 0, -1): {0.2, 0}, llmDay: {0.3, 0.5}} {
		b, err := l.Budget(ctx, day)
		require.NoError(t, err)
		require.Equal(t, want, [2]float64{b.Spent, b.Reserved}, day)
	}
	var codes []string
	rows, err := pool.Query(ctx, `SELECT request_id || ':' || error_code FROM api_usage ORDER BY budget_day`)
	require.NoError(t, err)
	codes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"req-gate:reservation_expired", "req-content_generation:reservation_expired"}, codes)
}

// Late settles race the sweep and reservations that reclaim: each reservation is counted exactly once,
// by whichever statement deletes its row, and none of them deadlocks.
func TestLLMLedgerLateSettleRacesReclaim(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()

	const n = 40
	rs := make([]llm.Reservation, n)
	for i := range rs {
		r := reservation(fmt.Sprint("p", i%3), 0.01, 10)
		r.RequestID = fmt.Sprint("crashed-", i)
		rs[i] = reserve(t, l, r)
	}
	after := llmNow.Add(llmTTL)
	var wg sync.WaitGroup
	var settledCount atomic.Int64
	errs := make(chan error, 3*n)
	for i, r := range rs {
		wg.Go(func() {
			ok, err := l.Settle(ctx, r, llm.Usage{RequestID: r.RequestID, Purpose: r.Purpose, Model: "gpt-4o-mini",
				Cost: 0.004, Status: llm.StatusSuccess, Day: llmDay, At: after})
			if ok {
				settledCount.Add(1)
			}
			errs <- err
		})
		if i%4 == 0 {
			wg.Go(func() { _, err := l.ReclaimExpired(ctx, after); errs <- err })
		}
		if i%4 == 2 {
			wg.Go(func() {
				fresh := reservation(r.Purpose, 0.001, 10)
				fresh.At, fresh.ExpiresAt, fresh.RequestID = after, after.Add(llmTTL), fmt.Sprint("fresh-", i)
				_, err := l.Reserve(ctx, fresh)
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err := l.ReclaimExpired(ctx, after)
	require.NoError(t, err)

	var usageRows, expired int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE request_id LIKE 'crashed-%'),
		count(*) FILTER (WHERE error_code = 'reservation_expired') FROM api_usage`).Scan(&usageRows, &expired))
	require.Equal(t, n, usageRows, "each crashed reservation is recorded exactly once")
	require.EqualValues(t, n, int64(expired)+settledCount.Load())
	g := totals(t, pool)
	require.Equal(t, g.Spent, g.Usage, "spent == SUM(api_usage.cost_usd)")
	require.Equal(t, g.Reserved, g.Open, "reserved == SUM(open reservations)")
	require.Equal(t, g.Spent, g.PurposeSpent)
	require.Equal(t, g.Reserved, g.PurposeReserved)
}

// BenchmarkReserveSettle is one budgeted call's ledger work, against real Postgres: the reservation
// (the day's lazy reclaim, the conditional ledger update and the reservation row, one statement) and
// the settlement (the reservation row deleted, the ledger moved, the api_usage row, one statement).
func BenchmarkReserveSettle(b *testing.B) {
	pool, _ := dbtest.Schema(b)
	l := &store.LLMLedger{Pool: pool}
	r := reservation("content_generation", 0.000234, 1e6)
	benchReserveSettle(b, l, r)
}

func benchReserveSettle(b *testing.B, l *store.LLMLedger, r llm.Reservation) {
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		r.RequestID = fmt.Sprint("bench-", i)
		got, err := l.Reserve(ctx, r)
		if err != nil || !got.OK {
			b.Fatalf("reserve: %v %+v", err, got)
		}
		r.ID = got.ID
		settled, err := l.Settle(ctx, r, llm.Usage{RequestID: r.RequestID, Purpose: r.Purpose, Model: "gpt-4o-mini",
			PromptTokens: 90, CompletionTokens: 300, Cost: 0.0001935, Status: llm.StatusSuccess, Day: llmDay, At: llmNow})
		if err != nil || !settled {
			b.Fatalf("settle: %v settled=%v", err, settled)
		}
	}
}

// BenchmarkReserveSettlePurposeCap is the same with a purpose cap (the reservation runs in a transaction).
func BenchmarkReserveSettlePurposeCap(b *testing.B) {
	pool, _ := dbtest.Schema(b)
	l := &store.LLMLedger{Pool: pool}
	r := reservation("reply_generation", 0.000234, 1e6)
	r.HasPurposeCap, r.PurposeCap = true, 1e5
	benchReserveSettle(b, l, r)
}

// accountTotals is every account's ledger next to what it must agree with: the accounts' spent and
// reserved, the api_usage cost and open reservations made for an account, as exact numeric text.
func accountTotals(t testing.TB, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) [4]string {
	t.Helper()
	var g [4]string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT
		(SELECT COALESCE(SUM(spent_usd), 0) FROM llm_budget_accounts)::text,
		(SELECT COALESCE(SUM(reserved_usd), 0) FROM llm_budget_accounts)::text,
		(SELECT COALESCE(SUM(cost_usd), 0) FROM api_usage WHERE account_id IS NOT NULL)::text,
		(SELECT COALESCE(SUM(amount_usd), 0) FROM llm_reservations WHERE account_id IS NOT NULL)::text`).
		Scan(&g[0], &g[1], &g[2], &g[3]))
	return g
}

// An account's share (budget_usd) refuses what would take the account past it, rolling back the whole
// reservation; the day's cap still binds an account within its share; settle and reclaim move the
// account's row with the day's.
func TestLLMLedgerAccountShare(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()
	forAccount := func(id int64, amount float64, share float64) llm.Reservation {
		r := reservation("content_generation", amount, 1.5)
		r.AccountID, r.RequestID = id, fmt.Sprintf("req-%d-%v", id, amount)
		if share > 0 {
			r.HasAccountCap, r.AccountCap = true, share
		}
		return r
	}

	a1 := reserve(t, l, forAccount(1, 0.6, 1))
	got, err := l.Reserve(ctx, forAccount(1, 0.6, 1))
	require.NoError(t, err)
	require.Equal(t, llm.Reserved{Scope: "account", Spent: 0, Reserved: 0.6, Cap: 1}, got)
	b, err := l.Budget(ctx, llmDay)
	require.NoError(t, err)
	require.InDelta(t, 0.6, b.Reserved, 1e-12, "the refused account reservation must not stay on the day")
	require.Equal(t, 1, b.OpenReservations)
	require.Equal(t, []llm.PurposeBudget{{Purpose: "content_generation", Reserved: 0.6}}, b.Purposes)

	// Account 2 has no share of its own: only the day's cap (1.5) binds it.
	a2 := reserve(t, l, forAccount(2, 0.8, 0))
	got, err = l.Reserve(ctx, forAccount(2, 0.2, 0))
	require.NoError(t, err)
	require.Equal(t, "day", got.Scope)
	require.False(t, got.OK)

	settled, err := l.Settle(ctx, a1, llm.Usage{RequestID: a1.RequestID, Purpose: a1.Purpose, AccountID: 1, Model: "m",
		Cost: 0.3, Status: llm.StatusSuccess, Day: llmDay, At: llmNow})
	require.NoError(t, err)
	require.True(t, settled)
	// 0.3 + 0.7 fits account 1's share of 1, but not the day's 1.5 (0.3 spent + 0.8 reserved by account 2).
	got, err = l.Reserve(ctx, forAccount(1, 0.7, 1))
	require.NoError(t, err)
	require.Equal(t, llm.Reserved{Scope: "day", Spent: 0.3, Reserved: 0.8, Cap: 1.5}, got)
	a1b := reserve(t, l, forAccount(1, 0.4, 1))

	b, err = l.Budget(ctx, llmDay)
	require.NoError(t, err)
	require.Equal(t, []llm.AccountBudget{{AccountID: 1, Spent: 0.3, Reserved: 0.4}, {AccountID: 2, Reserved: 0.8}}, b.Accounts)

	// Both open reservations expire: the sweep counts them as spent on their accounts too.
	n, err := l.ReclaimExpired(ctx, a2.ExpiresAt)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	b, err = l.Budget(ctx, llmDay)
	require.NoError(t, err)
	require.Equal(t, []llm.AccountBudget{{AccountID: 1, Spent: 0.7}, {AccountID: 2, Spent: 0.8}}, b.Accounts)
	settled, err = l.Settle(ctx, a1b, llm.Usage{RequestID: a1b.RequestID, Purpose: a1b.Purpose, AccountID: 1, Model: "m",
		Cost: 0.1, Status: llm.StatusSuccess, Day: llmDay, At: llmNow})
	require.NoError(t, err)
	require.False(t, settled, "reclaimed already")

	// Account 1 has 0.3 left of its share; the day has 0. A call for no account is bound by the day only.
	got, err = l.Reserve(ctx, forAccount(1, 0.31, 1))
	require.NoError(t, err)
	require.Equal(t, "day", got.Scope)
	g := totals(t, pool)
	require.Equal(t, g.Spent, g.Usage)
	require.Equal(t, [4]string{"1.50000000", "0.00000000", "1.50000000", "0"}, accountTotals(t, pool))
	var refusedFor int64
	require.NoError(t, l.RecordUsage(ctx, llm.Usage{RequestID: "refused", Purpose: "content_generation", AccountID: 2, Model: "m",
		Status: llm.StatusRefused, ErrorCode: "budget_exhausted", Day: llmDay, At: llmNow}))
	require.NoError(t, pool.QueryRow(ctx, `SELECT account_id FROM api_usage WHERE request_id = 'refused'`).Scan(&refusedFor))
	require.EqualValues(t, 2, refusedFor)
}

// Reservations for two accounts (one with a share) race reclaims and settles from many goroutines: the
// share holds exactly, and each account's row agrees with its reservations and usage rows.
func TestLLMLedgerAccountShareConcurrent(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()
	var wg sync.WaitGroup
	var admitted [3]atomic.Int64
	errs := make(chan error, 200)
	for i := range 120 {
		acct := int64(1 + i%2)
		wg.Go(func() {
			r := reservation("content_generation", 0.01, 100)
			r.AccountID, r.RequestID = acct, fmt.Sprint("c-", i)
			if acct == 1 {
				r.HasAccountCap, r.AccountCap = true, 0.25
			}
			got, err := l.Reserve(ctx, r)
			if err != nil || !got.OK {
				errs <- err
				return
			}
			admitted[acct].Add(1)
			r.ID = got.ID
			if i%3 == 0 {
				return // left open (a dead caller): reclaimed below at its amount
			}
			_, err = l.Settle(ctx, r, llm.Usage{RequestID: r.RequestID, Purpose: r.Purpose, AccountID: acct, Model: "m",
				Cost: 0.01, Status: llm.StatusSuccess, Day: llmDay, At: llmNow})
			errs <- err
		})
		if i%10 == 0 {
			wg.Go(func() { _, err := l.ReclaimExpired(ctx, llmNow); errs <- err })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err := l.ReclaimExpired(ctx, llmNow.Add(llmTTL))
	require.NoError(t, err)
	require.EqualValues(t, 25, admitted[1].Load(), "exactly the share: 25 calls of 0.01 in 0.25")
	require.EqualValues(t, 60, admitted[2].Load(), "no share: every call")
	b, err := l.Budget(ctx, llmDay)
	require.NoError(t, err)
	require.Equal(t, []llm.AccountBudget{{AccountID: 1, Spent: 0.25}, {AccountID: 2, Spent: 0.6}}, b.Accounts)
	require.Equal(t, [4]string{"0.85000000", "0.00000000", "0.85000000", "0"}, accountTotals(t, pool))
	g := totals(t, pool)
	require.Equal(t, g.Spent, g.Usage)
	require.Equal(t, "0.85000000", g.Spent)
}
