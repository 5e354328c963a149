package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm/llmtest"
)

// process is one run of the real program in the test, with its own output.
type process struct {
	once   sync.Once
	m      *Main
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// run starts a long-running subcommand with env and waits until it is up.
func runProcess(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	p := &process{out: &syncBuffer{}, done: make(chan error, 1)}
	p.m = NewMain()
	p.m.Stdout, p.m.Stderr = p.out, p.out
	p.m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- p.m.Run(ctx, args) }()
	select {
	case <-p.m.Ready():
	case err := <-p.done:
		t.Fatalf("%v exited early: %v\n%s", args, err, p.out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%v not up within 60s\n%s", args, p.out.String())
	}
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	p.once.Do(func() {
		p.cancel()
		select {
		case <-p.done:
		case <-time.After(90 * time.Second):
		}
		p.m.Close()
	})
}

// runOnce runs a short subcommand and returns its output.
func runOnce(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = out, out
	m.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	require.NoError(t, m.Run(context.Background(), args), out.String())
	m.Close()
	return out.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool, dump func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, dump())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The seed's "expected behavior" walkthrough, on the real program: live mode, X played by the standalone
// simulator, OpenAI by the fake.
func TestSeedWalkthrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	dbURL := dbtest.SchemaURL(t, schema)
	env := func(extra ...string) map[string]string {
		e := map[string]string{
			"DATABASE_URL": dbURL, "PORT": "0", "LOG_LEVEL": "info",
			"X_API_KEY": "walk-ck", "X_API_SECRET": "walk-cs", "X_ACCESS_TOKEN": "walk-at", "X_ACCESS_TOKEN_SECRET": "walk-as",
		}
		for i := 0; i+1 < len(extra); i += 2 {
			e[extra[i]] = extra[i+1]
		}
		return e
	}
	sim := runProcess(t, env(), "sim", "--addr", "127.0.0.1:0", "--time-scale", "3600")

	fake := llmtest.NewServer(t, llmtest.Options{APIKey: "sk-walkthrough"})
	var quotaBack atomic.Bool
	var n atomic.Int64
	fake.Script(func(r llmtest.Request) llmtest.Response {
		if !quotaBack.Load() {
			return llmtest.InsufficientQuota()
		}
		k := n.Add(1)
		posts := []map[string]string{}
		for i, topic := range []string{"postgres", "go", "queues"} {
			posts = append(posts, map[string]string{"text": fmt.Sprintf(
				"Plan %d, note %d: a small, honest lesson about %s that we learned while running real systems in production this year.", k, i, topic)})
		}
		return llmtest.JSON(map[string]any{"posts": posts})
	})

	workerEnv := func(postingDisabled string) map[string]string {
		return env("MODE", "live", "LIVE_POSTS", "true", "REAL_METRICS_ENABLED", "true",
			"X_API_BASE_URL", "http://"+sim.m.Addr(), "POSTING_DISABLED", postingDisabled,
			"OPENAI_API_KEY", "sk-walkthrough", "OPENAI_BASE_URL", fake.URL,
			"PLAN_INTERVAL", "1h", "PLAN_WINDOW", "0s", "MIN_POST_SPACING", "2s", "POSTING_SNOOZE", "1s",
			"SWEEP_INTERVAL", "1s", "ANALYTICS_DELAY", "2s", "LEARN_PERIOD", "1s", "LEARN_MIN_OUTCOMES", "3",
			"REPLY_INTERVAL", "1h", "CONTENT_TOPICS", "postgres,go,queues",
			"MIN_QUALITY_SCORE", "0.3", "UNIQUENESS_THRESHOLD", "0.95")
	}
	count := func(q string) int {
		var c int
		require.NoError(t, pool.QueryRow(ctx, q).Scan(&c), q)
		return c
	}

	// Tonight: OpenAI quota exhausted, posting disabled. The periodic plan runs at start.
	w1 := runProcess(t, workerEnv("true"), "worker")
	logs := w1.out.String
	waitFor(t, "the quota line", 60*time.Second, func() bool {
		return strings.Contains(logs(), "[PLAN_JOB] OpenAI insufficient_quota → not queueing")
	}, logs)
	require.Contains(t, logs(), "[OPENAI] ⛔ circuit open until=")
	require.Contains(t, logs(), "reason=insufficient_quota")
	require.Equal(t, 0, count(`SELECT count(*) FROM content_metadata`), "nothing queued")
	require.Equal(t, 1, fake.Requests(), "one LLM request only")
	require.NotContains(t, logs(), "content queued")

	// After the quota resets: the circuit is closed by hand and a plan is enqueued.
	quotaBack.Store(true)
	require.Contains(t, runOnce(t, workerEnv("true"), "llm", "reset"), "closed")
	jobID := strings.TrimSpace(runOnce(t, workerEnv("true"), "enqueue", "plan"))
	require.Regexp(t, `^\d+$`, jobID)
	waitFor(t, "three queued decisions", 60*time.Second, func() bool {
		return strings.Count(logs(), "[PLAN_JOB] ✅ Real LLM content queued decision_id=") == 3
	}, logs)
	require.Contains(t, logs(), "[OPENAI] using budgeted client purpose=content_generation model=gpt-4o-mini")
	require.Equal(t, 3, count(`SELECT count(*) FROM content_metadata WHERE decision_type='single' AND generation_source='real' AND status='queued'`))
	waitFor(t, "post jobs snoozed by the kill switch", 60*time.Second, func() bool {
		return strings.Count(logs(), ": POSTING_DISABLED=true") >= 3
	}, logs)
	require.Regexp(t, `\[POSTING_ORCHESTRATOR\] ⏭️ Skipped posting decision_id=[0-9a-f-]{36}: POSTING_DISABLED=true`, logs())
	require.Regexp(t, `\[POSTING_ORCHESTRATOR\] 📋 Found [1-3] decisions in queue`, logs())
	require.Equal(t, 3, count(`SELECT count(*) FROM content_metadata WHERE status='queued' AND posting_attempt=0`), "rows unchanged")
	require.Equal(t, 0, count(`SELECT count(*) FROM posted_decisions`))
	require.Equal(t, 3, count(`SELECT count(*) FROM river_job WHERE kind='post' AND state IN ('scheduled', 'available', 'running')`), "post jobs snoozed, not failed")
	require.Equal(t, 0, count(`SELECT count(*) FROM river_job WHERE kind='post' AND (state IN ('cancelled', 'discarded', 'retryable') OR errors IS NOT NULL)`))
	out := runOnce(t, workerEnv("true"), "status")
	require.Regexp(t, `single\s+real\s+queued\s+3`, out)
	w1.stop()

	// Tomorrow: posting enabled.
	w2 := runProcess(t, workerEnv("false"), "worker")
	logs = w2.out.String
	waitFor(t, "three posts", 90*time.Second, func() bool {
		return count(`SELECT count(*) FROM posted_decisions`) == 3
	}, logs)
	require.Equal(t, 3, strings.Count(logs(), "[POSTING_ORCHESTRATOR] ✅ Posted successfully tweet_id="))
	require.Equal(t, 3, count(`SELECT count(*) FROM content_metadata WHERE status='posted'`))
	require.Equal(t, 3, count(`SELECT count(*) FROM posted_decisions WHERE backend='x'`))
	require.Equal(t, 3, count(`SELECT count(DISTINCT text) FROM sim_posts`), "each posted once on X")
	require.Equal(t, 3, count(`SELECT count(*) FROM sim_posts`))

	// Four (here: two) seconds later, analytics; then learning once three outcomes exist.
	waitFor(t, "three real outcomes", 60*time.Second, func() bool {
		return count(`SELECT count(*) FROM outcomes WHERE simulated=false`) == 3
	}, logs)
	require.Regexp(t, `\[ANALYTICS_COLLECTOR\] ✅ Stored real outcome decision_id=[0-9a-f-]{36} ER=\d+\.\d{2}%`, logs())
	waitFor(t, "the first learning run", 60*time.Second, func() bool {
		return strings.Contains(logs(), "coeffs_updated=v1")
	}, logs)
	require.Regexp(t, `\[LEARN_JOB\] ✅ arms_trained=\d+ explore_ratio=\d\.\d{3} coeffs_updated=v1`, logs())
	require.Equal(t, 1, count(`SELECT count(*) FROM learning_runs WHERE version = 1`))
	require.Equal(t, 3, count(`SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL`))
}
