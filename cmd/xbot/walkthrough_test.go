package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/internal/xspec"
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
	p.m = newTestMain(t)
	p.m.Stdout, p.m.Stderr = p.out, p.out
	p.m.LookupEnv = lookupIn(env)
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
	m := newTestMain(t)
	m.Stdout, m.Stderr = out, out
	m.LookupEnv = lookupIn(env)
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

// longInterval is an interval whose current period does not end within the test: the periodic plan and
// reply run once, when the first worker starts, and a later worker's run-on-start is a duplicate of that
// period whatever the wall clock does meanwhile.
func longInterval() string {
	for h := 1000; ; h++ {
		d := time.Duration(h) * time.Hour
		if now := time.Now(); now.Truncate(d).Add(d).Sub(now) > time.Hour {
			return d.String()
		}
	}
}

// The seed's "expected behavior" walkthrough, on the real program: live mode, X played by the standalone
// simulator, OpenAI by the fake. Tonight the quota is exhausted; after the reset a plan queues 3 posts and
// the reply job 1 reply while posting is disabled; tomorrow posting is on, analytics store real outcomes,
// and learning waits for LEARN_MIN_OUTCOMES=5 real outcomes (skipped at 4, v1 at the 5th).
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
	simURL := "http://" + sim.m.Addr()
	// The workers reach the simulator through a proxy that checks every X request and answer against X's spec.
	xURL, checked := xspec.Load(t).Proxy(t, simURL)
	seedMention := func() string {
		resp, err := http.Post(simURL+"/_sim/mentions", "application/json", strings.NewReader(`{"n":1}`))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out struct {
			IDs []string `json:"ids"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Len(t, out.IDs, 1)
		return out.IDs[0]
	}

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
		if strings.Contains(r.System(), "reply") {
			posts = posts[:1]
		}
		return llmtest.JSON(map[string]any{"posts": posts})
	})

	interval := longInterval()
	workerEnv := func(postingDisabled string) map[string]string {
		return env("MODE", "live", "LIVE_POSTS", "true", "REAL_METRICS_ENABLED", "true",
			"X_API_BASE_URL", xURL, "POSTING_DISABLED", postingDisabled,
			"OPENAI_API_KEY", "sk-walkthrough", "OPENAI_BASE_URL", fake.URL,
			"PLAN_INTERVAL", interval, "PLAN_WINDOW", "0s", "MIN_POST_SPACING", "0s", "POSTING_SNOOZE", "1s",
			"SWEEP_INTERVAL", "1s", "ANALYTICS_DELAY", "2s", "LEARN_PERIOD", "1s", "LEARN_MIN_OUTCOMES", "5",
			"REPLY_INTERVAL", interval, "CONTENT_TOPICS", "postgres,go,queues",
			"MIN_QUALITY_SCORE", "0.3", "UNIQUENESS_THRESHOLD", "0.95")
	}
	count := func(q string) int {
		var c int
		require.NoError(t, pool.QueryRow(ctx, q).Scan(&c), q)
		return c
	}
	ours := `author_id::text = (SELECT x_user_id FROM accounts WHERE is_default)`

	// Tonight: OpenAI quota exhausted, posting disabled. The periodic plan and reply run at start (no
	// mention yet: the reply job calls no LLM).
	w1 := runProcess(t, workerEnv("true"), "worker")
	logs := w1.out.String
	waitFor(t, "the quota line", 60*time.Second, func() bool {
		return strings.Contains(logs(), "[PLAN_JOB] OpenAI insufficient_quota → not queueing")
	}, logs)
	require.Contains(t, logs(), "[OPENAI] ⛔ circuit open until=")
	require.Contains(t, logs(), "reason=insufficient_quota")
	require.Equal(t, 0, count(`SELECT count(*) FROM content_metadata`), "nothing queued")
	require.Equal(t, 0, count(`SELECT count(*) FROM posted_decisions`))
	require.Equal(t, 0, count(`SELECT count(*) FROM outcomes WHERE simulated=false`))
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
	waitFor(t, "the sweep finding the three", 60*time.Second, func() bool {
		return strings.Contains(logs(), "[POSTING_ORCHESTRATOR] 📋 Found 3 decisions in queue")
	}, logs)

	// The reply job answers a mention of our account.
	mention := seedMention()
	require.Regexp(t, `^\d+$`, strings.TrimSpace(runOnce(t, workerEnv("true"), "enqueue", "reply")))
	waitFor(t, "one queued reply", 60*time.Second, func() bool {
		return strings.Count(logs(), "[REPLY_JOB] ✅ Real LLM reply queued decision_id=") == 1
	}, logs)
	require.Contains(t, logs(), "[OPENAI] using budgeted client purpose=reply_generation model=gpt-4o-mini")
	require.Equal(t, 1, count(`SELECT count(*) FROM content_metadata WHERE decision_type='reply' AND generation_source='real' AND status='queued' AND target_tweet_id = '`+mention+`' AND target_username <> ''`))
	waitFor(t, "the sweep finding all four", 60*time.Second, func() bool {
		return strings.Contains(logs(), "[POSTING_ORCHESTRATOR] 📋 Found 4 decisions in queue")
	}, logs)
	skipped := regexp.MustCompile(`\[POSTING_ORCHESTRATOR\] ⏭️ Skipped posting decision_id=([0-9a-f-]{36}): POSTING_DISABLED=true`)
	waitFor(t, "each post job snoozed by the kill switch", 60*time.Second, func() bool {
		ids := map[string]bool{}
		for _, m := range skipped.FindAllStringSubmatch(logs(), -1) {
			ids[m[1]] = true
		}
		return len(ids) == 4
	}, logs)
	require.Equal(t, 4, count(`SELECT count(*) FROM content_metadata WHERE status='queued' AND posting_attempt=0`), "rows unchanged")
	require.Equal(t, 0, count(`SELECT count(*) FROM posted_decisions`))
	require.Equal(t, 4, count(`SELECT count(*) FROM river_job WHERE kind='post' AND state IN ('scheduled', 'available', 'running')`), "post jobs snoozed, not failed")
	require.Equal(t, 0, count(`SELECT count(*) FROM river_job WHERE kind='post' AND (state IN ('cancelled', 'discarded', 'retryable') OR errors IS NOT NULL)`))
	out := runOnce(t, workerEnv("true"), "status")
	require.Regexp(t, `single\s+real\s+queued\s+3`, out)
	require.Regexp(t, `reply\s+real\s+queued\s+1`, out)
	w1.stop()
	require.Equal(t, 3, fake.Requests(), "the quota call, one plan, one reply")

	// Tomorrow: posting enabled. A new worker's periodic plan and reply are duplicates of tonight's period.
	w2 := runProcess(t, workerEnv("false"), "worker")
	logs = w2.out.String
	// The line is logged just after the commit: wait for both.
	waitFor(t, "four posts", 90*time.Second, func() bool {
		return count(`SELECT count(*) FROM posted_decisions`) == 4 &&
			strings.Count(logs(), "[POSTING_ORCHESTRATOR] ✅ Posted successfully tweet_id=") == 4
	}, logs)
	require.Equal(t, 4, count(`SELECT count(*) FROM content_metadata WHERE status='posted'`))
	require.Equal(t, 4, count(`SELECT count(*) FROM posted_decisions WHERE backend='x'`))
	require.Equal(t, 4, count(`SELECT count(*) FROM sim_posts WHERE `+ours), "each posted once on X")
	require.Equal(t, 4, count(`SELECT count(DISTINCT text) FROM sim_posts WHERE `+ours))
	require.Equal(t, 1, count(`SELECT count(*) FROM sim_posts WHERE `+ours+` AND in_reply_to_post_id = `+mention), "a real reply")

	// Analytics (here two seconds later) store four real outcomes; learning needs five.
	waitFor(t, "four real outcomes", 60*time.Second, func() bool {
		return count(`SELECT count(*) FROM outcomes WHERE simulated=false`) == 4
	}, logs)
	require.Regexp(t, `\[ANALYTICS_COLLECTOR\] ✅ Stored real outcome decision_id=[0-9a-f-]{36} ER=\d+\.\d{2}%`, logs())
	// A learn run after the fourth outcome (the one it triggers, or the periodic one) is skipped.
	skips := func() int {
		return strings.Count(logs(), "[LEARN_JOB] ⚠️ Training skipped: insufficient real outcomes (need 5)")
	}
	before := skips()
	waitFor(t, "learning skipped at four outcomes", 60*time.Second, func() bool { return skips() > before }, logs)
	require.Equal(t, 0, count(`SELECT count(*) FROM learning_runs`))
	require.NotContains(t, logs(), "coeffs_updated=")

	// A second mention, answered and posted: the fifth real outcome, and the first learning run uses all five.
	second := seedMention()
	require.Regexp(t, `^\d+$`, strings.TrimSpace(runOnce(t, workerEnv("false"), "enqueue", "reply")))
	waitFor(t, "the first learning run", 90*time.Second, func() bool {
		return strings.Contains(logs(), "coeffs_updated=v1")
	}, logs)
	require.Regexp(t, `\[LEARN_JOB\] ✅ arms_trained=\d+ explore_ratio=\d\.\d{3} coeffs_updated=v1`, logs())
	require.Equal(t, 5, count(`SELECT count(*) FROM posted_decisions`))
	require.Equal(t, 1, count(`SELECT count(*) FROM sim_posts WHERE `+ours+` AND in_reply_to_post_id = `+second))
	require.Equal(t, 5, count(`SELECT count(*) FROM outcomes WHERE simulated=false`))
	require.Equal(t, 1, count(`SELECT count(*) FROM learning_runs`))
	require.Equal(t, 5, count(`SELECT outcomes_used FROM learning_runs WHERE version = 1`))
	require.Equal(t, 5, count(`SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL`))
	require.Equal(t, 4, fake.Requests(), "the quota call, one plan, two replies")
	require.Positive(t, xspec.Checked(checked), "the workers' X traffic went through the spec check")
}
