package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/store"
)

type post struct {
	Text  string   `json:"text" desc:"the post, at most 280 characters"`
	Topic string   `json:"topic"`
	Score float64  `json:"score"`
	Tags  []string `json:"tags"`
	Meta  struct {
		Hook  string `json:"hook"`
		Chars int    `json:"chars"`
	} `json:"meta"`
}

type drafts struct {
	Posts []post `json:"posts"`
}

func (d *drafts) Validate() error {
	if len(d.Posts) == 0 {
		return errors.New("no posts")
	}
	return nil
}

func req(id string) llm.Request {
	return llm.Request{Purpose: "content_generation", RequestID: id, System: "You write posts.", User: "Write one post about Go.", MaxTokens: 200}
}

func TestCompleteJSONRecordsRealUsage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, nil)
	want := drafts{Posts: []post{{Text: "Go channels, explained", Topic: "go", Score: 0.9, Tags: []string{"go"}}}}
	want.Posts[0].Meta.Hook, want.Posts[0].Meta.Chars = "question", 22
	b.fake.Enqueue(llmtest.Response{JSON: want, PromptTokens: 123, CompletionTokens: 45})

	got, res, err := llm.CompleteJSON[drafts](context.Background(), c, req("req-1"))
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.EqualValues(t, 123, res.PromptTokens)
	require.EqualValues(t, 45, res.CompletionTokens)
	wantCost := llm.Price{InputPerM: 0.15, OutputPerM: 0.60}.Cost(123, 45)
	require.InDelta(t, wantCost, res.CostUSD, 1e-12)

	// The wire request: strict schema, the caps and sampling settings, the request id.
	acc := b.fake.Accepted()
	require.Len(t, acc, 1)
	require.Equal(t, "json_schema", acc[0].ResponseFormat)
	require.Equal(t, "drafts", acc[0].SchemaName)
	require.Equal(t, 200, acc[0].MaxCompletionTokens)
	require.Equal(t, "req-1", acc[0].ClientRequestID)
	require.Equal(t, "You write posts.", acc[0].System())
	require.InDelta(t, 0.8, *acc[0].Temperature, 1e-9)
	var body map[string]any
	require.NoError(t, json.Unmarshal(acc[0].Body, &body))
	require.Equal(t, true, body["response_format"].(map[string]any)["json_schema"].(map[string]any)["strict"])

	rows := b.usage(t)
	require.Equal(t, []usageRow{{RequestID: "req-1", Purpose: "content_generation", Model: "gpt-4o-mini", Status: "success",
		PromptTokens: 123, CompletionTokens: 45, Cost: wantCost}}, rows)
	l := b.ledger(t)
	require.InDelta(t, wantCost, l.Spent, 1e-12)
	require.Zero(t, l.Reserved)

	logged := b.logs.FilterMessage("[OPENAI] using budgeted client purpose=content_generation model=gpt-4o-mini").All()
	require.Len(t, logged, 1)
	require.Equal(t, "content_generation", logged[0].ContextMap()["purpose"])
	require.Equal(t, "gpt-4o-mini", logged[0].ContextMap()["model"])
	for _, e := range b.logs.All() {
		require.NotContains(t, fmt.Sprint(e.Message, e.ContextMap()), testKey)
	}
}

