package llm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
)

// Response formats (OPENAI_RESPONSE_FORMAT).
const (
	FormatJSONSchema = "json_schema"
	FormatJSONObject = "json_object"
)

// Circuit reasons, as logged.
const (
	ReasonInsufficientQuota = "insufficient_quota"
	ReasonForced            = "forced"
)

// forcedUntil is what the log line shows for a forced circuit: it has no end.
var forcedUntil = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// Config is the client's settings; New fills defaults and validates.
type Config struct {
	APIKey           string
	BaseURL          string // empty: OpenAI's
	Model            string // default gpt-4o-mini
	Temperature      float64
	TopP             float64 // as given: 0 is a valid top_p
	ResponseFormat   string  // json_schema (default) | json_object
	DefaultMaxTokens int     // default 300; a Request's MaxTokens overrides it
	Price            Price   // required: USD per 1M tokens
	DailyCapUSD      float64 // the day's hard cap; 0 allows nothing
	PurposeCapsUSD   map[string]float64
	BudgetTZ         *time.Location // default UTC
	CircuitCooldown  time.Duration  // default 1h
	ForceCircuitOpen bool           // AI_QUOTA_CIRCUIT_OPEN
	ProbeHold        time.Duration  // how long one replica's probe claim lasts; default 2m
	CallTimeout      time.Duration  // deadline of one HTTP call; default 60s
	SettleTimeout    time.Duration  // deadline of the ledger write after a call; default 15s
	// ReservationTTL is how long a reservation outlives its reserve: past it, its caller is presumed
	// dead (killed between reserve and settle) and the reservation is reclaimed at its amount. Default
	// CallTimeout + SettleTimeout + 1m; it must exceed CallTimeout + SettleTimeout, the margin
	// covering clock skew between replicas.
	ReservationTTL time.Duration
	HTTPClient     *http.Client
	Logger         *zap.Logger
	Now            func() time.Time
}

// FromConfig maps the process configuration onto the client's.
func FromConfig(c *config.Config, log *zap.Logger) Config {
	return Config{
		APIKey:           c.OpenAIAPIKey,
		BaseURL:          c.OpenAIBaseURL,
		Model:            c.OpenAIModel,
		Temperature:      c.OpenAITemperature,
		TopP:             c.OpenAITopP,
		ResponseFormat:   c.OpenAIResponseFormat,
		DefaultMaxTokens: c.OpenAIMaxTokens,
		Price:            Price{InputPerM: c.OpenAIPrice.InputPerM, OutputPerM: c.OpenAIPrice.OutputPerM},
		DailyCapUSD:      c.DailyOpenAILimitUSD,
		PurposeCapsUSD:   c.OpenAIPurposeLimits,
		BudgetTZ:         c.BudgetTZ,
		CircuitCooldown:  c.LLMCircuitCooldown,
		ForceCircuitOpen: c.AIQuotaCircuitOpen,
		Logger:           log,
	}
}

// Client is the budgeted LLM client. It is safe for concurrent use; every replica has its own, and
// they agree through the Ledger.
type Client struct {
	cfg    Config
	ledger Ledger
	api    openai.Client
	log    *zap.Logger
}

