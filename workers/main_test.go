package workers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/internal/xspec"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const testLLMKey = "sk-test-workers-0123456789"

// clock is a test's one time source: the workers, the store, River, the gates, the LLM client and the
// simulator all read it, so moving it moves the whole world without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// NowOrNil makes clock a River time generator (rivertype.TimeGenerator).
func (c *clock) NowOrNil() *time.Time {
	t := c.Now()
	return &t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var _ rivertype.TimeGenerator = (*clock)(nil)

// testBundle is one test's world: its own schema, a simulator for X over HTTP, a fake OpenAI, the
// workers' deps and the captured log.
type testBundle struct {
	pool   *pgxpool.Pool
	schema string
	st     *store.Store
	clock  *clock
	sim    *xsim.Server
	simURL string
	x      *xapi.Client
	llm    *llmtest.Server
	logs   *observer.ObservedLogs
	deps   *Deps
	acct   *store.Account
	driver *riverpgxv5.Driver
	rcfg   *river.Config
}

// testOpts adjust a bundle before the workers are registered.
type testOpts struct {
	cfg       func(*Config)
	llmCfg    func(*llm.Config)
	noLLM     bool
	simConfig func(*xsim.Config)
}

func baseConfig() Config {
	return Config{
		PostingDisabled:  false,
		Backend:          "simulator",
		PostsPerPlan:     3,
		PlanInterval:     time.Hour,
		PlanWindow:       0,
		MaxPostsPerDay:   12,
		MinPostSpacing:   0,
		QueuedMaxAge:     24 * time.Hour,
		AccountTZ:        time.UTC,
		Topics:           []string{"go", "postgres", "queues"},
		Formats:          []string{"tip", "story"},
		Hooks:            []string{"question", "none"},
		Voice:            "You are a calm senior backend engineer who writes plainly about shipping software.",
		MaxTokensPerPost: 300,
		ReplyInterval:    30 * time.Minute,
		RepliesPerHour:   4,
		RepliesPerDay:    50,
		AnalyticsDelay:   4 * time.Hour,
		AnalyticsFollowups: []time.Duration{
			24 * time.Hour, 72 * time.Hour,
		},
		LearnMinOutcomes: 5,
		LearnPeriod:      time.Minute,
		LearnHalfLife:    14 * 24 * time.Hour,
		PostingSnooze:    5 * time.Minute,
		PostMaxAttempts:  4,
		SweepInterval:    time.Minute,
		XCallTimeout:     5 * time.Second, // reads must not time out on a loaded 2-core machine; timeout faults hang longer
		XReconcileGrace:  30 * time.Second,
		XCircuitCooldown: 15 * time.Minute,
	}
}

func setup(t *testing.T, o testOpts) *testBundle {
	t.Helper()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	st := &store.Store{Pool: pool, Now: clk.Now}
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)

	simCfg := xsim.Config{Clock: clk, Seed: 7, HangFor: 6 * time.Second}
	if o.simConfig != nil {
		o.simConfig(&simCfg)
	}
	sim, err := xsim.NewServer(ctx, simCfg, store.NewXSim(pool))
	require.NoError(t, err)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)

	cfg := baseConfig()
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	x := newXClient(t, ts.URL, cfg.XCallTimeout, clk)

	chain, err := gate.New(gate.Config{MinQualityScore: 0.6, UniquenessThreshold: 0.8, RotationMaxShare: 0.35,
		RotationMinPosts: 10, WeightedLength: xapi.WeightedLength, Now: clk.Now}, st.GateHistory(pool))
	require.NoError(t, err)

	acct, err := st.UpsertDefaultAccount(ctx, pool, strconv.FormatInt(xsim.DefaultUserID, 10), xsim.DefaultUsername)
	require.NoError(t, err)

	b := &testBundle{pool: pool, schema: schema, st: st, clock: clk, sim: sim, simURL: ts.URL, x: x, logs: logs, acct: acct}
	b.deps = &Deps{Config: cfg, Store: st, Log: log, X: x, Gate: chain, Now: clk.Now,
		Rand: func() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }}
	if !o.noLLM {
		b.llm = llmtest.NewServer(t, llmtest.Options{APIKey: testLLMKey, Models: []string{"gpt-4o-mini"}, Now: clk.Now})
		lcfg := llm.Config{APIKey: testLLMKey, BaseURL: b.llm.URL, Model: "gpt-4o-mini", Temperature: 0.8, TopP: 1,
			Price: llm.Price{InputPerM: 0.15, OutputPerM: 0.60}, DailyCapUSD: 5, CircuitCooldown: time.Hour,
			Logger: log, Now: clk.Now, CallTimeout: 5 * time.Second}
		if o.llmCfg != nil {
			o.llmCfg(&lcfg)
		}
		lc, err := llm.New(lcfg, st.LLMLedger())
		require.NoError(t, err)
		b.deps.Drafter, b.deps.LLMAvailable = LLMDrafter{Client: lc}, lc.Available
	}
	ws := river.NewWorkers()
	require.NoError(t, Register(ws, b.deps))
	b.driver = riverpgxv5.New(pool)
	b.rcfg = &river.Config{Logger: slog.New(slog.DiscardHandler), Workers: ws, Test: river.TestConfig{Time: clk}}
	return b
}