// TestBudgetCapAcrossReplicas is the done-when: 3 replicas × 50 concurrent calls against a cap
// that fits exactly 20 reservations, with the fake billing the worst case it may.
func TestBudgetCapAcrossReplicas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	probe := b.client(t, nil)
	estTokens, est := probe.Estimate(req("x"))
	capUSD := 20 * est
	b.fake.Script(func(r llmtest.Request) llmtest.Response {
		return llmtest.Response{Content: "a post", PromptTokens: int(estTokens), MaxUsage: true}
	})
	replicas := make([]*llm.Client, 3)
	for i := range replicas {
		replicas[i] = b.replica(t, func(c *llm.Config) { c.DailyCapUSD = capUSD })
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for r, c := range replicas {
		for i := range 50 {
			wg.Go(func() {
				_, err := c.Complete(context.Background(), req(fmt.Sprintf("r%d-%d", r, i)))
				var be *llm.BudgetExhaustedError
				kind := "ok"
				switch {
				case errors.As(err, &be):
					kind = "budget"
					if be.Cap != capUSD || be.Scope != "day" {
						kind = "bad budget error"
					}
				case err != nil:
					kind = err.Error()
				}
				mu.Lock()
				outcomes[kind]++
				mu.Unlock()
			})
		}
	}
	wg.Wait()

	require.Equal(t, map[string]int{"ok": 20, "budget": 130}, outcomes)
	require.Equal(t, 20, b.fake.Requests())
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage, "ledger spent must equal SUM(api_usage.cost_usd)")
	l := b.ledger(t)
	require.Zero(t, l.Reserved, "no reservation may dangle")
	require.LessOrEqual(t, l.Spent, capUSD+1e-9)
	require.InDelta(t, capUSD, l.Spent, 1e-9, "the fake billed the maximum, so the cap is exactly used")
	require.Equal(t, map[string]int{"success": 20, "refused": 130}, countByStatus(b.usage(t)))
	for _, u := range b.usage(t) {
		if u.Status == "success" {
			require.Equal(t, estTokens, u.PromptTokens)
			require.EqualValues(t, 200, u.CompletionTokens)
		}
	}
}

// With realistic usage the settled cost is below the reservation, so more calls fit; the cap still holds.
func TestBudgetCapWithRealisticUsage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, est := b.client(t, nil).Estimate(req("x"))
	capUSD := 20 * est
	replicas := make([]*llm.Client, 3)
	for i := range replicas {
		replicas[i] = b.replica(t, func(c *llm.Config) { c.DailyCapUSD = capUSD })
	}
	var wg sync.WaitGroup
	for r, c := range replicas {
		for i := range 50 {
			wg.Go(func() { _, _ = c.Complete(context.Background(), req(fmt.Sprintf("r%d-%d", r, i))) })
		}
	}
	wg.Wait()
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage)
	l := b.ledger(t)
	require.Zero(t, l.Reserved)
	require.LessOrEqual(t, l.Spent, capUSD)
	require.GreaterOrEqual(t, b.fake.Requests(), 20)
	counts := countByStatus(b.usage(t))
	require.Equal(t, b.fake.Requests(), counts["success"])
	require.Equal(t, 150, counts["success"]+counts["refused"])
}

func TestPurposeCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, est := b.client(t, nil).Estimate(req("x"))
	c := b.client(t, func(c *llm.Config) {
		c.PurposeCapsUSD = map[string]float64{"content_generation": 2*est + est/2}
	})
	b.fake.Script(func(llmtest.Request) llmtest.Response { return llmtest.Response{MaxUsage: true, PromptTokens: 1} })
	ctx := context.Background()
	for i := range 2 {
		_, err := c.Complete(ctx, req(fmt.Sprint("ok-", i)))
		require.NoError(t, err)
	}
	_, err := c.Complete(ctx, req("over"))
	var be *llm.BudgetExhaustedError
	require.ErrorAs(t, err, &be)
	require.ErrorIs(t, err, llm.ErrBudgetExhausted)
	require.Equal(t, "purpose", be.Scope)
	require.InDelta(t, 2*est+est/2, be.Cap, 1e-12)
	require.Zero(t, be.Reserved)
	require.Equal(t, 2, b.fake.Requests())

	// The refused reservation left nothing behind, and another purpose still has the day's budget.
	other := req("reply-1")
	other.Purpose = "reply_generation"
	_, err = c.Complete(ctx, other)
	require.NoError(t, err)
	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.Zero(t, st.ReservedUSD)
	require.Len(t, st.Purposes, 2)
	require.Equal(t, "content_generation", st.Purposes[0].Purpose)
	require.True(t, st.Purposes[0].HasCap)
	require.False(t, st.Purposes[1].HasCap)
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage)
	require.Equal(t, map[string]int{"success": 3, "refused": 1}, countByStatus(b.usage(t)))
}

func TestZeroCapRefusesWithoutCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, func(c *llm.Config) { c.DailyCapUSD = 0 })
	_, err := c.Complete(context.Background(), req("r"))
	var be *llm.BudgetExhaustedError
	require.ErrorAs(t, err, &be)
	require.Zero(t, be.Cap)
	require.Zero(t, b.fake.Requests())
	require.Equal(t, []usageRow{{RequestID: "r", Purpose: "content_generation", Model: "gpt-4o-mini", Status: "refused", ErrorCode: "budget_exhausted"}}, b.usage(t))
}

// TestQuotaCircuitFleetWide: once insufficient_quota is recorded no call leaves any replica until the
// cooldown's single probe; a failed probe re-opens, a good one closes.
func TestQuotaCircuitFleetWide(t *testing.T) {
	t.Parallel()
	b := setup(t)
	replicas := make([]*llm.Client, 3)
	for i := range replicas {
		replicas[i] = b.replica(t, nil)
	}
	ctx := context.Background()
	b.fake.Enqueue(llmtest.InsufficientQuota())
	_, err := replicas[0].Complete(ctx, req("first"))
	var qe *llm.QuotaError
	require.ErrorAs(t, err, &qe)
	require.ErrorIs(t, err, llm.ErrQuotaExhausted)
	require.Equal(t, "insufficient_quota", qe.Code)
	until := b.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	opened := b.logs.FilterMessage("[OPENAI] ⛔ circuit open until=" + until + " reason=insufficient_quota").All()
	require.NotEmpty(t, opened)
	require.Equal(t, until, opened[0].ContextMap()["until"])
	require.Equal(t, "insufficient_quota", opened[0].ContextMap()["reason"])

	callAll := func(tag string) map[string]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		out := map[string]int{}
		for r, c := range replicas {
			for i := range 10 {
				wg.Go(func() {
					_, err := c.Complete(ctx, req(fmt.Sprintf("%s-%d-%d", tag, r, i)))
					kind := "ok"
					switch {
					case errors.Is(err, llm.ErrCircuitOpen):
						kind = "circuit"
					case errors.Is(err, llm.ErrQuotaExhausted):
						kind = "quota"
					case err != nil:
						kind = err.Error()
					}
					mu.Lock()
					out[kind]++
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		return out
	}

	require.Equal(t, map[string]int{"circuit": 30}, callAll("cooling"))
	require.Equal(t, 1, b.fake.Requests(), "no call may leave while the circuit is open")
	b.clock.Advance(59 * time.Minute)
	require.Equal(t, map[string]int{"circuit": 30}, callAll("still-cooling"))
	require.Equal(t, 1, b.fake.Requests())

	// Cooldown over; the probe meets the same quota error: exactly one call leaves, the circuit re-opens.
	b.clock.Advance(2 * time.Minute)
	b.fake.Script(func(llmtest.Request) llmtest.Response { return llmtest.InsufficientQuota() })
	got := callAll("probe-1")
	require.Equal(t, 2, b.fake.Requests(), "exactly one probe")
	require.Equal(t, map[string]int{"quota": 1, "circuit": 29}, got)
	st, err := replicas[1].Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Circuit.Open)
	require.Equal(t, b.clock.Now().Add(time.Hour), st.Circuit.OpenUntil.UTC())

	// Next cooldown: the probe is held in flight while every other call is refused; then it succeeds.
	b.clock.Advance(61 * time.Minute)
	release := make(chan struct{})
	b.fake.Script(func(llmtest.Request) llmtest.Response {
		<-release
		return llmtest.Text("back")
	})
	var wg sync.WaitGroup
	var probeErr error
	var others sync.WaitGroup
	// Start the others only after the probe has claimed (its request reached the fake).
	wg.Go(func() { _, probeErr = replicas[2].Complete(ctx, req("probe-2")) })
	require.Eventually(t, func() bool { return b.fake.Requests() == 3 }, 10*time.Second, 5*time.Millisecond)
	refused := 0
	var mu sync.Mutex
	for r, c := range replicas {
		for i := range 5 {
			others.Go(func() {
				_, err := c.Complete(ctx, req(fmt.Sprintf("during-probe-%d-%d", r, i)))
				if errors.Is(err, llm.ErrCircuitOpen) {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			})
		}
	}
	others.Wait()
	require.Equal(t, 15, refused)
	require.Equal(t, 3, b.fake.Requests())
	close(release)
	wg.Wait()
	require.NoError(t, probeErr)
	require.Equal(t, map[string]int{"ok": 30}, callAll("closed"))
	require.Equal(t, 33, b.fake.Requests())

	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage)
	require.Zero(t, b.ledger(t).Reserved)
}

func TestBillingHardLimitIsQuotaNotPermanent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, nil)
	ctx := context.Background()
	b.fake.Enqueue(llmtest.BillingHardLimit())
	_, err := c.Complete(ctx, req("r1"))
	require.ErrorIs(t, err, llm.ErrQuotaExhausted)
	require.NotErrorIs(t, err, llm.ErrPermanent)
	_, err = c.Complete(ctx, req("r2"))
	require.ErrorIs(t, err, llm.ErrCircuitOpen)
	require.Equal(t, 1, b.fake.Requests())
	rows := b.usage(t)
	require.Len(t, rows, 2)
	require.Equal(t, "failed", rows[0].Status)
	require.Equal(t, "billing_hard_limit_reached", rows[0].ErrorCode)
	require.Zero(t, rows[0].Cost, "a refused request is not billed: the reservation is released")
	require.Equal(t, "refused", rows[1].Status)
	require.Equal(t, "circuit_open", rows[1].ErrorCode)
	require.Equal(t, ledgerRow{}, b.ledger(t))

	// Reset closes it by hand; the next call leaves.
	require.False(t, c.Available(ctx))
	require.NoError(t, c.Reset(ctx))
	require.True(t, c.Available(ctx))
	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.False(t, st.Circuit.Open)
	_, err = c.Complete(ctx, req("r3"))
	require.NoError(t, err)
	require.Equal(t, 2, b.fake.Requests())
}

