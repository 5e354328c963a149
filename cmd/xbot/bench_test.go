package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
	"github.com/xbot/xbot/workers"
)

// The scale benchmark prints one `name value unit` line per figure (README "Benchmarks"): `make bench`.
// Settings are printed as `# ` lines. Every part runs on this test binary's database, each in its own schema.

// figure prints one line of the table: `name value unit`, or `name value` for a figure without a unit
// (make bench collects the lines that match exactly that).
func figure(name string, value float64, unit string) {
	line := name + " " + strconv.FormatFloat(value, 'f', -1, 64)
	if unit != "" {
		line += " " + unit
	}
	fmt.Fprintln(os.Stdout, line)
}

func note(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "# "+format+"\n", args...)
}

func newBenchLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func round(v float64, places int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', places, 64), 64)
	return f
}

// waitUntil polls cond every 20 ms until it holds, failing the benchmark after limit.
func waitUntil(tb testing.TB, limit time.Duration, what string, cond func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		require.NoError(tb, err, what)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func BenchmarkScale(b *testing.B) {
	var best, chain float64
	b.Run("raw", func(b *testing.B) { best, chain = benchRaw(b) })
	b.Run("pipeline", func(b *testing.B) {
		dps := benchPipeline(b)
		if best > 0 {
			figure("ratio", round(dps/best, 3), "")
			// What the pipeline's own work costs beyond the least chain of two jobs a decision.
			figure("ratio_chain", round(dps/chain, 3), "")
		}
	})
	b.Run("lateness", benchLateness)
	b.Run("failover", benchFailover)
	b.Run("memory", benchMemory)
	b.Run("learn", benchLearn)
	b.Run("pgbouncer", benchPgBouncer)
}

// benchLateness is item 3: 1,000 posts due within a minute, after a leader is elected, on one replica
// with xbot worker's default concurrency.
func benchLateness(b *testing.B) {
	pool, _ := dbtest.Schema(b)
	p := startPipeline(b, pool, map[string]string{"MODE": "shadow", "POSTING_DISABLED": "false", "MIN_POST_SPACING": "0s"})
	waitLeader(b, pool, time.Minute)
	note("lateness: one replica, WORKER_CONCURRENCY=10 POST_CONCURRENCY=5 (defaults), simulator in process, 1000 posts due over 60 s")
	ids := queueDue(b, pool, p.acct.ID, "synthetic", 1000, time.Now().Add(5*time.Second), time.Minute)
	waitPosted(b, pool, ids, 5*time.Minute)
	measureLateness(b, pool, ids).report("lateness")
}

// benchFailover is item 3's second half: three `xbot worker` processes, the leader SIGKILLed mid-minute.
func benchFailover(b *testing.B) {
	bin := buildXbot(b)
	note("failover: 3 xbot worker processes (defaults), standalone xbot sim, 1000 posts due over 60 s, leader SIGKILLed at 30 s")
	l, doubled, _ := failoverRun(b, bin, 1000, time.Minute)
	l.report("failover_lateness")
	figure("failover_doubled", float64(doubled), "posts")
}

// noopArgs is the raw benchmark's job: nothing to do.
type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct{ river.WorkerDefaults[noopArgs] }

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// chainArgs is the chain benchmark's first job: it inserts a second (chainArgs{Last: true}) and returns,
// as a post job inserts its collect_analytics job.
type chainArgs struct {
	Last bool `json:"last,omitempty"`
}

func (chainArgs) Kind() string { return "bench_chain" }

type chainWorker struct {
	river.WorkerDefaults[chainArgs]
	pool *pgxpool.Pool
}

func (w chainWorker) Work(ctx context.Context, job *river.Job[chainArgs]) error {
	if job.Args.Last {
		return nil
	}
	// As the post worker does: the insert in a transaction whose commit does not wait for the WAL flush.
	rc := river.ClientFromContext[pgx.Tx](ctx)
	return pgx.BeginTxFunc(ctx, w.pool, pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"}, func(tx pgx.Tx) error {
		_, err := rc.InsertTx(ctx, tx, chainArgs{Last: true}, nil)
		return err
	})
}