// New validates cfg and returns a client over ledger.
func New(cfg Config, ledger Ledger) (*Client, error) {
	cfg.Model = cmp.Or(cfg.Model, "gpt-4o-mini")
	cfg.ResponseFormat = cmp.Or(cfg.ResponseFormat, FormatJSONSchema)
	cfg.DefaultMaxTokens = cmp.Or(cfg.DefaultMaxTokens, 300)
	cfg.CircuitCooldown = cmp.Or(cfg.CircuitCooldown, time.Hour)
	cfg.ProbeHold = cmp.Or(cfg.ProbeHold, 2*time.Minute)
	cfg.CallTimeout = cmp.Or(cfg.CallTimeout, 60*time.Second)
	cfg.SettleTimeout = cmp.Or(cfg.SettleTimeout, 15*time.Second)
	cfg.ReservationTTL = cmp.Or(cfg.ReservationTTL, cfg.CallTimeout+cfg.SettleTimeout+time.Minute)
	if cfg.BudgetTZ == nil {
		cfg.BudgetTZ = time.UTC
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case ledger == nil:
		return nil, errors.New("llm: new client: a ledger is required")
	case cfg.ResponseFormat != FormatJSONSchema && cfg.ResponseFormat != FormatJSONObject:
		return nil, fmt.Errorf("llm: new client: response format %q: json_schema or json_object", cfg.ResponseFormat)
	case cfg.Price.InputPerM <= 0 || cfg.Price.OutputPerM <= 0:
		return nil, fmt.Errorf("llm: new client: model %s needs positive input and output prices", cfg.Model)
	case cfg.DailyCapUSD < 0:
		return nil, errors.New("llm: new client: the daily cap must not be negative")
	case cfg.Temperature < 0 || cfg.Temperature > 2:
		return nil, errors.New("llm: new client: temperature must be within 0..2")
	case cfg.TopP < 0 || cfg.TopP > 1:
		return nil, errors.New("llm: new client: top_p must be within 0..1")
	case cfg.DefaultMaxTokens < 1:
		return nil, errors.New("llm: new client: max tokens must be at least 1")
	case cfg.ReservationTTL <= cfg.CallTimeout+cfg.SettleTimeout:
		return nil, fmt.Errorf("llm: new client: reservation TTL %s must exceed call timeout + settle timeout (%s)",
			cfg.ReservationTTL, cfg.CallTimeout+cfg.SettleTimeout)
	}
	for p, v := range cfg.PurposeCapsUSD {
		if v < 0 {
			return nil, fmt.Errorf("llm: new client: purpose %s: cap must not be negative", p)
		}
	}
	opts := []option.RequestOption{
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(0), // retries are the queue's business, with the server's hint
		option.WithHTTPClient(cfg.HTTPClient),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	return &Client{cfg: cfg, ledger: ledger, api: openai.NewClient(opts...), log: cfg.Logger}, nil
}

// Model is the model every call uses.
func (c *Client) Model() string { return c.cfg.Model }

// Request is one chat completion.
type Request struct {
	Purpose   string // content_generation | reply_generation | gate | …
	RequestID string // stored in api_usage and sent as X-Client-Request-Id
	System    string
	User      string
	MaxTokens int     // max completion tokens; 0: the configured default
	Schema    *Schema // nil: plain text output
	// AccountID is the account the call is for (0: none): its spend is counted apart, and with
	// HasAccountCap the call must also fit under AccountCapUSD, its share of the day (the day's cap
	// still binds).
	AccountID     int64
	AccountCapUSD float64
	HasAccountCap bool

	// check validates the content before the call is settled, so api_usage records invalid output.
	check func(content string) error
}

// Result is a settled call.
type Result struct {
	RequestID        string
	ResponseID       string
	Model            string
	Content          string
	FinishReason     string
	PromptTokens     int64
	CompletionTokens int64
	ReservedUSD      float64
	CostUSD          float64
}

// Estimate is the reservation a request would make: its prompt-token upper bound and USD amount.
func (c *Client) Estimate(req Request) (promptTokens int64, usd float64) {
	p := EstimatePromptTokens(c.system(req), req.User, req.Schema)
	return p, c.cfg.Price.Cost(p, int64(c.maxTokens(req)))
}

func (c *Client) maxTokens(req Request) int { return cmp.Or(req.MaxTokens, c.cfg.DefaultMaxTokens) }

// system is the system prompt as sent: json_object mode carries the schema in it.
func (c *Client) system(req Request) string {
	if req.Schema == nil || c.cfg.ResponseFormat != FormatJSONObject {
		return req.System
	}
	b, _ := json.Marshal(req.Schema.Schema)
	return req.System + "\n\nRespond with one JSON object that matches this JSON schema exactly:\n" + string(b)
}

// Complete makes one budgeted call. Errors: *CircuitOpenError, *BudgetExhaustedError (nothing sent),
// *QuotaError, *RetryableError, *PermanentError, *OutputError, or ErrOutcomeUnknown wrapped.
func (c *Client) Complete(ctx context.Context, req Request) (*Result, error) {
	if req.Purpose == "" || req.RequestID == "" {
		return nil, errors.New("llm: complete: purpose and request id are required")
	}
	if req.MaxTokens < 0 {
		return nil, errors.New("llm: complete: max tokens must not be negative")
	}
	if req.Schema != nil && !schemaName.MatchString(req.Schema.Name) {
		return nil, fmt.Errorf("llm: complete: schema name %q: letters, digits, _ or -, at most 64", req.Schema.Name)
	}
	c.log.Info(fmt.Sprintf("[OPENAI] using budgeted client purpose=%s model=%s", req.Purpose, c.cfg.Model),
		zap.String("purpose", req.Purpose), zap.String("model", c.cfg.Model), zap.String("request_id", req.RequestID))

	now := c.cfg.Now()
	day := BudgetDay(now, c.cfg.BudgetTZ)
	usage := Usage{RequestID: req.RequestID, Purpose: req.Purpose, AccountID: req.AccountID, Model: c.cfg.Model, Day: day, At: now}

	probe, err := c.admit(ctx, now, usage)
	if err != nil {
		return nil, err
	}
	_, amount := c.Estimate(req)
	rsv := Reservation{Day: day, Purpose: req.Purpose, Amount: amount, DayCap: c.cfg.DailyCapUSD,
		RequestID: req.RequestID, Model: c.cfg.Model, At: now, ExpiresAt: now.Add(c.cfg.ReservationTTL),
		AccountID: req.AccountID, AccountCap: req.AccountCapUSD, HasAccountCap: req.HasAccountCap}
	if pc, ok := c.cfg.PurposeCapsUSD[req.Purpose]; ok {
		rsv.PurposeCap, rsv.HasPurposeCap = pc, true
	}
	got, err := c.ledger.Reserve(ctx, rsv)
	if err == nil && got.Reclaimed > 0 {
		c.logReclaimed(got.Reclaimed, day)
	}
	if err == nil && !got.OK {
		usage.Status, usage.ErrorCode = StatusRefused, "budget_exhausted"
		err = c.ledger.RecordUsage(ctx, usage)
		if err == nil {
			err = &BudgetExhaustedError{Scope: got.Scope, Purpose: req.Purpose, AccountID: req.AccountID, Spent: got.Spent, Reserved: got.Reserved, Cap: got.Cap, Need: amount}
		}
	}
	if err != nil {
		if probe {
			c.releaseProbe(ctx)
		}
		return nil, fmt.Errorf("llm: reserve: %w", err)
	}
	rsv.ID = got.ID

	res, out := c.call(ctx, req, amount)
	usage.PromptTokens, usage.CompletionTokens = out.promptTokens, out.completionTokens
	usage.Cost, usage.Status, usage.ErrorCode = out.cost, out.status, out.errorCode
	// The ledger write must happen even when the caller's context is gone: the money is real.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.SettleTimeout)
	defer cancel()
	settled, err := c.ledger.Settle(sctx, rsv, usage)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("llm: settle %s: %w", req.RequestID, err), out.err)
	}
	if !settled {
		// Reclaimed after it expired: already counted as spent at the reserved amount, which bounds
		// the actual cost, so nothing more is recorded.
		c.log.Warn("llm: settle after the reservation was reclaimed; counted at the reserved amount",
			zap.String("request_id", req.RequestID), zap.Int64("reservation_id", rsv.ID),
			zap.Float64("reserved_usd", amount), zap.Float64("cost_usd", usage.Cost))
	}
	if err := c.afterCall(sctx, probe, out); err != nil {
		return nil, errors.Join(err, out.err)
	}
	if out.err != nil {
		return res, out.err
	}
	return res, nil
}