func TestForcedCircuitMakesNoCall(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, func(c *llm.Config) { c.ForceCircuitOpen = true })
	_, err := c.Complete(context.Background(), req("r"))
	var ce *llm.CircuitOpenError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "forced", ce.Reason)
	require.Zero(t, b.fake.Requests())
	require.Len(t, b.logs.FilterMessage("[OPENAI] ⛔ circuit open until=9999-12-31T23:59:59Z reason=forced").All(), 1)
	require.Equal(t, "circuit_forced", b.usage(t)[0].ErrorCode)
	require.False(t, c.Available(context.Background()))
	st, err := c.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Circuit.Open)
	require.True(t, st.Circuit.Forced)
}

func TestRetryableErrorsCarryTheServerHint(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, nil)
	ctx := context.Background()
	ms := llmtest.RateLimited(time.Second)
	ms.Header["retry-after-ms"] = "1500"
	tokens := llmtest.Response{Status: 429, Error: &llmtest.APIError{Message: "Rate limit reached for tokens", Type: "tokens", Code: "rate_limit_exceeded"},
		Header: map[string]string{"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"}}
	for _, tc := range []struct {
		resp   llmtest.Response
		status int
		wait   time.Duration
	}{
		{llmtest.RateLimited(20 * time.Millisecond), 429, 20 * time.Millisecond},
		{llmtest.RetryAfter(7), 429, 7 * time.Second},
		{ms, 429, 1500 * time.Millisecond},
		{tokens, 429, 6 * time.Minute},
		{llmtest.ServerError(http.StatusServiceUnavailable), 503, 0},
		{llmtest.Response{Status: 408, Error: &llmtest.APIError{Message: "timeout", Type: "invalid_request_error"}}, 408, 0},
		{llmtest.Response{Status: 409, Error: &llmtest.APIError{Message: "conflict", Type: "invalid_request_error"}, Header: map[string]string{"retry-after": "2"}}, 409, 2 * time.Second},
	} {
		b.fake.Enqueue(tc.resp)
		_, err := c.Complete(ctx, req("r"))
		var re *llm.RetryableError
		require.ErrorAs(t, err, &re)
		require.Equal(t, tc.status, re.StatusCode)
		require.Equal(t, tc.wait, re.RetryAfter)
	}
	require.Equal(t, 7, b.fake.Requests(), "openai-go's own retries are off")
	require.Equal(t, ledgerRow{}, b.ledger(t), "definite failures release their reservation")
	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.False(t, st.Circuit.Open, "rate limits do not open the quota circuit")
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.client(t, func(c *llm.Config) { c.APIKey = "sk-wrong-key-000000" }).Complete(ctx, req("r1"))
	var pe *llm.PermanentError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 401, pe.StatusCode)
	require.Equal(t, "invalid_api_key", pe.Code)
	require.NotContains(t, err.Error(), "sk-wrong-key-000000")

	_, err = b.client(t, func(c *llm.Config) { c.Model = "gpt-4o"; c.Price = llm.Price{InputPerM: 2.5, OutputPerM: 10} }).Complete(ctx, req("r2"))
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 404, pe.StatusCode)
	require.Equal(t, "model_not_found", pe.Code)
	require.Equal(t, 2, b.fake.Requests())
	rows := b.usage(t)
	require.Equal(t, "invalid_api_key", rows[0].ErrorCode)
	require.Equal(t, "gpt-4o", rows[1].Model)
	require.Equal(t, ledgerRow{}, b.ledger(t))
}