// drainChains inserts n chain jobs, then starts a client with rcfg and measures chains/s (each a job that
// inserts a second one, both completed) until all second jobs completed: the least any pipeline pays in
// which each post is a job and each post's reading another, with no work of its own.
func drainChains(b *testing.B, pool *pgxpool.Pool, rcfg *river.Config, n int) float64 {
	ws := river.NewWorkers()
	river.AddWorker(ws, chainWorker{pool: pool})
	return drain(b, pool, rcfg, ws, chainArgs{}, n, func(job *rivertype.JobRow) bool {
		var a chainArgs
		require.NoError(b, json.Unmarshal(job.EncodedArgs, &a))
		return a.Last
	})
}

// drainNoop inserts n no-op jobs, then starts a client with rcfg and measures jobs/s until all completed.
func drainNoop(b *testing.B, pool *pgxpool.Pool, rcfg *river.Config, n int) float64 {
	ws := river.NewWorkers()
	river.AddWorker(ws, noopWorker{})
	return drain(b, pool, rcfg, ws, noopArgs{}, n, func(*rivertype.JobRow) bool { return true })
}

// drain inserts n jobs of args, starts a client with rcfg and ws, and returns how many completed jobs that
// count (all of them, or the last of each chain) it saw per second until n had.
func drain(b *testing.B, pool *pgxpool.Pool, rcfg *river.Config, ws *river.Workers, args river.JobArgs, n int, counts func(*rivertype.JobRow) bool) float64 {
	ctx := context.Background()
	rcfg.Workers = ws
	rc, err := river.NewClient(riverpgxv5.New(pool), rcfg)
	require.NoError(b, err)
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: args}
	}
	for i := 0; i < n; i += 5000 {
		_, err := rc.InsertManyFast(ctx, params[i:min(i+5000, n)])
		require.NoError(b, err)
	}
	events, cancel := rc.SubscribeConfig(&river.SubscribeConfig{ChanSize: 2 * n, Kinds: []river.EventKind{river.EventKindJobCompleted}})
	defer cancel()
	start := time.Now()
	require.NoError(b, rc.Start(ctx))
	for done := 0; done < n; {
		select {
		case ev := <-events:
			if counts(ev.Job) {
				done++
			}
		case <-time.After(time.Minute):
			b.Fatalf("drain stalled at %d of %d", done, n)
		}
	}
	elapsed := time.Since(start)
	stopCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	require.NoError(b, rc.Stop(stopCtx))
	return float64(n) / elapsed.Seconds()
}

// benchRaw is item 1: River with no-op jobs, tuned for this machine and with xbot worker's own settings.
func benchRaw(b *testing.B) (best, chains float64) {
	_, schema := dbtest.Schema(b)
	pool := benchPool(b, schema, nil, "")
	quiet := newBenchLog()
	tuned := &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2000}},
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            quiet,
	}
	note("raw_river_tuned: MaxWorkers=2000 FetchCooldown=5ms FetchPollInterval=50ms pool=%d conns, 20000 jobs inserted then drained", pool.Config().MaxConns)
	best = round(drainNoop(b, pool, tuned, 20000), 0)
	figure("raw_river_tuned", best, "jobs/s")

	note("raw_river_chain: MaxWorkers=400, the same fetch settings, 10000 jobs each inserting a second no-op job (InsertTx, commit not waiting for the WAL flush) before it completes: chains/s")
	// 400 workers: as fast as 2,000 here (1,972 against 1,784 chains/s), with fewer transactions queued on the pool.
	chain := &river.Config{Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 400}}, FetchCooldown: tuned.FetchCooldown, FetchPollInterval: tuned.FetchPollInterval, Logger: quiet}
	chains = round(drainChains(b, pool, chain, 10000), 0)
	figure("raw_river_chain", chains, "chains/s")

	cfg := benchConfig(b, nil)
	xb := riverConfig(zap.NewNop(), nil, nil, cfg)
	xb.Logger = quiet
	note("raw_river_xbot: xbot worker's settings: default queue MaxWorkers=%d (WORKER_CONCURRENCY) FetchCooldown=%s FetchPollInterval=%s",
		cfg.WorkerConcurrency, xb.FetchCooldown, xb.FetchPollInterval)
	figure("raw_river_xbot", round(drainNoop(b, pool, xb, 1000), 0), "jobs/s")
	note("postgres_commits: 40 connections committing one-row inserts for 5 s (a decision shares its durable commits: its plan's, its coalesced pace claim's, River's batched completions)")
	figure("postgres_commits", round(commitRate(b, pool, 40, 5*time.Second), 0), "commits/s")
	return best, chains
}