func newXClient(t *testing.T, url string, timeout time.Duration, clk *clock) *xapi.Client {
	t.Helper()
	// Every request the workers send and every answer the simulator gives is checked against X's spec.
	x, err := xapi.New(xapi.Config{BaseURL: url, CallTimeout: timeout, Now: clk.Now,
		HTTPClient: &http.Client{Transport: xspec.Load(t).Recorder(t, nil)},
		Creds: xapi.OAuth1Creds{ConsumerKey: xsim.DefaultConsumerKey, ConsumerSecret: xsim.DefaultConsumerSecret,
			AccessToken: xsim.DefaultAccessToken, AccessSecret: xsim.DefaultAccessTokenSecret}})
	require.NoError(t, err)
	return x
}

// work inserts args and works the job through River in a transaction that is committed afterwards, so
// the job's final state is visible to the sweeps as it would be in production.
func work[T river.JobArgs](t *testing.T, b *testBundle, w river.Worker[T], args T, opts *river.InsertOpts) (*rivertest.WorkResult, error) {
	t.Helper()
	ctx := context.Background()
	tw := rivertest.NewWorker(t, b.driver, b.rcfg, w)
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	res, werr := tw.Work(ctx, t, tx, args, opts)
	require.NoError(t, tx.Commit(ctx))
	return res, werr
}

// workJob works an existing job row again (a retry or a snoozed job coming due).
func workJob[T river.JobArgs](t *testing.T, b *testBundle, w river.Worker[T], job *rivertype.JobRow) (*rivertest.WorkResult, error) {
	t.Helper()
	ctx := context.Background()
	tw := rivertest.NewWorker(t, b.driver, b.rcfg, w)
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	res, werr := tw.WorkJob(ctx, t, tx, job)
	require.NoError(t, tx.Commit(ctx))
	return res, werr
}

// insertClient is an insert-only River client on the test's schema, with uniqueness enforced.
func (b *testBundle) insertClient(t *testing.T) *river.Client[pgx.Tx] {
	t.Helper()
	c, err := river.NewClient(b.driver, &river.Config{Logger: slog.New(slog.DiscardHandler), Workers: b.rcfg.Workers,
		Test: river.TestConfig{Time: b.clock}})
	require.NoError(t, err)
	return c
}

func (b *testBundle) postWorker() *PostWorker   { return &PostWorker{d: b.deps} }
func (b *testBundle) planWorker() *PlanWorker   { return &PlanWorker{d: b.deps} }
func (b *testBundle) replyWorker() *ReplyWorker { return &ReplyWorker{d: b.deps} }
func (b *testBundle) collectWorker() *CollectAnalyticsWorker {
	return &CollectAnalyticsWorker{d: b.deps}
}
func (b *testBundle) learnWorker() *LearnWorker         { return &LearnWorker{d: b.deps} }
func (b *testBundle) postSweepWorker() *PostSweepWorker { return &PostSweepWorker{d: b.deps} }
func (b *testBundle) analyticsSweepWorker() *AnalyticsSweepWorker {
	return &AnalyticsSweepWorker{d: b.deps}
}

// messages are the captured log messages, in order.
func (b *testBundle) messages() []string {
	var out []string
	for _, e := range b.logs.All() {
		out = append(out, e.Message)
	}
	return out
}

// requireLine asserts that the exact line was logged.
func (b *testBundle) requireLine(t *testing.T, line string) {
	t.Helper()
	require.Contains(t, b.messages(), line)
}