// admit checks the circuit: closed → go; open and cooling down → refuse; cooled down → one caller
// fleet-wide claims the probe and goes, the others are refused.
func (c *Client) admit(ctx context.Context, now time.Time, usage Usage) (probe bool, err error) {
	refuse := func(until time.Time, reason, code string) (bool, error) {
		c.logOpen(until, reason)
		usage.Status, usage.ErrorCode = StatusRefused, code
		if err := c.ledger.RecordUsage(ctx, usage); err != nil {
			return false, fmt.Errorf("llm: record refused call: %w", err)
		}
		if reason == ReasonForced {
			until = time.Time{}
		}
		return false, &CircuitOpenError{Until: until, Reason: reason}
	}
	if c.cfg.ForceCircuitOpen {
		return refuse(forcedUntil, ReasonForced, "circuit_forced")
	}
	st, err := c.ledger.Circuit(ctx, CircuitName)
	if err != nil {
		return false, fmt.Errorf("llm: read circuit: %w", err)
	}
	if !st.Open {
		return false, nil
	}
	reason := cmp.Or(st.Reason, ReasonInsufficientQuota)
	if now.Before(st.OpenUntil) {
		return refuse(st.OpenUntil, reason, "circuit_open")
	}
	claimed, err := c.ledger.ClaimProbe(ctx, CircuitName, now, now.Add(c.cfg.ProbeHold))
	if err != nil {
		return false, fmt.Errorf("llm: claim circuit probe: %w", err)
	}
	if !claimed {
		return refuse(st.OpenUntil, reason, "circuit_open")
	}
	c.log.Info("[OPENAI] circuit cooled down; this call is the probe", zap.Time("open_until", st.OpenUntil))
	return true, nil
}

