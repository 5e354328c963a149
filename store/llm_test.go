package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/store"
)

var llmDay = time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)

func reservation(purpose string, amount, dayCap float64) llm.Reservation {
	return llm.Reservation{Day: llmDay, Purpose: purpose, Amount: amount, DayCap: dayCap}
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
	require.NoError(t, l.Settle(ctx, reservation("gate", 0.4, 1), llm.Usage{RequestID: "a", Purpose: "gate", Model: "m",
		PromptTokens: 10, CompletionTokens: 5, Cost: 0.3, Status: llm.StatusSuccess, Day: llmDay, At: llmDay}))
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

// BenchmarkReserveSettle is one budgeted call's ledger work: the reservation and the settlement with
// its api_usage row, against real Postgres.
func BenchmarkReserveSettle(b *testing.B) {
	pool, _ := dbtest.Schema(b)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()
	r := reservation("content_generation", 0.000234, 1e6)
	for i := 0; b.Loop(); i++ {
		got, err := l.Reserve(ctx, r)
		if err != nil || !got.OK {
			b.Fatalf("reserve: %v %+v", err, got)
		}
		if err := l.Settle(ctx, r, llm.Usage{RequestID: fmt.Sprint("bench-", i), Purpose: r.Purpose, Model: "gpt-4o-mini",
			PromptTokens: 90, CompletionTokens: 300, Cost: 0.0001935, Status: llm.StatusSuccess, Day: llmDay, At: llmDay}); err != nil {
			b.Fatalf("settle: %v", err)
		}
	}
}

// BenchmarkReserveSettlePurposeCap is the same with a purpose cap (the reservation runs in a transaction).
func BenchmarkReserveSettlePurposeCap(b *testing.B) {
	pool, _ := dbtest.Schema(b)
	l := &store.LLMLedger{Pool: pool}
	ctx := context.Background()
	r := reservation("reply_generation", 0.000234, 1e6)
	r.HasPurposeCap, r.PurposeCap = true, 1e5
	for i := 0; b.Loop(); i++ {
		got, err := l.Reserve(ctx, r)
		if err != nil || !got.OK {
			b.Fatalf("reserve: %v %+v", err, got)
		}
		if err := l.Settle(ctx, r, llm.Usage{RequestID: fmt.Sprint("bench-", i), Purpose: r.Purpose, Model: "gpt-4o-mini",
			PromptTokens: 90, CompletionTokens: 300, Cost: 0.0001935, Status: llm.StatusSuccess, Day: llmDay, At: llmDay}); err != nil {
			b.Fatalf("settle: %v", err)
		}
	}
}
