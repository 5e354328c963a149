package llm

import (
	"context"
	"time"
)

// CircuitName is the quota circuit's row in the circuits table.
const CircuitName = "llm"

// Ledger is the state the client keeps in Postgres: the day's budget ledger, api_usage and the quota
// circuit. Package store implements it (store.LLMLedger). Money is in USD, already rounded to 1e-8.
type Ledger interface {
	// Reserve adds r.Amount to the day's reservations (and the purpose's) only if spent + reserved +
	// amount stays within each cap, atomically across the fleet. Refused calls get OK=false and the
	// ledger figures of the scope that refused.
	Reserve(ctx context.Context, r Reservation) (Reserved, error)
	// Settle turns a reservation into spend at u.Cost (0 releases it) and writes u as an api_usage row,
	// in one transaction.
	Settle(ctx context.Context, r Reservation, u Usage) error
	// RecordUsage writes an api_usage row for a call that reserved nothing (refused before it left).
	RecordUsage(ctx context.Context, u Usage) error

	// Circuit reads the quota circuit; one never opened is closed.
	Circuit(ctx context.Context, name string) (Circuit, error)
	// OpenCircuit opens (or re-opens) the circuit until the given time and drops any probe claim.
	OpenCircuit(ctx context.Context, name string, now, until time.Time, reason string) error
	// CloseCircuit closes the circuit.
	CloseCircuit(ctx context.Context, name string, now time.Time) error
	// ClaimProbe lets exactly one caller probe a circuit whose open period has passed (until holdUntil).
	ClaimProbe(ctx context.Context, name string, now, holdUntil time.Time) (bool, error)
	// ReleaseProbe gives up a probe claim without deciding (the probe's outcome was unknown).
	ReleaseProbe(ctx context.Context, name string, now time.Time) error

	// Budget reads the day's ledger and its purposes.
	Budget(ctx context.Context, day time.Time) (DayBudget, error)
}

// Reservation is one call's hold on the budget.
type Reservation struct {
	Day           time.Time // the budget day (a date in BUDGET_TZ, at midnight UTC)
	Purpose       string
	Amount        float64
	DayCap        float64
	PurposeCap    float64 // ignored unless HasPurposeCap
	HasPurposeCap bool
}

// Reserved is the ledger's answer to Reserve.
type Reserved struct {
	OK       bool
	Scope    string  // when refused: "day" or "purpose"
	Spent    float64 // the scope's settled spend
	Reserved float64 // the scope's open reservations (after the reservation when OK)
	Cap      float64
}

// Usage statuses of api_usage.
const (
	StatusSuccess = "success"
	StatusFailed  = "failed"
	StatusRefused = "refused"
)

// Usage is one api_usage row.
type Usage struct {
	RequestID        string
	Purpose          string
	Model            string
	PromptTokens     int64
	CompletionTokens int64
	Cost             float64
	Status           string
	ErrorCode        string // empty for success
	Day              time.Time
	At               time.Time
}

// Circuit is the fleet-wide state of a circuit.
type Circuit struct {
	Open         bool
	OpenUntil    time.Time
	Reason       string
	OpenedAt     time.Time
	ProbingUntil time.Time // zero when no probe is claimed
}

// DayBudget is the ledger of one day.
type DayBudget struct {
	Day      time.Time
	Spent    float64
	Reserved float64
	Purposes []PurposeBudget
}

// PurposeBudget is one purpose's share of a day.
type PurposeBudget struct {
	Purpose  string
	Spent    float64
	Reserved float64
}
