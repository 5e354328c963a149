package llm

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel kinds, checked with errors.Is. The typed errors below match them too.
var (
	// ErrBudgetExhausted: the call did not fit under the day's, the purpose's or the account's cap; nothing was sent.
	ErrBudgetExhausted = errors.New("llm: budget exhausted")
	// ErrQuotaExhausted: OpenAI answered insufficient_quota or one of its kin; the circuit is now open.
	ErrQuotaExhausted = errors.New("llm: OpenAI quota exhausted")
	// ErrCircuitOpen: the quota circuit is open (or forced open); nothing was sent.
	ErrCircuitOpen = errors.New("llm: quota circuit open")
	// ErrInvalidOutput: the model's output was truncated or did not parse or validate against the schema.
	ErrInvalidOutput = errors.New("llm: invalid output")
	// ErrRefusal: the model refused (message.refusal or a content filter).
	ErrRefusal = errors.New("llm: model refused")
	// ErrPermanent: a request OpenAI will refuse again unchanged (400, 401, 403, 404, 422).
	ErrPermanent = errors.New("llm: permanent API error")
	// ErrOutcomeUnknown: the request may have reached OpenAI but no answer came back (cancelled,
	// connection lost); the reservation was kept as spent since OpenAI may bill it.
	ErrOutcomeUnknown = errors.New("llm: outcome unknown")
)

// BudgetExhaustedError says which cap refused a call and where the ledger stood.
type BudgetExhaustedError struct {
	Scope     string  // "day", "purpose" or "account"
	Purpose   string  // the call's purpose
	AccountID int64   // the account the call was for (0: none); its share refused it when Scope is "account"
	Spent     float64 // settled spend of the scope, USD
	Reserved  float64 // open reservations of the scope, USD
	Cap       float64 // the scope's cap, USD
	Need      float64 // the refused reservation, USD
}

func (e *BudgetExhaustedError) Error() string {
	if e.Scope == "account" {
		return fmt.Sprintf("llm: account %d's budget share exhausted (purpose %s): spent=%.6f reserved=%.6f need=%.6f cap=%.6f",
			e.AccountID, e.Purpose, e.Spent, e.Reserved, e.Need, e.Cap)
	}
	return fmt.Sprintf("llm: %s budget exhausted (purpose %s): spent=%.6f reserved=%.6f need=%.6f cap=%.6f",
		e.Scope, e.Purpose, e.Spent, e.Reserved, e.Need, e.Cap)
}

// Is makes errors.Is(err, ErrBudgetExhausted) true.
func (e *BudgetExhaustedError) Is(target error) bool { return target == ErrBudgetExhausted }

// QuotaError is OpenAI's quota answer (insufficient_quota and kin).
type QuotaError struct {
	StatusCode int
	Code       string
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("llm: OpenAI quota exhausted: status %d code %s", e.StatusCode, e.Code)
}

// Is makes errors.Is(err, ErrQuotaExhausted) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExhausted }

// CircuitOpenError is a call refused because the quota circuit is open.
type CircuitOpenError struct {
	Until  time.Time // zero when forced open (no end)
	Reason string    // insufficient_quota | forced
}

func (e *CircuitOpenError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("llm: quota circuit open reason=%s", e.Reason)
	}
	return fmt.Sprintf("llm: quota circuit open until=%s reason=%s", e.Until.UTC().Format(time.RFC3339), e.Reason)
}

// Is makes errors.Is(err, ErrCircuitOpen) true.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// RetryableError is a transient refusal (429 rate limit, 408, 409, 5xx). RetryAfter is the server's
// hint (retry-after, retry-after-ms, x-ratelimit-reset-*), zero when it gave none.
type RetryableError struct {
	StatusCode int
	Code       string
	RetryAfter time.Duration
}

func (e *RetryableError) Error() string {
	return fmt.Sprintf("llm: retryable API error: status %d code %s retry_after=%s", e.StatusCode, e.Code, e.RetryAfter)
}

// PermanentError is an API refusal that will not change on retry.
type PermanentError struct {
	StatusCode int
	Code       string
	Type       string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("llm: permanent API error: status %d type %s code %s", e.StatusCode, e.Type, e.Code)
}

// Is makes errors.Is(err, ErrPermanent) true.
func (e *PermanentError) Is(target error) bool { return target == ErrPermanent }

// OutputError is output that cannot be used: truncated, unparseable, off-schema or refused.
// Kind is ErrInvalidOutput or ErrRefusal.
type OutputError struct {
	Kind   error
	Reason string
}

func (e *OutputError) Error() string { return fmt.Sprintf("%v: %s", e.Kind, e.Reason) }

// Unwrap exposes the kind to errors.Is.
func (e *OutputError) Unwrap() error { return e.Kind }