func TestUnknownOutcomeKeepsTheReservation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, func(c *llm.Config) { c.CallTimeout = 100 * time.Millisecond })
	_, est := c.Estimate(req("x"))
	ctx := context.Background()

	b.fake.Enqueue(llmtest.Slow(2*time.Second, llmtest.Text("late")))
	_, err := c.Complete(ctx, req("slow"))
	require.ErrorIs(t, err, llm.ErrOutcomeUnknown)

	b.fake.Enqueue(llmtest.Response{Hangup: true})
	_, err = c.Complete(ctx, req("hangup"))
	require.ErrorIs(t, err, llm.ErrOutcomeUnknown)

	cctx, cancel := context.WithCancel(ctx)
	b.fake.Script(func(llmtest.Request) llmtest.Response {
		cancel()
		return llmtest.Slow(time.Second, llmtest.Text("late"))
	})
	_, err = c.Complete(cctx, req("cancelled"))
	require.ErrorIs(t, err, llm.ErrOutcomeUnknown)

	l := b.ledger(t)
	require.Zero(t, l.Reserved)
	require.InDelta(t, 3*est, l.Spent, 1e-9, "OpenAI may bill a call it never answered")
	for _, u := range b.usage(t) {
		require.Equal(t, "failed", u.Status)
		require.Equal(t, "outcome_unknown", u.ErrorCode)
	}
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage)
}

func TestConnectionRefusedReleases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, func(c *llm.Config) { c.BaseURL = "http://127.0.0.1:1/v1" })
	_, err := c.Complete(context.Background(), req("r"))
	require.Error(t, err)
	require.NotErrorIs(t, err, llm.ErrOutcomeUnknown)
	require.Equal(t, "connection_failed", b.usage(t)[0].ErrorCode)
	require.Equal(t, ledgerRow{}, b.ledger(t))
}

func TestInvalidOutputIsItsOwnKind(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, nil)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		resp llmtest.Response
		kind error
	}{
		"truncated":     {llmtest.Response{Content: `{"posts":[{"text":"Go ch`, FinishReason: "length"}, llm.ErrInvalidOutput},
		"not json":      {llmtest.Text("Sure! Here is your post: ..."), llm.ErrInvalidOutput},
		"missing field": {llmtest.JSON(map[string]any{"posts": []any{map[string]any{"text": "x"}}}), llm.ErrInvalidOutput},
		"extra field":   {llmtest.Text(`{"posts":[],"note":"hi"}`), llm.ErrInvalidOutput},
		"wrong type":    {llmtest.Text(`{"posts":"none"}`), llm.ErrInvalidOutput},
		"validate":      {llmtest.Text(`{"posts":[]}`), llm.ErrInvalidOutput},
		"trailing":      {llmtest.Text(`{"posts":[]} {}`), llm.ErrInvalidOutput},
		"refusal":       {llmtest.Response{Refusal: "I can't help with that."}, llm.ErrRefusal},
		"filtered":      {llmtest.Response{Content: "", FinishReason: "content_filter", JSON: map[string]any{}}, llm.ErrRefusal},
	} {
		b.fake.Enqueue(tc.resp)
		_, res, err := llm.CompleteJSON[drafts](ctx, c, req(name))
		require.ErrorIs(t, err, tc.kind, name)
		var oe *llm.OutputError
		require.ErrorAs(t, err, &oe, name)
		require.NotNil(t, res, name)
		require.Positive(t, res.CompletionTokens, name)
	}
	for _, u := range b.usage(t) {
		require.Equal(t, "failed", u.Status, u.RequestID)
		require.Contains(t, []string{"invalid_output", "refusal"}, u.ErrorCode, u.RequestID)
		require.Positive(t, u.Cost, "the tokens were used and are billed")
	}
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage)
}