func (c *Client) logOpen(until time.Time, reason string) {
	u := until.UTC().Truncate(time.Second).Format(time.RFC3339)
	c.log.Warn(fmt.Sprintf("[OPENAI] ⛔ circuit open until=%s reason=%s", u, reason),
		zap.String("until", u), zap.String("reason", reason))
}

// afterCall moves the circuit: a quota answer opens it (fleet-wide); any other answer from the API to a
// probe closes it; a probe without an answer gives its claim back.
func (c *Client) afterCall(ctx context.Context, probe bool, out outcome) error {
	switch {
	case out.quota:
		now := c.cfg.Now()
		until := now.Add(c.cfg.CircuitCooldown)
		if err := c.ledger.OpenCircuit(ctx, CircuitName, now, until, ReasonInsufficientQuota); err != nil {
			return fmt.Errorf("llm: open circuit: %w", err)
		}
		c.logOpen(until, ReasonInsufficientQuota)
	case probe && out.answered:
		if err := c.ledger.CloseCircuit(ctx, CircuitName, c.cfg.Now()); err != nil {
			return fmt.Errorf("llm: close circuit after probe: %w", err)
		}
		c.log.Info("[OPENAI] circuit closed by probe")
	case probe:
		c.releaseProbe(ctx)
	}
	return nil
}

func (c *Client) releaseProbe(ctx context.Context) {
	if err := c.ledger.ReleaseProbe(context.WithoutCancel(ctx), CircuitName, c.cfg.Now()); err != nil {
		c.log.Warn("llm: release circuit probe", zap.Error(err)) // the claim expires after ProbeHold anyway
	}
}

// outcome is what a call did, for the ledger and the circuit.
type outcome struct {
	promptTokens, completionTokens int64
	cost                           float64
	status, errorCode              string
	err                            error
	quota                          bool // a quota answer: open the circuit
	answered                       bool // the API gave a definite, non-quota answer
}

