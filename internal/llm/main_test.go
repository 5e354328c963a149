package llm_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const testKey = "sk-test-0123456789abcdef"

// clock is the injected time, shared by a test's replicas.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testBundle is one test's world: a migrated schema, a fake OpenAI, a clock, captured logs.
type testBundle struct {
	pool   *pgxpool.Pool
	schema string
	fake   *llmtest.Server
	clock  *clock
	logs   *observer.ObservedLogs
	logger *zap.Logger
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool, schema := dbtest.Schema(t)
	core, logs := observer.New(zapcore.DebugLevel)
	return &testBundle{
		pool: pool, schema: schema,
		fake:  llmtest.NewServer(t, llmtest.Options{APIKey: testKey, Models: []string{"gpt-4o-mini"}}),
		clock: newClock(), logs: logs, logger: zap.New(core),
	}
}

func (b *testBundle) config(mut func(*llm.Config)) llm.Config {
	cfg := llm.Config{
		APIKey: testKey, BaseURL: b.fake.URL, Model: "gpt-4o-mini", Temperature: 0.8, TopP: 1,
		Price:       llm.Price{InputPerM: 0.15, OutputPerM: 0.60},
		DailyCapUSD: 5, CircuitCooldown: time.Hour, Logger: b.logger, Now: b.clock.Now,
	}
	if mut != nil {
		mut(&cfg)
	}
	return cfg
}

// client is a client on the bundle's shared pool.
func (b *testBundle) client(t *testing.T, mut func(*llm.Config)) *llm.Client {
	t.Helper()
	c, err := llm.New(b.config(mut), (&store.LLMLedger{Pool: b.pool}))
	require.NoError(t, err)
	return c
}

// replica is a client with a pool of its own, as another process would have.
func (b *testBundle) replica(t *testing.T, mut func(*llm.Config)) *llm.Client {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbtest.SchemaURL(t, b.schema))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c, err := llm.New(b.config(mut), &store.LLMLedger{Pool: pool})
	require.NoError(t, err)
	return c
}

type ledgerRow struct {
	Spent, Reserved float64
}

func (b *testBundle) ledger(t *testing.T) ledgerRow {
	t.Helper()
	var r ledgerRow
	err := b.pool.QueryRow(context.Background(), `SELECT COALESCE(SUM(spent_usd), 0)::float8, COALESCE(SUM(reserved_usd), 0)::float8 FROM llm_budget_days`).Scan(&r.Spent, &r.Reserved)
	require.NoError(t, err)
	return r
}

// usageSum is SUM(api_usage.cost_usd) compared exactly with the ledger, as numeric text.
func (b *testBundle) exactTotals(t *testing.T) (spent, usage string) {
	t.Helper()
	err := b.pool.QueryRow(context.Background(), `SELECT (SELECT COALESCE(SUM(spent_usd), 0) FROM llm_budget_days)::text,
		(SELECT COALESCE(SUM(cost_usd), 0) FROM api_usage)::text`).Scan(&spent, &usage)
	require.NoError(t, err)
	return spent, usage
}

type usageRow struct {
	RequestID, Purpose, Model, Status, ErrorCode string
	PromptTokens, CompletionTokens               int64
	Cost                                         float64
}

func (b *testBundle) usage(t *testing.T) []usageRow {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT request_id, purpose, model, status, COALESCE(error_code, ''),
		prompt_tokens, completion_tokens, cost_usd::float8 FROM api_usage ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []usageRow
	for rows.Next() {
		var u usageRow
		require.NoError(t, rows.Scan(&u.RequestID, &u.Purpose, &u.Model, &u.Status, &u.ErrorCode, &u.PromptTokens, &u.CompletionTokens, &u.Cost))
		out = append(out, u)
	}
	require.NoError(t, rows.Err())
	return out
}

// usageCost is the cost recorded in api_usage for one request id.
func (b *testBundle) usageCost(t *testing.T, requestID string) float64 {
	t.Helper()
	var c float64
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT COALESCE(SUM(cost_usd), 0)::float8 FROM api_usage WHERE request_id = $1`, requestID).Scan(&c))
	return c
}

func countByStatus(rows []usageRow) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[r.Status]++
	}
	return m
}