func TestJSONObjectFallback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(t, func(c *llm.Config) { c.ResponseFormat = llm.FormatJSONObject })
	got, _, err := llm.CompleteJSON[drafts](context.Background(), c, req("r"))
	require.NoError(t, err)
	require.Len(t, got.Posts, 1)
	require.Equal(t, "llmtest sample text", got.Posts[0].Text)
	acc := b.fake.Accepted()
	require.Len(t, acc, 1)
	require.Equal(t, "json_object", acc[0].ResponseFormat)
	require.Contains(t, acc[0].System(), `"additionalProperties":false`)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, mut := range map[string]func(*llm.Config){
		"no price":     func(c *llm.Config) { c.Price = llm.Price{} },
		"format":       func(c *llm.Config) { c.ResponseFormat = "xml" },
		"negative cap": func(c *llm.Config) { c.DailyCapUSD = -1 },
		"temperature":  func(c *llm.Config) { c.Temperature = 3 },
		"purpose cap":  func(c *llm.Config) { c.PurposeCapsUSD = map[string]float64{"gate": -1} },
		"short ttl":    func(c *llm.Config) { c.ReservationTTL = 75 * time.Second },
	} {
		_, err := llm.New(b.config(mut), nil)
		require.Error(t, err, name)
		_, err = llm.New(b.config(mut), &store.LLMLedger{Pool: b.pool})
		require.Error(t, err, name)
	}
	_, err := b.client(t, nil).Complete(context.Background(), llm.Request{User: "x"})
	require.Error(t, err)
	require.Zero(t, b.fake.Requests())
}

// killedLedger is a replica killed between reserve and settle: its reservation is made, its settle
// never lands.
type killedLedger struct{ *store.LLMLedger }

func (killedLedger) Settle(context.Context, llm.Reservation, llm.Usage) (bool, error) {
	return false, errors.New("killed before settling")
}