// linesWithPrefix are the logged messages starting with prefix.
func (b *testBundle) linesWithPrefix(prefix string) []string {
	var out []string
	for _, m := range b.messages() {
		if strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// honestTexts are distinct posts that pass every gate.
var honestTexts = []string{
	"Measure the queue depth before you add workers; most backlogs are one slow dependency, not too little capacity.",
	"Postgres advisory locks are a quiet superpower: one line of SQL and two replicas stop stepping on each other.",
	"Write the rollback plan before the rollout plan. It changes what you are willing to ship on a Friday afternoon.",
	"A retry without backoff is just a faster way to fall over. Add jitter, cap the attempts, and log the last error.",
	"Small pull requests get real reviews. Big ones get a thumbs up and a prayer. Keep changes boring and reversible.",
	"Naming things for what they do, not how they work, saves more debugging hours than any clever abstraction.",
}

// queueDecision stores a queued decision due now (or at at) with the given text.
func (b *testBundle) queueDecision(t *testing.T, text string, mut func(*store.Decision)) *store.Decision {
	t.Helper()
	hb := b.clock.Now().Hour()
	score := 0.9
	d := &store.Decision{
		DecisionID: newUUID(t), AccountID: b.acct.ID, DecisionType: "single", Content: text,
		GenerationSource: "real", Status: store.StatusQueued, ScheduledAt: b.clock.Now(), Topic: "go",
		Format: "tip", Hook: "none", HourBucket: &hb, QualityScore: &score,
		ArmPropensities: map[string]float64{"topic": 0.5},
	}
	if mut != nil {
		mut(d)
	}
	require.NoError(t, b.st.InsertDecision(context.Background(), b.pool, d))
	return d
}

func (b *testBundle) decision(t *testing.T, id string) *store.Decision {
	t.Helper()
	d, err := b.st.GetDecision(context.Background(), b.pool, id)
	require.NoError(t, err)
	return d
}

// simPostsWithText counts the simulator's posts by our account with exactly this text.
func (b *testBundle) simPostsWithText(t *testing.T, text string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM sim_posts WHERE author_id = $1 AND text = $2`, xsim.DefaultUserID, text).Scan(&n))
	return n
}

// counted reports whether the count is want, for require.Eventually's condition: it runs on another
// goroutine, where a failing require cannot stop the test but only hangs the wait, so an error (a busy
// server refusing a connection) is "not yet".
func (b *testBundle) counted(want int, sql string, args ...any) bool {
	var n int
	err := b.pool.QueryRow(context.Background(), sql, args...).Scan(&n)
	return err == nil && n == want
}

func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func (b *testBundle) addFault(t *testing.T, f xsim.Fault) {
	t.Helper()
	_, err := b.sim.AddFault(context.Background(), f)
	require.NoError(t, err)
}

func newUUID(t *testing.T) string {
	t.Helper()
	var s string
	require.NoError(t, dbtest.Pool(t).QueryRow(context.Background(), `SELECT gen_random_uuid()::text`).Scan(&s))
	return s
}

// jobsOf lists the test schema's jobs of a kind.
func (b *testBundle) jobsOf(t *testing.T, kind string) []*rivertype.JobRow {
	t.Helper()
	res, err := b.insertClient(t).JobList(context.Background(), river.NewJobListParams().Kinds(kind).First(1000))
	require.NoError(t, err)
	return res.Jobs
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// postJobFor is the one post job of a decision.
func (b *testBundle) postJobFor(t *testing.T, decisionID string) *rivertype.JobRow {
	t.Helper()
	var found []*rivertype.JobRow
	for _, j := range b.jobsOf(t, "post") {
		var a jobs.PostArgs
		require.NoError(t, json.Unmarshal(j.EncodedArgs, &a))
		if a.DecisionID == decisionID {
			found = append(found, j)
		}
	}
	require.Len(t, found, 1, "post jobs of decision %s", decisionID)
	return found[0]
}

// jobsOfDecision are the jobs of any kind whose args name the decision.
func (b *testBundle) jobsOfDecision(t *testing.T, decisionID string) []*rivertype.JobRow {
	t.Helper()
	res, err := b.insertClient(t).JobList(context.Background(), river.NewJobListParams().First(1000))
	require.NoError(t, err)
	var out []*rivertype.JobRow
	for _, j := range res.Jobs {
		if strings.Contains(string(j.EncodedArgs), decisionID) {
			out = append(out, j)
		}
	}
	return out
}

// jobsWithArgs are the jobs of args' kind whose encoded args equal args.
func (b *testBundle) jobsWithArgs(t *testing.T, args river.JobArgs) []*rivertype.JobRow {
	t.Helper()
	want, err := json.Marshal(args)
	require.NoError(t, err)
	var out []*rivertype.JobRow
	for _, j := range b.jobsOf(t, args.Kind()) {
		if string(j.EncodedArgs) == string(want) {
			out = append(out, j)
			continue
		}
		var a, w map[string]any
		require.NoError(t, json.Unmarshal(j.EncodedArgs, &a))
		require.NoError(t, json.Unmarshal(want, &w))
		if sprintf("%v", a) == sprintf("%v", w) {
			out = append(out, j)
		}
	}
	return out
}

// requireOneJob asserts exactly one job with these args exists and returns it.
func (b *testBundle) requireOneJob(t *testing.T, args river.JobArgs) *rivertype.JobRow {
	t.Helper()
	found := b.jobsWithArgs(t, args)
	require.Len(t, found, 1, "jobs %s %+v", args.Kind(), args)
	return found[0]
}
