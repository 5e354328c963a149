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
	// amount stays within each cap, atomically across the fleet, and records the reservation (until
	// r.ExpiresAt) in the same step. Before that, in the same step, it reclaims the day's reservations
	// that expired by r.At (see ReclaimExpired). Refused calls get OK=false and the ledger figures of
	// the scope that refused.
	Reserve(ctx context.Context, r Reservation) (Reserved, error)
	// Settle turns the reservation r.ID into spend at u.Cost (0 releases it), deletes it and writes u as
	// an api_usage row, in one transaction — only if the reservation is still open. It reports false,
	// and writes nothing, when the reservation was already reclaimed (counted at its reserved amount).
	Settle(ctx context.Context, r Reservation, u Usage) (settled bool, err error)
	// ReclaimExpired settles every reservation (of any day) whose expiry is at or before now at its
	// reserved amount, writing an api_usage row for each (status failed, error_code
	// reservation_expired). It returns how many it reclaimed.
	ReclaimExpired(ctx context.Context, now time.Time) (int, error)
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
	ID            int64     // set from Reserved.ID once admitted; Settle needs it
	Day           time.Time // the budget day (a date in BUDGET_TZ, at midnight UTC)
	Purpose       string
	Amount        float64
	DayCap        float64
	PurposeCap    float64 // ignored unless HasPurposeCap
	HasPurposeCap bool
	// AccountID is the account the call is made for (0: none); its row of the day is moved with the day's.
	AccountID     int64
	AccountCap    float64 // the account's share of the day (budget_usd); ignored unless HasAccountCap
	HasAccountCap bool
	RequestID     string    // written to api_usage if the reservation is reclaimed
	Model         string    // likewise
	At            time.Time // when the reservation is made (the client's clock)
	ExpiresAt     time.Time // after this the caller is presumed dead and the reservation is reclaimed
}

// ReasonReservationExpired is the api_usage error_code of a reclaimed reservation.
const ReasonReservationExpired = "reservation_expired"

// Reserved is the ledger's answer to Reserve.
type Reserved struct {
	OK        bool
	ID        int64   // the reservation's id when OK
	Reclaimed int     // expired reservations of the day reclaimed by this call
	Scope     string  // when refused: "day", "purpose" or "account"
	Spent     float64 // the scope's settled spend
	Reserved  float64 // the scope's open reservations (after the reservation when OK)
	Cap       float64
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
	AccountID        int64 // 0: no account
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
	Day              time.Time
	Spent            float64
	Reserved         float64
	OpenReservations int // reservations of the day not yet settled or reclaimed
	Purposes         []PurposeBudget
	Accounts         []AccountBudget // accounts with calls (or refusals) on the day, by id
}

// AccountBudget is one account's share of a day.
type AccountBudget struct {
	AccountID int64
	Spent     float64
	Reserved  float64
	Refused   int // the day's calls for it refused by a cap (api_usage error_code budget_exhausted)
}

// PurposeBudget is one purpose's share of a day.
type PurposeBudget struct {
	Purpose  string
	Spent    float64
	Reserved float64
}