// commitRate is how many single-row insert transactions conns connections commit per second: the
// machine's durable-write budget, which River batches and the pipeline cannot.
func commitRate(b *testing.B, pool *pgxpool.Pool, conns int, d time.Duration) float64 {
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE bench_commits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(b, err)
	cfg := pool.Config()
	cfg.MaxConns = int32(conns)
	cp, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(b, err)
	defer cp.Close()
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := cp.Exec(ctx, `INSERT INTO bench_commits DEFAULT VALUES`); err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// benchConfig is xbot's configuration for the benchmarks: the defaults with env over them.
func benchConfig(tb testing.TB, env map[string]string) *config.Config {
	tb.Helper()
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Defaults{})
	require.NoError(tb, err)
	return cfg
}

// pipelineEnv is the pipeline's configuration: posting on, every post due now, no pacing, learning each
// second, analytics read right after posting, and the concurrency of a replica tuned for throughput.
func pipelineEnv(llmURL string) map[string]string {
	return map[string]string{
		"MODE": "shadow", "POSTING_DISABLED": "false", "OPENAI_API_KEY": benchLLMKey, "OPENAI_BASE_URL": llmURL,
		"DAILY_OPENAI_LIMIT_USD": "1000000", "POSTS_PER_PLAN": "20", "PLAN_WINDOW": "0s", "MIN_POST_SPACING": "0s",
		"ANALYTICS_DELAY": "0s", "LEARN_PERIOD": "1s", "LEARN_MIN_OUTCOMES": "1", "ROTATION_MIN_POSTS": "100000",
		"WORKER_CONCURRENCY": "100", "POST_CONCURRENCY": "100", "X_CALL_TIMEOUT": "10s",
	}
}

const benchLLMKey = "sk-bench-0123456789"

// pipelineConns is the pipeline replica's DATABASE_MAX_CONNS.
const pipelineConns = 40

// pipeline is one in-process replica: the real workers and River settings, the LLM fake and the
// simulator (over HTTP on loopback, its state in memory).
type pipeline struct {
	rc   *river.Client[pgx.Tx]
	st   *store.Store
	acct *store.Account
}

func startPipeline(b *testing.B, pool *pgxpool.Pool, vars map[string]string) *pipeline {
	ctx := context.Background()
	cfg := benchConfig(b, vars)
	e := &env{cfg: cfg, log: zap.NewNop()}
	st := store.New(pool)
	sim, err := xsim.NewServer(ctx, xsim.Config{PostsPer15Min: 1 << 30, PostsPerDay: 1 << 30, AppPostsPerDay: 1 << 30,
		ReadsPer15Min: 1 << 30, Logger: zap.NewNop()}, newMemSim())
	require.NoError(b, err)
	ts := httptest.NewServer(sim)
	b.Cleanup(ts.Close)
	xc, err := xapi.New(xapi.Config{BaseURL: ts.URL, CallTimeout: cfg.XCallTimeout,
		Creds: xapi.OAuth1Creds{ConsumerKey: xsim.DefaultConsumerKey, ConsumerSecret: xsim.DefaultConsumerSecret,
			AccessToken: xsim.DefaultAccessToken, AccessSecret: xsim.DefaultAccessTokenSecret}})
	require.NoError(b, err)
	acct, err := resolveAccount(ctx, e, st, xc, backend(cfg))
	require.NoError(b, err)
	deps, err := newDeps(e, st, xc, backend(cfg))
	require.NoError(b, err)
	// The daily cap's configured maximum (1,000) is a real account's; the benchmark's one account posts more.
	deps.Config.MaxPostsPerDay = 1 << 30
	ws := river.NewWorkers()
	require.NoError(b, workers.Register(ws, deps))
	rcfg := riverConfig(e.log, ws, nil, cfg)
	rcfg.Logger = newBenchLog()
	rc, err := river.NewClient(riverpgxv5.New(pool), rcfg)
	require.NoError(b, err)
	require.NoError(b, rc.Start(ctx))
	b.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rc.Stop(stopCtx)
	})
	return &pipeline{rc: rc, st: st, acct: acct}
}