func (c *Client) call(ctx context.Context, req Request, reserved float64) (*Result, outcome) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	params := openai.ChatCompletionNewParams{
		Model:               shared.ChatModel(c.cfg.Model),
		MaxCompletionTokens: openai.Int(int64(c.maxTokens(req))),
		Temperature:         openai.Float(c.cfg.Temperature),
		TopP:                openai.Float(c.cfg.TopP),
	}
	if sys := c.system(req); sys != "" {
		params.Messages = append(params.Messages, openai.SystemMessage(sys))
	}
	params.Messages = append(params.Messages, openai.UserMessage(req.User))
	if req.Schema != nil {
		if c.cfg.ResponseFormat == FormatJSONObject {
			params.ResponseFormat.OfJSONObject = &shared.ResponseFormatJSONObjectParam{}
		} else {
			params.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name: req.Schema.Name, Strict: openai.Bool(true), Schema: req.Schema.Schema,
				},
			}
		}
	}
	comp, err := c.api.Chat.Completions.New(cctx, params, option.WithHeader("X-Client-Request-Id", req.RequestID))
	if err != nil {
		return nil, c.classify(err, reserved)
	}

	out := outcome{answered: true, status: StatusSuccess,
		promptTokens: comp.Usage.PromptTokens, completionTokens: comp.Usage.CompletionTokens}
	out.cost = c.cfg.Price.Cost(out.promptTokens, out.completionTokens)
	if out.promptTokens == 0 && out.completionTokens == 0 {
		out.cost = reserved // no usage reported: assume the worst we allowed
	}
	res := &Result{RequestID: req.RequestID, ResponseID: comp.ID, Model: comp.Model,
		PromptTokens: out.promptTokens, CompletionTokens: out.completionTokens, ReservedUSD: reserved, CostUSD: out.cost}
	if len(comp.Choices) == 0 {
		out.status, out.errorCode = StatusFailed, "invalid_output"
		out.err = &OutputError{Kind: ErrInvalidOutput, Reason: "no choices in the response"}
		return res, out
	}
	ch := comp.Choices[0]
	res.Content, res.FinishReason = ch.Message.Content, ch.FinishReason
	switch {
	case ch.Message.Refusal != "":
		out.errorCode, out.err = "refusal", &OutputError{Kind: ErrRefusal, Reason: ch.Message.Refusal}
	case ch.FinishReason == "content_filter":
		out.errorCode, out.err = "refusal", &OutputError{Kind: ErrRefusal, Reason: "content filter"}
	case ch.FinishReason == "length":
		out.errorCode, out.err = "invalid_output", &OutputError{Kind: ErrInvalidOutput, Reason: "output truncated at max tokens"}
	case req.check != nil:
		if err := req.check(ch.Message.Content); err != nil {
			out.errorCode, out.err = "invalid_output", err
		}
	}
	if out.err != nil {
		out.status = StatusFailed
	}
	return res, out
}

// quotaCodes are OpenAI's answers meaning "no more money": never retried, they open the circuit.
var quotaCodes = map[string]bool{
	"insufficient_quota":                true,
	"billing_hard_limit_reached":        true,
	"project_spend_limit_exceeded":      true,
	"organization_spend_limit_exceeded": true,
	"spend_limit_exceeded":              true,
	"billing_not_active":                true,
	"account_deactivated":               true,
}

// classify maps a failed call: by error.code and error.type first, then by HTTP status; transport
// failures are unknown outcomes unless the connection was never opened.
func (c *Client) classify(err error, reserved float64) outcome {
	out := outcome{status: StatusFailed}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		code := cmp.Or(apiErr.Code, apiErr.Type, fmt.Sprintf("http_%d", apiErr.StatusCode))
		out.errorCode = code
		switch s := apiErr.StatusCode; {
		case quotaCodes[apiErr.Code] || quotaCodes[apiErr.Type]:
			out.quota = true
			out.err = &QuotaError{StatusCode: s, Code: cmp.Or(apiErr.Code, apiErr.Type)}
		case s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s == http.StatusConflict:
			out.answered = true
			out.err = &RetryableError{StatusCode: s, Code: code, RetryAfter: retryHint(apiErr.Response)}
		case s >= 500:
			// A server error says nothing about the quota: a probe does not decide on it.
			out.err = &RetryableError{StatusCode: s, Code: code, RetryAfter: retryHint(apiErr.Response)}
		default:
			out.answered = true
			out.err = &PermanentError{StatusCode: s, Code: apiErr.Code, Type: apiErr.Type}
		}
		return out
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		out.errorCode = "connection_failed"
		out.err = fmt.Errorf("llm: connect to OpenAI (nothing sent): %w", err)
		return out
	}
	// Sent, perhaps processed, no answer: OpenAI may bill it, so the reservation stays spent.
	out.errorCode, out.cost = "outcome_unknown", reserved
	out.err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	return out
}