// TestCrashedReservationIsReclaimed: a reservation left by a dead replica holds the budget until it
// expires; then the next call reclaims it at the reserved amount, so reserved returns to zero and
// spent still equals SUM(api_usage.cost_usd).
func TestCrashedReservationIsReclaimed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, est := b.client(t, nil).Estimate(req("x"))
	capUSD := 2 * est
	dead, err := llm.New(b.config(func(c *llm.Config) { c.DailyCapUSD = capUSD }), killedLedger{&store.LLMLedger{Pool: b.pool}})
	require.NoError(t, err)
	live := b.client(t, func(c *llm.Config) { c.DailyCapUSD = capUSD })
	ctx := context.Background()

	_, err = dead.Complete(ctx, req("crashed"))
	require.ErrorContains(t, err, "killed before settling")
	require.Equal(t, ledgerRow{Reserved: est}, b.ledger(t))
	st, err := live.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.OpenReservations)

	// Before the expiry (CallTimeout 60s + SettleTimeout 15s + 1m) the reservation holds its budget.
	b.clock.Advance(2 * time.Minute)
	_, err = live.Complete(ctx, req("before"))
	require.NoError(t, err)
	_, err = live.Complete(ctx, req("refused"))
	require.ErrorIs(t, err, llm.ErrBudgetExhausted)
	st, err = live.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.OpenReservations)
	require.InDelta(t, est, st.ReservedUSD, 1e-12)
	require.Empty(t, b.logs.FilterMessage("llm: reclaimed expired reservations of dead callers at their reserved amount").All())

	// Past it, the next call reclaims it at the reserved amount; the budget it held is spent.
	b.clock.Advance(16 * time.Second)
	_, err = live.Complete(ctx, req("after"))
	require.ErrorIs(t, err, llm.ErrBudgetExhausted, "reclaiming counts the dead call as spent, it frees nothing")
	st, err = live.Status(ctx)
	require.NoError(t, err)
	require.Zero(t, st.OpenReservations)
	require.Zero(t, st.ReservedUSD)
	require.InDelta(t, est, st.SpentUSD-b.usageCost(t, "before"), 1e-12)
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage, "ledger spent must equal SUM(api_usage.cost_usd)")
	require.LessOrEqual(t, b.ledger(t).Spent, capUSD)
	var crashed []usageRow
	for _, u := range b.usage(t) {
		if u.RequestID == "crashed" {
			crashed = append(crashed, u)
		}
	}
	require.Equal(t, []usageRow{{RequestID: "crashed", Purpose: "content_generation", Model: "gpt-4o-mini", Status: "failed",
		ErrorCode: "reservation_expired", Cost: est}}, crashed)
	logged := b.logs.FilterMessage("llm: reclaimed expired reservations of dead callers at their reserved amount").All()
	require.Len(t, logged, 1)
	require.EqualValues(t, 1, logged[0].ContextMap()["reclaimed"])

	// Nothing is left for the sweep.
	n, err := live.ReclaimExpired(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestLateSettleAfterReclaimDoesNotDoubleCount: a call outlives its reservation (a stalled replica,
// or one whose clock is behind); another replica reclaims it at the reserved amount; when the call
// returns, its settle finds the reservation gone, logs a warning and records nothing more.
func TestLateSettleAfterReclaimDoesNotDoubleCount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	b.fake.Script(func(r llmtest.Request) llmtest.Response {
		if r.ClientRequestID == "slow" {
			<-release
		}
		return llmtest.Response{Content: "a post", PromptTokens: 50, CompletionTokens: 20}
	})
	slow := b.replica(t, nil)
	other := b.replica(t, nil)
	_, est := slow.Estimate(req("x"))
	ctx := context.Background()

	var wg sync.WaitGroup
	var slowRes *llm.Result
	var slowErr error
	wg.Go(func() { slowRes, slowErr = slow.Complete(ctx, req("slow")) })
	require.Eventually(t, func() bool { return b.fake.Requests() == 1 }, 10*time.Second, 5*time.Millisecond)

	b.clock.Advance(2*time.Minute + 15*time.Second) // the reservation's expiry
	_, err := other.Complete(ctx, req("other"))
	require.NoError(t, err)
	require.Zero(t, b.ledger(t).Reserved)
	close(release)
	wg.Wait()
	require.NoError(t, slowErr, "the call itself succeeded")
	require.Equal(t, "a post", slowRes.Content)

	warned := b.logs.FilterMessage("llm: settle after the reservation was reclaimed; counted at the reserved amount").All()
	require.Len(t, warned, 1)
	require.Equal(t, "slow", warned[0].ContextMap()["request_id"])
	cost := llm.Price{InputPerM: 0.15, OutputPerM: 0.60}.Cost(50, 20)
	require.Equal(t, []usageRow{
		{RequestID: "slow", Purpose: "content_generation", Model: "gpt-4o-mini", Status: "failed", ErrorCode: "reservation_expired", Cost: est},
		{RequestID: "other", Purpose: "content_generation", Model: "gpt-4o-mini", Status: "success", PromptTokens: 50, CompletionTokens: 20, Cost: cost},
	}, b.usage(t))
	l := b.ledger(t)
	require.Zero(t, l.Reserved)
	require.InDelta(t, est+cost, l.Spent, 1e-12, "counted once, at the reserved amount")
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage)
}