// benchPool is a pool of pipelineConns connections on schema, as a replica tuned for throughput has
// (commits in flight share the WAL flushes), optionally traced and with its backends named app.
func benchPool(b *testing.B, schema string, tracer pgx.QueryTracer, app string) *pgxpool.Pool {
	pcfg, err := pgxpool.ParseConfig(dbtest.SchemaURL(b, schema))
	require.NoError(b, err)
	pcfg.MaxConns = pipelineConns
	if tracer != nil {
		pcfg.ConnConfig.Tracer = tracer
	}
	if app != "" {
		pcfg.ConnConfig.RuntimeParams["application_name"] = app
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	return pool
}

// benchPipeline is item 2: decisions/s from plan jobs to learned outcomes.
func benchPipeline(b *testing.B) float64 {
	ctx := context.Background()
	// The schema's own pool watches the run (its statements are not the pipeline's: untraced, unnamed).
	watch, schema := dbtest.Schema(b)
	// The replica's own pool, sized like DATABASE_MAX_CONNS for this concurrency, its backends named for
	// their CPU, and counting what each decision costs in round trips and statements.
	trips := newRoundTrips()
	app := "xbot_bench_" + schema
	pool := benchPool(b, schema, trips, app)
	fake := llmtest.NewServer(b, llmtest.Options{APIKey: benchLLMKey, Varied: true})
	env := pipelineEnv(fake.URL)
	p := startPipeline(b, pool, env)
	// Plans of one account are serialised (they share its schedule), so the fleet's throughput is measured
	// over several accounts, as a replica serving many would see it.
	const accounts, plansPerAccount = 10, 30
	note("pipeline: %d accounts x %d plans x POSTS_PER_PLAN=%s, WORKER_CONCURRENCY=%s POST_CONCURRENCY=%s DATABASE_MAX_CONNS=%d, LLM fake and simulator in process, ANALYTICS_DELAY=%s LEARN_PERIOD=%s",
		accounts, plansPerAccount, env["POSTS_PER_PLAN"], env["WORKER_CONCURRENCY"], env["POST_CONCURRENCY"], pipelineConns, env["ANALYTICS_DELAY"], env["LEARN_PERIOD"])
	ids := []int64{p.acct.ID}
	for i := 1; i < accounts; i++ {
		var id int64
		require.NoError(b, pool.QueryRow(ctx, `INSERT INTO accounts (handle) VALUES ($1) RETURNING id`, fmt.Sprintf("bench%d", i)).Scan(&id))
		ids = append(ids, id)
	}
	var params []river.InsertManyParams
	for range plansPerAccount {
		for _, id := range ids {
			params = append(params, river.InsertManyParams{Args: jobs.PlanArgs{AccountID: id}})
		}
	}
	cpu := newCPUMeter(app)
	start := time.Now()
	_, err := p.rc.InsertMany(ctx, params)
	require.NoError(b, err)
	var learned, skipped int
	waitUntil(b, 10*time.Minute, "pipeline drained", func() (bool, error) {
		var plansLeft, open, posted int
		err := watch.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM river_job WHERE kind = 'plan' AND state NOT IN ('completed', 'discarded', 'cancelled')),
			(SELECT count(*) FROM content_metadata WHERE status IN ('queued', 'posting')),
			(SELECT count(*) FROM content_metadata WHERE status = 'skipped'),
			(SELECT count(*) FROM content_metadata WHERE status = 'posted'),
			(SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL)`).Scan(&plansLeft, &open, &skipped, &posted, &learned)
		if err != nil {
			return false, err
		}
		return plansLeft == 0 && open == 0 && posted > 0 && learned == posted, nil
	})
	elapsed := time.Since(start)
	note("pipeline: %d decisions posted, analysed and learned from in %s (%d skipped by the gates)", learned, elapsed.Round(time.Millisecond), skipped)
	jobStats(b, pool)
	trips.report(learned)
	cpu.report(ctx, pool, learned, elapsed)
	dps := float64(learned) / elapsed.Seconds()
	figure("pipeline_decisions", round(dps, 1), "decisions/s")
	return dps
}

// jobStats notes each kind's jobs, mean run time, mean wait (from scheduled to first attempt) and when the
// kind's first job started and its last one finished (seconds after the first job was created).
func jobStats(tb testing.TB, pool *pgxpool.Pool) {
	rows, err := pool.Query(context.Background(), `WITH t0 AS (SELECT min(created_at) AS at FROM river_job)
		SELECT kind, count(*),
		avg(extract(epoch FROM finalized_at - attempted_at)) * 1000, avg(extract(epoch FROM attempted_at - scheduled_at)) * 1000,
		extract(epoch FROM min(attempted_at) - (SELECT at FROM t0)), extract(epoch FROM max(finalized_at) - (SELECT at FROM t0))
		FROM river_job WHERE finalized_at IS NOT NULL GROUP BY kind ORDER BY kind`)
	require.NoError(tb, err)
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int
		var run, wait, first, last float64
		require.NoError(tb, rows.Scan(&kind, &n, &run, &wait, &first, &last))
		note("  %s: %d jobs, mean run %.1f ms, mean wait %.1f ms, first started %.1f s, last finished %.1f s", kind, n, run, wait, first, last)
	}
	require.NoError(tb, rows.Err())
}

// benchMemory is item 5: one `xbot worker` process's RSS idle, then its peak while working the pipeline
// (plans through learning) at the concurrency the pipeline benchmark uses.
func benchMemory(b *testing.B) {
	bin := buildXbot(b)
	pool, schema := dbtest.Schema(b)
	dbURL := dbtest.SchemaURL(b, schema)
	simURL := startSim(b, bin, dbURL, 0)
	fake := llmtest.NewServer(b, llmtest.Options{APIKey: benchLLMKey, Varied: true})
	w := startXbot(b, bin, pipelineProcEnv(dbURL, simURL, fake.URL, "WORKER_CONCURRENCY=100", "POST_CONCURRENCY=100"), "worker")
	acct := defaultAccount(b, pool)
	waitLeader(b, pool, time.Minute)
	time.Sleep(5 * time.Second) // settle: the leader's first maintenance runs
	figure("rss_worker_idle", round(w.rssMiB(), 1), "MiB")
	stop := make(chan struct{})
	peak := peakRSS([]*xproc{w}, stop)
	const plans = 45 // 900 decisions: under the account's MAX_POSTS_PER_DAY=1000
	start := time.Now()
	enqueuePlans(b, pool, acct, plans)
	waitLearned(b, pool, plans*20, 10*time.Minute)
	elapsed := time.Since(start)
	close(stop)
	note("memory: one worker process, WORKER_CONCURRENCY=100 POST_CONCURRENCY=100, %d plans x 20 posts through learning in %s",
		plans, elapsed.Round(time.Millisecond))
	figure("rss_worker_loaded", round((<-peak)[0], 1), "MiB")
	figure("pipeline_process_decisions", round(float64(plans*20)/elapsed.Seconds(), 1), "decisions/s")
}

// llmtestServer is the LLM fake on loopback (varied answers, the benchmark's key), for in-process and
// child-process workers alike.
func llmtestServer(tb testing.TB) string {
	return llmtest.NewServer(tb, llmtest.Options{APIKey: benchLLMKey, Varied: true}).URL
}
