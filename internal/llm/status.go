package llm

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"
)

// Status is what `xbot llm status` shows.
type Status struct {
	Day         time.Time // budget day in BUDGET_TZ
	Model       string
	SpentUSD    float64
	ReservedUSD float64
	CapUSD      float64
	// OpenReservations is the number of the day's reservations not yet settled or reclaimed: calls in
	// flight, or left by replicas that died mid-call until they expire and are reclaimed.
	OpenReservations int
	Purposes         []PurposeStatus
	// Accounts is each account's spend of the day (its share, budget_usd, is the account's setting).
	Accounts []AccountBudget
	Circuit  CircuitStatus
}

// PurposeStatus is one purpose's spend and cap (HasCap false: only the day's cap applies).
type PurposeStatus struct {
	Purpose     string
	SpentUSD    float64
	ReservedUSD float64
	CapUSD      float64
	HasCap      bool
}

// CircuitStatus is the quota circuit as this replica sees it.
type CircuitStatus struct {
	Open      bool      // no call leaves (forced, or open and cooling down)
	Forced    bool      // AI_QUOTA_CIRCUIT_OPEN=true
	OpenUntil time.Time // zero when closed
	Reason    string
	ProbeDue  bool // the cooldown has passed: the next call is the probe
	Probing   bool // a replica holds the probe claim
}

// Status reads today's ledger and the circuit.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	now := c.cfg.Now()
	day := BudgetDay(now, c.cfg.BudgetTZ)
	b, err := c.ledger.Budget(ctx, day)
	if err != nil {
		return nil, fmt.Errorf("llm: status: %w", err)
	}
	st := &Status{Day: day, Model: c.cfg.Model, SpentUSD: b.Spent, ReservedUSD: b.Reserved, CapUSD: c.cfg.DailyCapUSD,
		OpenReservations: b.OpenReservations, Accounts: b.Accounts}
	seen := map[string]bool{}
	for _, p := range b.Purposes {
		cp, has := c.cfg.PurposeCapsUSD[p.Purpose]
		st.Purposes = append(st.Purposes, PurposeStatus{Purpose: p.Purpose, SpentUSD: p.Spent, ReservedUSD: p.Reserved, CapUSD: cp, HasCap: has})
		seen[p.Purpose] = true
	}
	for p, cp := range c.cfg.PurposeCapsUSD {
		if !seen[p] {
			st.Purposes = append(st.Purposes, PurposeStatus{Purpose: p, CapUSD: cp, HasCap: true})
		}
	}
	sort.Slice(st.Purposes, func(i, j int) bool { return st.Purposes[i].Purpose < st.Purposes[j].Purpose })

	ci, err := c.ledger.Circuit(ctx, CircuitName)
	if err != nil {
		return nil, fmt.Errorf("llm: status: %w", err)
	}
	st.Circuit = CircuitStatus{Forced: c.cfg.ForceCircuitOpen, Reason: ci.Reason}
	if ci.Open {
		st.Circuit.OpenUntil = ci.OpenUntil
		st.Circuit.Open = now.Before(ci.OpenUntil)
		st.Circuit.Probing = !ci.ProbingUntil.IsZero() && now.Before(ci.ProbingUntil)
		st.Circuit.ProbeDue = !st.Circuit.Open && !st.Circuit.Probing
	}
	if c.cfg.ForceCircuitOpen {
		st.Circuit.Open, st.Circuit.Reason = true, ReasonForced
	}
	return st, nil
}

// ReclaimExpired settles every reservation whose caller is presumed dead (past its expiry by this
// client's clock), of any budget day, at its reserved amount, with an api_usage row each (status
// failed, error_code reservation_expired). Reserve already does this for the current day; a periodic
// sweep or `xbot llm status` calls this for the rest (a reservation left just before midnight).
func (c *Client) ReclaimExpired(ctx context.Context) (int, error) {
	n, err := c.ledger.ReclaimExpired(ctx, c.cfg.Now())
	if err != nil {
		return n, fmt.Errorf("llm: reclaim expired reservations: %w", err)
	}
	if n > 0 {
		c.logReclaimed(n, time.Time{})
	}
	return n, nil
}

func (c *Client) logReclaimed(n int, day time.Time) {
	fields := []zap.Field{zap.Int("reclaimed", n)}
	if !day.IsZero() {
		fields = append(fields, zap.String("day", day.Format(time.DateOnly)))
	}
	c.log.Warn("llm: reclaimed expired reservations of dead callers at their reserved amount", fields...)
}

// Reset closes the quota circuit by hand (`xbot llm reset`). AI_QUOTA_CIRCUIT_OPEN, being
// configuration, still holds until it is changed.
func (c *Client) Reset(ctx context.Context) error {
	if err := c.ledger.CloseCircuit(ctx, CircuitName, c.cfg.Now()); err != nil {
		return fmt.Errorf("llm: reset circuit: %w", err)
	}
	c.log.Info("[OPENAI] circuit closed by reset")
	return nil
}

// Available reports whether a call may leave now: a key is set, the circuit is not forced, and it is
// closed or due for its probe. The budget is not consulted (a reservation decides that).
func (c *Client) Available(ctx context.Context) bool {
	if c.cfg.APIKey == "" || c.cfg.ForceCircuitOpen {
		return false
	}
	ci, err := c.ledger.Circuit(ctx, CircuitName)
	if err != nil {
		return false
	}
	now := c.cfg.Now()
	return !ci.Open || (!now.Before(ci.OpenUntil) && (ci.ProbingUntil.IsZero() || !now.Before(ci.ProbingUntil)))
}