func TestReclaimExpiredSweep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dead, err := llm.New(b.config(nil), killedLedger{&store.LLMLedger{Pool: b.pool}})
	require.NoError(t, err)
	live := b.client(t, nil)
	ctx := context.Background()
	_, est := live.Estimate(req("x"))
	for i := range 3 {
		_, err := dead.Complete(ctx, req(fmt.Sprint("crashed-", i)))
		require.Error(t, err)
	}
	n, err := live.ReclaimExpired(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "not expired yet")

	b.clock.Advance(2*time.Minute + 15*time.Second)
	n, err = live.ReclaimExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	l := b.ledger(t)
	require.Zero(t, l.Reserved)
	require.InDelta(t, 3*est, l.Spent, 1e-12)
	spent, usage := b.exactTotals(t)
	require.Equal(t, spent, usage)
	require.Equal(t, map[string]int{"failed": 3}, countByStatus(b.usage(t)))
	st, err := live.Status(ctx)
	require.NoError(t, err)
	require.Zero(t, st.OpenReservations)
}

// Two accounts' calls race from three replicas: each account's share (budget_usd) holds exactly, a
// refused account leaves the other's calls alone, and the day's cap still binds the sum.
func TestAccountShareAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		dayCap         float64 // in calls
		wantA1, wantA2 int     // admitted calls per account; -1: any, as long as the sum is the day's
		wantSum        int
	}{
		{name: "shares bind", dayCap: 100, wantA1: 4, wantA2: 5, wantSum: 9},
		{name: "the day binds too", dayCap: 6, wantA1: -1, wantA2: -1, wantSum: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			estTokens, est := b.client(t, nil).Estimate(req("x"))
			b.fake.Script(func(llmtest.Request) llmtest.Response {
				return llmtest.Response{Content: "a post", PromptTokens: int(estTokens), MaxUsage: true}
			})
			shares := map[int64]float64{1: 4*est + est/2, 2: 5*est + est/2}
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok := map[int64]int{}
			for r := range 3 {
				c := b.replica(t, func(c *llm.Config) { c.DailyCapUSD = tc.dayCap * est })
				for i := range 24 {
					acct := int64(1 + i%2)
					wg.Go(func() {
						rq := req(fmt.Sprintf("r%d-%d", r, i))
						rq.AccountID, rq.AccountCapUSD, rq.HasAccountCap = acct, shares[acct], true
						_, err := c.Complete(context.Background(), rq)
						var be *llm.BudgetExhaustedError
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							ok[acct]++
						case errors.As(err, &be) && be.Scope == "account":
							if be.AccountID != acct || be.Cap != shares[acct] {
								ok[-1]++
							}
						case errors.As(err, &be) && be.Scope == "day":
						default:
							ok[-2]++
						}
					})
				}
			}
			wg.Wait()
			require.Zero(t, ok[-1], "a share's refusal names its account and share")
			require.Zero(t, ok[-2], "no other errors")
			require.Equal(t, tc.wantSum, ok[1]+ok[2])
			require.LessOrEqual(t, ok[1], 4)
			require.LessOrEqual(t, ok[2], 5)
			if tc.wantA1 >= 0 {
				require.Equal(t, map[int64]int{1: tc.wantA1, 2: tc.wantA2}, ok)
			}
			require.Equal(t, tc.wantSum, b.fake.Requests())
			spent, usage := b.exactTotals(t)
			require.Equal(t, spent, usage)
			require.Zero(t, b.ledger(t).Reserved, "no reservation may dangle")
			perAccount := map[int64]float64{}
			rows, err := b.pool.Query(context.Background(), `SELECT account_id, spent_usd::float8 FROM llm_budget_accounts`)
			require.NoError(t, err)
			for rows.Next() {
				var id int64
				var s float64
				require.NoError(t, rows.Scan(&id, &s))
				perAccount[id] = s
			}
			require.NoError(t, rows.Err())
			require.InDelta(t, float64(ok[1])*est, perAccount[1], 1e-9)
			require.InDelta(t, float64(ok[2])*est, perAccount[2], 1e-9)
			var refusedWithAccount int
			require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM api_usage WHERE status = 'refused' AND account_id IN (1, 2)`).
				Scan(&refusedWithAccount))
			require.Equal(t, 72-tc.wantSum, refusedWithAccount, "every refusal is recorded against its account")
		})
	}
}
