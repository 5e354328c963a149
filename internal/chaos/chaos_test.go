package chaos

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/internal/xspec"
)

var full = flag.Bool("chaos.full", false, "run the full fault suite: 200+ decisions, minutes of kills, a PostgreSQL restart on a throwaway cluster")

// scenario is one run's shape.
type scenario struct {
	name         string
	postsPerPlan int
	calls        int           // LLM calls the daily cap fits
	bursts       int           // bursts of concurrent `xbot enqueue plan`, one per replica
	burstEvery   time.Duration //
	load         time.Duration // kills and faults happen within this
	killFrom     time.Duration // first kill not before
	killEvery    [2]time.Duration
	faultEvery   time.Duration
	pgRestartAt  time.Duration // 0: no restart
	drain        time.Duration // how long the fleet may take to drain after the load

	kills       int // SIGKILLs the run plans; fewer is a failure
	faults      int // simulator faults the run injects; fewer is a failure
	faultsFired int // of those, at least this many must have met a request (the rest found none in time)
	mentions    int // mentions of our account seeded on X, answered by `xbot enqueue reply`
	drafts      int // approved drafts (texts with &, < and links; some replies) put in the queue by hand
	// maxUnfinished bounds unconfirmed + failed: faults may leave a few rows unconfirmed, never many.
	maxUnfinished int
}

var (
	reduced = scenario{
		name: "reduced", postsPerPlan: 10, calls: 4, bursts: 3, burstEvery: 8 * time.Second,
		load: 45 * time.Second, killFrom: 5 * time.Second, killEvery: [2]time.Duration{8 * time.Second, 14 * time.Second},
		faultEvery: 1500 * time.Millisecond, drain: 3 * time.Minute,
		kills: 3, faults: 25, faultsFired: 12, mentions: 6, drafts: 6, maxUnfinished: 2,
	}
	fullRun = scenario{
		name: "full", postsPerPlan: 20, calls: 10, bursts: 5, burstEvery: 15 * time.Second,
		load: 5 * time.Minute, killFrom: 10 * time.Second, killEvery: [2]time.Duration{15 * time.Second, 35 * time.Second},
		faultEvery: 2 * time.Second, pgRestartAt: 2 * time.Minute, drain: 20 * time.Minute,
		kills: 8, faults: 130, faultsFired: 65, mentions: 20, drafts: 20, maxUnfinished: 5,
	}
)

// pgOutage is how long the full run keeps PostgreSQL down.
const pgOutage = 8 * time.Second

// Prices of gpt-4o-mini per token (DESIGN.md section 6) and the chaos run's completion budget per post.
const (
	inputPerToken  = 0.15 / 1e6
	outputPerToken = 0.60 / 1e6
	maxTokensPost  = 300
	replicas       = 3
)

// harness is one run: the binaries, the processes, and everything they wrote.
type harness struct {
	t        *testing.T
	sc       scenario
	bin      string // xbot
	fake     string // llmfake
	dbURL    string
	serverDB string // the server's maintenance URL
	secrets  map[string]string
	// accountSecrets are the added account's own credentials (xbot accounts add), scanned like secrets.
	accountSecrets map[string]string
	capMu          sync.Mutex
	captures       []*capture

	cluster *cluster
	simURL  string // the simulator itself (control endpoints)
	xURL    string // the simulator behind the proxy that checks X traffic against the spec: the fleet's X
	xSpec   http.RoundTripper
	llmURL  string
	userID  string
	capUSD  float64
	workers []*proc
	web     *proc
	webURL  string

	kills, pgRestarts, faults atomic.Int64
	faultsFired               int
	pool                      *pgxpool.Pool
}

func (h *harness) newCapture(name string) *capture {
	c := &capture{name: name}
	h.capMu.Lock()
	h.captures = append(h.captures, c)
	h.capMu.Unlock()
	return c
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite runs real processes; skipped with -short")
	}
	sc := reduced
	if *full {
		sc = fullRun
	}
	h := &harness{t: t, sc: sc}
	ctx := context.Background()
	h.build()
	h.database(ctx)
	h.makeSecrets()
	// The cap fits the plan calls, one reply call per mention, and half a plan call of slack.
	h.capUSD = float64(sc.calls)*h.costPerCall() + float64(sc.mentions)*h.costPerReply() + h.costPerCall()/2

	if _, err := h.run(t, "migrate", h.env(), h.bin, "migrate"); err != nil {
		t.Fatal(err)
	}
	h.startSim()
	h.addAccount()
	h.startLLM()
	if sc.pgRestartAt > 0 {
		h.startWeb()
	}
	for i := range replicas {
		h.workers = append(h.workers, h.newWorker(fmt.Sprintf("worker%d", i+1)))
	}
	for _, w := range h.workers {
		if err := w.waitLog(`"worker started"`, 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s run: %d replicas, %d posts a plan, daily cap $%.6f fits about %d LLM calls at their reserved upper bound (~%d decisions)",
		sc.name, replicas, sc.postsPerPlan, h.capUSD, sc.calls, sc.calls*sc.postsPerPlan)

	start := time.Now()
	h.chaos(ctx)
	loadDone := time.Now()
	t.Logf("load phase done after %s: kills=%d faults=%d pg_restarts=%d", loadDone.Sub(start).Round(time.Second),
		h.kills.Load(), h.faults.Load(), h.pgRestarts.Load())

	h.drainFleet(ctx, loadDone)
	stopping := time.Now()
	var wg sync.WaitGroup
	for _, w := range h.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.stop(70 * time.Second) }()
	}
	wg.Wait()
	t.Logf("workers stopped with SIGTERM in %s", time.Since(stopping).Round(100*time.Millisecond))
	h.report(ctx)
}

// build compiles the real binaries (without -race: the harness itself runs under it).
func (h *harness) build() {
	t := h.t
	root := moduleRoot(t)
	dir := t.TempDir()
	h.bin, h.fake = filepath.Join(dir, "xbot"), filepath.Join(dir, "llmfake")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range [][2]string{{h.bin, "./cmd/xbot"}, {h.fake, "./internal/llm/llmtest/cmd/llmfake"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-o", b[0], b[1])
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %w\n%s", b[1], err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// database creates the run's own database: on a throwaway cluster for the full run, else on the shared
// server (DATABASE_URL or the default); it is dropped at the end.
func (h *harness) database(ctx context.Context) {
	t := h.t
	server := dbtest.ServerURL()
	if h.sc.pgRestartAt > 0 {
		h.cluster = newCluster(t)
		server = h.cluster.url()
	}
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to the database server (set DATABASE_URL): %v", err)
	}
	defer admin.Close(ctx)
	name := "xbot_chaos_" + randomHex(5)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	h.dbURL, h.serverDB = u.String(), server
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if h.pool != nil {
			h.pool.Close()
		}
		if admin, err := pgx.Connect(ctx, server); err == nil {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			_ = admin.Close(ctx)
		}
	})
	cfg, err := pgxpool.ParseConfig(h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	if h.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// makeSecrets gives the fleet distinctive fake credentials, which must never show up in anything captured.
func (h *harness) makeSecrets() {
	h.secrets = map[string]string{}
	for _, k := range []string{"OPENAI_API_KEY", "X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET", "X_BEARER_TOKEN",
		"RIVERUI_PASSWORD", "METRICS_TOKEN"} {
		h.secrets[k] = "chaos" + strings.ToLower(strings.ReplaceAll(k, "_", "")) + randomHex(12)
	}
	h.secrets["OPENAI_API_KEY"] = "sk-" + h.secrets["OPENAI_API_KEY"]
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h.secrets["XBOT_SECRET_KEY"] = base64.StdEncoding.EncodeToString(key)
}

// addAccount adds a second account with xbot accounts add (credentials from the environment, never argv):
// the simulator's first extra user (xbot sim --accounts 1), with its own access token under the fleet's app.
// Its share of the LLM budget is budget_usd=0, so it plans nothing and the checks below, which count the
// environment's account's posts, stay exact; its workers still resolve and decrypt its stored credentials
// and sign its reply rounds' X reads with them, under the same kills and faults, and the secret scan covers
// its credentials too.
func (h *harness) addAccount() {
	a := xsim.NumberedAccount(1)
	h.accountSecrets = map[string]string{"account X_ACCESS_TOKEN": a.AccessToken, "account X_ACCESS_TOKEN_SECRET": a.AccessTokenSecret}
	env := h.env("X_ACCESS_TOKEN="+a.AccessToken, "X_ACCESS_TOKEN_SECRET="+a.AccessTokenSecret)
	if _, err := h.run(h.t, "accounts-add", env, h.bin, "accounts", "add", "--handle", a.Username, "--from-env"); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.run(h.t, "accounts-set", h.env(), h.bin, "accounts", "set", a.Username, "budget_usd=0"); err != nil {
		h.t.Fatal(err)
	}
}

// costPerReply is what one reply call costs with the fake reporting the maximum completion tokens.
func (h *harness) costPerReply() float64 {
	return float64(maxTokensPost)*outputPerToken + 2500*inputPerToken
}

// costPerCall is what one plan call costs with the fake reporting the maximum completion tokens: the
// completion budget plus a generous prompt.
func (h *harness) costPerCall() float64 {
	return float64(maxTokensPost*h.sc.postsPerPlan)*outputPerToken + 2500*inputPerToken
}

// env is every fleet process's configuration.
func (h *harness) env(extra ...string) []string {
	env := append(baseEnv(),
		"DATABASE_URL="+h.dbURL, "MODE=live", "LIVE_POSTS=true", "POSTING_DISABLED=false", "REAL_METRICS_ENABLED=true",
		"X_API_BASE_URL="+h.xURL, "OPENAI_BASE_URL="+h.llmURL, "OPENAI_MODEL=gpt-4o-mini",
		fmt.Sprintf("OPENAI_MAX_TOKENS=%d", maxTokensPost), fmt.Sprintf("DAILY_OPENAI_LIMIT_USD=%.8f", h.capUSD),
		"PLAN_INTERVAL=2h", "PLAN_WINDOW=0s", "MIN_POST_SPACING=1s", fmt.Sprintf("POSTS_PER_PLAN=%d", h.sc.postsPerPlan),
		"MAX_POSTS_PER_DAY=1000", "ROTATION_MAX_SHARE=1", "REPLY_INTERVAL=2h", "REPLIES_PER_HOUR=1000", "REPLIES_PER_DAY=1000",
		"ANALYTICS_DELAY=3s", "ANALYTICS_FOLLOWUPS=20s", "LEARN_PERIOD=1s", "LEARN_MIN_OUTCOMES=5",
		"X_CALL_TIMEOUT=2s", "X_RECONCILE_GRACE=1s", "SWEEP_INTERVAL=1s", "POSTING_SNOOZE=1s",
		"LOG_FORMAT=json", "LOG_LEVEL=debug",
		// Each replica's pool is capped (the default sizes one for a server of its own): the suite runs
		// beside other test binaries on one server.
		"DATABASE_MAX_CONNS=6")
	if h.xURL == "" {
		env = append(env, "X_API_BASE_URL=http://127.0.0.1:1")
	}
	if h.llmURL == "" {
		env = append(env, "OPENAI_BASE_URL=http://127.0.0.1:1/v1")
	}
	for k, v := range h.secrets {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

func (h *harness) startProc(name string, env []string, args ...string) *proc {
	p := &proc{h: h, name: name, args: args, env: env}
	if err := p.start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { p.stop(10 * time.Second) })
	return p
}

func (h *harness) startSim() {
	port := freePort(h.t)
	p := h.startProc("sim", h.env(), h.bin, "sim", "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		// X allows 100 posts per user per 15 minutes; the simulator's limit is raised so the run is not
		// throttled for a quarter hour (429s are still injected as faults). X's duplicate-text refusal is off,
		// so a post sent twice shows as two posts instead of being hidden by a 403.
		"--posts-per-15min", "1000", "--no-duplicate-check", "--accounts", "1")
	h.simURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	var state struct {
		UserID string `json:"user_id"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := getJSON(h.simURL+"/_sim/state", &state); err == nil {
			break
		} else if time.Now().After(deadline) || !p.running() {
			_, c, _ := p.current()
			h.t.Fatalf("simulator did not come up: %v\n%s", err, c.tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.userID = state.UserID
	h.xURL, h.xSpec = xspec.Load(h.t).Proxy(h.t, h.simURL)
}

func (h *harness) startLLM() {
	p := h.startProc("llmfake", baseEnv(), h.fake, "-addr", "127.0.0.1:0", "-api-key", h.secrets["OPENAI_API_KEY"], "-mode", "varied", "-max-usage")
	line, err := p.firstLine("llmfake listening on ", 30*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.llmURL = strings.TrimPrefix(line, "llmfake listening on ")
}

func (h *harness) startWeb() {
	port := freePort(h.t)
	h.webURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	h.web = h.startProc("web", h.env(), h.bin, "web", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	if err := h.web.waitLog(`"web serving"`, 60*time.Second); err != nil {
		h.t.Fatal(err)
	}
	if code := httpStatus(h.webURL + "/readyz"); code != http.StatusOK {
		h.t.Fatalf("/readyz = %d before any fault, want 200", code)
	}
}

func (h *harness) newWorker(name string) *proc {
	return h.startProc(name, h.env(), h.bin, "worker")
}

// chaos runs the load: concurrent plans, kills, faults and (full run) a PostgreSQL restart.
func (h *harness) chaos(ctx context.Context) {
	sc := h.sc
	ctx, cancel := context.WithTimeout(ctx, sc.load)
	defer cancel()
	h.queueDrafts(ctx)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); h.plans(ctx) }()
	go func() { defer wg.Done(); h.replies(ctx) }()
	go func() { defer wg.Done(); h.injectFaults(ctx) }()
	go func() { defer wg.Done(); h.killWorkers(ctx) }()
	wg.Wait()
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM sim_faults WHERE remaining = 0`).Scan(&h.faultsFired); err != nil {
		h.t.Errorf("count the faults that fired: %v", err)
	}
	if err := deleteFaults(h.simURL); err != nil {
		h.t.Errorf("clear simulator faults: %v", err)
	}
	for _, w := range h.workers {
		if !w.running() {
			if err := w.start(); err != nil {
				h.t.Error(err)
			}
		}
	}
}

// plans inserts bursts of plan jobs, one per replica at once, so replicas plan concurrently against the cap.
func (h *harness) plans(ctx context.Context) {
	for b := 0; b < h.sc.bursts; b++ {
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := h.run(h.t, fmt.Sprintf("enqueue-%d-%d", b, i), h.env(), h.bin, "enqueue", "plan"); err != nil {
					h.t.Logf("enqueue plan (tolerated while the database restarts): %v", err)
				}
			}()
		}
		wg.Wait()
		if !sleepCtx(ctx, h.sc.burstEvery) {
			return
		}
	}
}

// injectFaults adds one create_post fault (timeout after creation, reset, 5xx, 429) at a steady rate, and
// now and then a 5xx on the reads that reconciliation and analytics make.
func (h *harness) injectFaults(ctx context.Context) {
	kinds := []map[string]any{
		{"endpoint": "create_post", "kind": "timeout_after", "count": 1},
		{"endpoint": "create_post", "kind": "reset", "count": 1},
		{"endpoint": "create_post", "kind": "error_5xx", "status": 503, "count": 1},
		{"endpoint": "create_post", "kind": "rate_limit", "reset_after": "2s", "count": 1},
		{"endpoint": "user_posts", "kind": "error_5xx", "status": 500, "count": 1},
		{"endpoint": "get_posts", "kind": "error_5xx", "status": 502, "count": 1},
	}
	// Exactly sc.faults are injected, one per faultEvery; an injection that fails while PostgreSQL is down
	// is retried at the next tick. The report fails if fewer were injected than planned.
	for i := 0; int(h.faults.Load()) < h.sc.faults; i++ {
		f := kinds[i%4]
		if i%5 == 4 {
			f = kinds[4+mrand.IntN(2)]
		}
		if err := postJSON(h.simURL+"/_sim/faults", f); err != nil {
			if h.cluster == nil {
				h.t.Errorf("inject fault: %v", err)
			}
		} else {
			h.faults.Add(1)
		}
		if !sleepCtx(ctx, h.sc.faultEvery) {
			return
		}
	}
}

// killWorkers SIGKILLs a random replica sc.kills times, once in each of sc.kills equal slots of the load
// phase after killFrom (at a random moment in the slot's first two thirds), and restarts it; the full run
// also restarts PostgreSQL once, at pgRestartAt.
func (h *harness) killWorkers(ctx context.Context) {
	start := time.Now()
	slot := (h.sc.load - h.sc.killFrom) / time.Duration(h.sc.kills)
	restarted := h.sc.pgRestartAt == 0
	for i := range h.sc.kills {
		at := h.sc.killFrom + time.Duration(i)*slot + time.Duration(mrand.Int64N(int64(slot*2/3)))
		if !restarted && at > h.sc.pgRestartAt {
			if !sleepCtx(ctx, time.Until(start.Add(h.sc.pgRestartAt))) {
				return
			}
			h.restartPostgres()
			restarted = true
		}
		if !sleepCtx(ctx, time.Until(start.Add(at))) {
			return
		}
		w := h.workers[mrand.IntN(len(h.workers))]
		w.kill()
		h.kills.Add(1)
		h.t.Logf("t=%s SIGKILL %s", time.Since(start).Round(time.Second), w.name)
		sleepCtx(ctx, time.Duration(500+mrand.IntN(2500))*time.Millisecond)
		if err := w.start(); err != nil {
			h.t.Error(err)
		}
	}
	if !restarted && sleepCtx(ctx, time.Until(start.Add(h.sc.pgRestartAt))) {
		h.restartPostgres()
	}
}

// replies seeds mentions of our account on X (some hostile, which the gates stop) and has the replicas
// answer them with `xbot enqueue reply`, so replies are posted (and reconciled) under the same faults.
func (h *harness) replies(ctx context.Context) {
	if err := postJSON(h.simURL+"/_sim/mentions", map[string]int{"n": h.sc.mentions}); err != nil {
		h.t.Errorf("seed mentions: %v", err)
		return
	}
	for i := range replicas {
		if !sleepCtx(ctx, h.sc.burstEvery/2) {
			return
		}
		if _, err := h.run(h.t, fmt.Sprintf("enqueue-reply-%d", i), h.env(), h.bin, "enqueue", "reply"); err != nil {
			h.t.Logf("enqueue reply (tolerated while the database restarts): %v", err)
		}
	}
}

// draftTexts are approved drafts with what X transforms on reads: &, < and > come back entity-escaped,
// links come back as t.co links, a reply comes back with the replied-to author's @handle in front.
var draftTexts = []string{
	"Queues & workers: measure the oldest job first, then the depth <- that order matters. Notes: https://example.com/queues?a=1&b=2",
	"Retries < backoff < jitter & a cap on attempts. The long version, with graphs: https://example.org/retries",
	"Postgres advisory locks & one line of SQL: two replicas stop stepping on each other. See https://example.net/locks",
	"A 5xx after the request left is not a failure & not a success <- reconcile before sending again. https://example.com/x",
	"Rollback plan first & rollout plan second. Details & a checklist: https://example.org/rollback?x=<1>",
	"Small PRs > big PRs & reviews stay real. https://example.net/prs and https://example.com/reviews",
}

// queueDrafts puts approved drafts straight into the queue (as an operator approving pending drafts would);
// post_sweep finds them and inserts their post jobs. Every third one is a reply to a seeded mention.
func (h *harness) queueDrafts(ctx context.Context) {
	var mentions []struct{ id, user string }
	if h.sc.drafts/3 > 0 {
		var seeded struct {
			IDs []string `json:"ids"`
		}
		if err := postJSONOut(h.simURL+"/_sim/mentions", map[string]int{"n": h.sc.drafts / 3}, &seeded); err != nil {
			h.t.Fatalf("seed mentions for reply drafts: %v", err)
		}
		for _, id := range seeded.IDs {
			var user string
			if err := h.pool.QueryRow(ctx, `SELECT u.username FROM sim_posts p JOIN sim_users u ON u.id = p.author_id
				WHERE p.id = $1::bigint`, id).Scan(&user); err != nil {
				h.t.Fatalf("author of mention %s: %v", id, err)
			}
			mentions = append(mentions, struct{ id, user string }{id, user})
		}
	}
	for i := range h.sc.drafts {
		text := fmt.Sprintf("%s (draft %d)", draftTexts[i%len(draftTexts)], i+1)
		kind, target, user := "single", "", ""
		if i%3 == 2 && len(mentions) > 0 {
			m := mentions[0]
			mentions = mentions[1:]
			kind, target, user = "reply", m.id, m.user
		}
		if _, err := h.pool.Exec(ctx, `INSERT INTO content_metadata (decision_id, account_id, decision_type, content,
				content_hash, generation_source, status, scheduled_at, topic, target_tweet_id, target_username)
			SELECT gen_random_uuid(), id, $1, $2, encode(sha256(convert_to($2, 'UTF8')), 'hex'), 'real', 'queued', now(),
				'drafts', NULLIF($3, ''), NULLIF($4, '')
			FROM accounts WHERE is_default`, kind, text, target, user); err != nil {
			h.t.Fatalf("queue draft %d: %v", i+1, err)
		}
	}
}

// restartPostgres stops the throwaway cluster for a while: /readyz must answer 503 meanwhile, and a worker
// started while it is down must keep retrying River's Start, log it, and come up once it is back.
func (h *harness) restartPostgres() {
	t := h.t
	downAt := time.Now()
	if err := h.cluster.stop(); err != nil {
		t.Errorf("stop PostgreSQL: %v", err)
		return
	}
	t.Logf("PostgreSQL stopped")
	h.pgRestarts.Add(1)
	if code := httpStatus(h.webURL + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while the database is down, want 503", code)
	}
	late := &proc{h: h, name: "worker-started-while-db-down", args: []string{h.bin, "worker"}, env: h.env()}
	if err := late.start(); err != nil {
		t.Error(err)
	}
	t.Cleanup(func() { late.stop(10 * time.Second) })
	// The late worker must be seen retrying (a condition); the outage then lasts out its planned length,
	// long enough for every replica's in-flight work to hit it.
	if err := late.waitLog("database unreachable; retrying", 60*time.Second); err != nil {
		t.Errorf("a worker started while the database is down must log its retries: %v", err)
	}
	sleepCtx(context.Background(), time.Until(downAt.Add(pgOutage)))
	if code := httpStatus(h.webURL + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while the late worker retries, want 503", code)
	}
	if err := h.cluster.start(); err != nil {
		t.Errorf("start PostgreSQL: %v", err)
		return
	}
	t.Logf("PostgreSQL restarted after %s down", time.Since(downAt).Round(time.Second))
	deadline := time.Now().Add(30 * time.Second)
	for httpStatus(h.webURL+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Errorf("/readyz did not answer 200 within 30 s of PostgreSQL's restart")
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := late.waitLog(`"worker started"`, 90*time.Second); err != nil {
		t.Errorf("a worker started while the database was down must retry and come up: %v", err)
	} else {
		_, c, _ := late.current()
		if out := c.stdout(); !strings.Contains(out, "database unreachable; retrying") && !strings.Contains(out, "river start failed; retrying") {
			t.Errorf("the worker started while the database was down did not log its River Start retries")
		}
	}
	late.stop(70 * time.Second)
}

// drainFleet waits until no decision is queued and due or posting and no plan is pending, then a while
// for the analytics of what was posted.
func (h *harness) drainFleet(ctx context.Context, from time.Time) {
	t := h.t
	deadline := from.Add(h.sc.drain)
	if d, ok := t.Deadline(); ok && d.Add(-3*time.Minute).Before(deadline) {
		deadline = d.Add(-3 * time.Minute) // leave time for the checks and the report
	}
	var last string
	for {
		var due, posting, plans, noOutcome int
		err := h.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM content_metadata WHERE status = 'queued' AND scheduled_at <= now()),
			(SELECT count(*) FROM content_metadata WHERE status = 'posting'),
			(SELECT count(*) FROM river_job WHERE kind IN ('plan', 'post') AND (state IN ('available', 'running', 'retryable')
				OR (state = 'scheduled' AND scheduled_at < now() + interval '1 minute'))),
			(SELECT count(*) FROM content_metadata c WHERE status = 'posted' AND NOT EXISTS
				(SELECT 1 FROM outcomes o WHERE o.decision_id = c.decision_id))`).Scan(&due, &posting, &plans, &noOutcome)
		if err != nil {
			t.Logf("drain: %v", err)
		}
		state := fmt.Sprintf("queued_due=%d posting=%d plan_or_post_jobs_pending=%d posted_without_outcome=%d", due, posting, plans, noOutcome)
		if state != last {
			t.Logf("drain t=%s: %s", time.Since(from).Round(time.Second), state)
			last = state
		}
		if err == nil && due == 0 && posting == 0 && plans == 0 && noOutcome == 0 {
			t.Logf("drained %s after the load phase", time.Since(from).Round(time.Second))
			return
		}
		if time.Now().After(deadline) {
			t.Logf("not drained within %s: %s", h.sc.drain, state)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// figures are what the final check counts.
type figures struct {
	decisions, posted, unconfirmed, failed, skipped, queuedDue, posting           int
	simDuplicates, sharedTweetIDs, unmatchedPosted, noPostedRecord, noReason      int
	failedOnX, unconfirmedOnX, orphanSimPosts, outcomes, learningRuns, budgetOver int
	postedReplies, postedDrafts                                                   int
}

func (h *harness) report(ctx context.Context) {
	t := h.t
	var f figures
	q := func(dst *int, sql string, args ...any) {
		if err := h.pool.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			t.Errorf("check %q: %v", sql, err)
		}
	}
	q(&f.decisions, `SELECT count(*) FROM content_metadata WHERE status <> 'skipped'`)
	q(&f.skipped, `SELECT count(*) FROM content_metadata WHERE status = 'skipped'`)
	q(&f.posted, `SELECT count(*) FROM content_metadata WHERE status = 'posted'`)
	q(&f.unconfirmed, `SELECT count(*) FROM content_metadata WHERE status = 'unconfirmed'`)
	q(&f.failed, `SELECT count(*) FROM content_metadata WHERE status = 'failed'`)
	q(&f.queuedDue, `SELECT count(*) FROM content_metadata WHERE status = 'queued' AND scheduled_at <= now()`)
	q(&f.posting, `SELECT count(*) FROM content_metadata WHERE status = 'posting'`)
	// Exactly once on X: no text of ours twice, no tweet claimed by two decisions.
	q(&f.simDuplicates, `SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM sim_posts
		WHERE author_id = $1::bigint GROUP BY text_norm) d`, h.userID)
	q(&f.sharedTweetIDs, `SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM content_metadata
		WHERE status = 'posted' GROUP BY tweet_id) d`)
	// Every posted row matches exactly one post of ours by tweet_id, with its text, and has its record.
	q(&f.unmatchedPosted, `SELECT count(*) FROM content_metadata c WHERE status = 'posted' AND (SELECT count(*)
		FROM sim_posts s WHERE s.id::text = c.tweet_id AND s.author_id = $1::bigint AND s.text = c.content) <> 1`, h.userID)
	q(&f.noPostedRecord, `SELECT count(*) FROM content_metadata c WHERE status = 'posted' AND NOT EXISTS
		(SELECT 1 FROM posted_decisions p WHERE p.decision_id = c.decision_id AND p.tweet_id = c.tweet_id)`)
	q(&f.noReason, `SELECT count(*) FROM content_metadata WHERE status IN ('unconfirmed', 'failed') AND coalesce(error_message, '') = ''`)
	q(&f.failedOnX, `SELECT count(*) FROM content_metadata c WHERE status = 'failed' AND EXISTS
		(SELECT 1 FROM sim_posts s WHERE s.author_id = $1::bigint AND s.text = c.content)`, h.userID)
	q(&f.unconfirmedOnX, `SELECT count(*) FROM content_metadata c WHERE status = 'unconfirmed' AND EXISTS
		(SELECT 1 FROM sim_posts s WHERE s.author_id = $1::bigint AND s.text = c.content)`, h.userID)
	q(&f.orphanSimPosts, `SELECT count(*) FROM sim_posts s WHERE author_id = $1::bigint AND NOT EXISTS
		(SELECT 1 FROM content_metadata c WHERE c.content = s.text)`, h.userID)
	q(&f.outcomes, `SELECT count(*) FROM outcomes`)
	q(&f.postedReplies, `SELECT count(*) FROM content_metadata WHERE status = 'posted' AND decision_type = 'reply'`)
	q(&f.postedDrafts, `SELECT count(*) FROM content_metadata WHERE status = 'posted' AND topic = 'drafts'`)
	q(&f.learningRuns, `SELECT count(*) FROM learning_runs`)

	// The LLM ledger: within the cap, nothing left reserved, spent equal to what api_usage recorded.
	q(&f.budgetOver, `SELECT count(*) FROM llm_budget_days WHERE spent_usd > $1::numeric`, fmt.Sprintf("%.8f", h.capUSD))
	rows, err := h.pool.Query(ctx, `SELECT d.day::text, d.spent_usd::text, d.reserved_usd::text,
		coalesce((SELECT sum(cost_usd) FROM api_usage u WHERE u.budget_day = d.day), 0)::text,
		d.spent_usd = coalesce((SELECT sum(cost_usd) FROM api_usage u WHERE u.budget_day = d.day), 0)
		FROM llm_budget_days d ORDER BY d.day`)
	if err != nil {
		t.Errorf("read the ledger: %v", err)
	} else {
		for rows.Next() {
			var day, spent, reserved, usage string
			var equal bool
			if err := rows.Scan(&day, &spent, &reserved, &usage, &equal); err != nil {
				t.Errorf("read the ledger: %v", err)
				break
			}
			t.Logf("ledger %s: spent=%s reserved=%s sum(api_usage.cost_usd)=%s cap=%.8f", day, spent, reserved, usage, h.capUSD)
			if strings.Trim(strings.TrimLeft(reserved, "0"), ".0") != "" {
				t.Errorf("ledger %s: reserved_usd=%s after the drain, want 0 (a reservation left by a killed process?)", day, reserved)
			}
			if !equal {
				t.Errorf("ledger %s: spent_usd=%s but SUM(api_usage.cost_usd)=%s", day, spent, usage)
			}
		}
		rows.Close()
	}
	var calls, refusedBudget int
	q(&calls, `SELECT count(*) FROM api_usage WHERE status = 'success'`)
	for _, c := range h.allCaptures() {
		refusedBudget += strings.Count(c.stdout(), "[PLAN_JOB] ⚠️ OpenAI budget exhausted")
	}

	status, err := h.run(t, "status", h.env(), h.bin, "status")
	if err != nil {
		t.Errorf("xbot status: %v", err)
	}
	llmStatus, err := h.run(t, "llm-status", h.env(), h.bin, "llm", "status")
	if err != nil {
		t.Errorf("xbot llm status: %v", err)
	}
	t.Logf("xbot status:\n%s\nxbot llm status:\n%s", status, llmStatus)
	h.scanSecrets(ctx)

	lost := f.queuedDue + f.posting + f.unmatchedPosted + f.noPostedRecord + f.noReason
	dups := f.simDuplicates + f.sharedTweetIDs
	t.Logf("decisions=%d (posted %d, unconfirmed %d, failed %d; %d more skipped by the gates) outcomes=%d learning_runs=%d",
		f.decisions, f.posted, f.unconfirmed, f.failed, f.skipped, f.outcomes, f.learningRuns)
	t.Logf("llm: %d successful calls, %d plans refused by the budget; faults injected: %d (planned %d), met a request: %d",
		calls, refusedBudget, h.faults.Load(), h.sc.faults, h.faultsFired)
	t.Logf("posted replies=%d, posted drafts with &, < and links=%d", f.postedReplies, f.postedDrafts)
	t.Logf("lost: queued_due=%d posting=%d posted_without_matching_sim_post=%d posted_without_record=%d finished_without_reason=%d",
		f.queuedDue, f.posting, f.unmatchedPosted, f.noPostedRecord, f.noReason)
	t.Logf("on X but not recorded posted: failed=%d unconfirmed=%d sim_posts_matching_no_decision=%d", f.failedOnX, f.unconfirmedOnX, f.orphanSimPosts)
	if h.sc.name == "full" && f.decisions < 200 {
		t.Errorf("only %d decisions flowed; the full run needs 200+", f.decisions)
	}
	if xspec.Checked(h.xSpec) == 0 {
		t.Errorf("no X exchange went through the spec check")
	}
	t.Logf("X exchanges checked against the spec: %d", xspec.Checked(h.xSpec))
	if f.posted == 0 || f.outcomes == 0 {
		t.Errorf("nothing flowed through: posted=%d outcomes=%d", f.posted, f.outcomes)
	}
	if dups != 0 {
		t.Errorf("duplicates=%d: texts posted more than once=%d, tweet ids shared by decisions=%d", dups, f.simDuplicates, f.sharedTweetIDs)
	}
	if lost != 0 {
		t.Errorf("lost=%d", lost)
	}
	if f.budgetOver != 0 {
		t.Errorf("budget_overrun=%d: a day's spend went over the cap $%.8f", f.budgetOver, h.capUSD)
	}
	// A post on X must be recorded posted: failed or unconfirmed rows whose text is on X, or posts of ours
	// that no decision holds, are posts the fleet lost track of.
	if f.failedOnX+f.unconfirmedOnX+f.orphanSimPosts != 0 {
		t.Errorf("on X but not recorded posted: failed=%d unconfirmed=%d posts matching no decision=%d",
			f.failedOnX, f.unconfirmedOnX, f.orphanSimPosts)
	}
	if f.unconfirmed+f.failed > h.sc.maxUnfinished {
		t.Errorf("unconfirmed+failed=%d, more than the bound %d", f.unconfirmed+f.failed, h.sc.maxUnfinished)
	}
	if got := int(h.kills.Load()); got < h.sc.kills {
		t.Errorf("kills=%d, the run planned %d", got, h.sc.kills)
	}
	if got := int(h.faults.Load()); got < h.sc.faults {
		t.Errorf("faults injected=%d, the run planned %d", got, h.sc.faults)
	}
	if h.faultsFired < h.sc.faultsFired {
		t.Errorf("faults that met a request=%d, the run needs at least %d", h.faultsFired, h.sc.faultsFired)
	}
	if h.sc.pgRestartAt > 0 && h.pgRestarts.Load() == 0 {
		t.Errorf("pg_restarts=0, the run planned one")
	}
	if f.postedReplies == 0 || f.postedDrafts == 0 {
		t.Errorf("posted replies=%d, posted drafts with &, < and links=%d: each needs at least one", f.postedReplies, f.postedDrafts)
	}
	if t.Failed() {
		for _, w := range h.workers {
			_, c, _ := w.current()
			t.Logf("last lines of %s:\n%s", c.name, c.tail(15))
		}
	}
	fmt.Printf("posted=%d duplicates=%d lost=%d unconfirmed=%d failed=%d kills=%d pg_restarts=%d budget_overrun=%d\n",
		f.posted, dups, lost, f.unconfirmed, f.failed, h.kills.Load(), h.pgRestarts.Load(), f.budgetOver)
}

func (h *harness) allCaptures() []*capture {
	h.capMu.Lock()
	defer h.capMu.Unlock()
	return append([]*capture(nil), h.captures...)
}

// scanSecrets greps every process's output, River's job rows and our error columns for the configured
// secrets (whole, and their random part alone).
func (h *harness) scanSecrets(ctx context.Context) {
	t := h.t
	sources := map[string]string{}
	for _, c := range h.allCaptures() {
		sources[c.name+" stdout"] = c.stdout()
		sources[c.name+" stderr"] = c.stderr()
	}
	for name, sql := range map[string]string{
		"river_job args/metadata/errors": `SELECT coalesce(string_agg(args::text || ' ' || metadata::text || ' ' || coalesce(errors::text, ''), E'\n'), '') FROM river_job`,
		"content_metadata errors":        `SELECT coalesce(string_agg(coalesce(error_message, '') || ' ' || coalesce(skip_reason, ''), E'\n'), '') FROM content_metadata`,
		"api_usage":                      `SELECT coalesce(string_agg(row_to_json(u)::text, E'\n'), '') FROM api_usage u`,
		"circuits":                       `SELECT coalesce(string_agg(row_to_json(c)::text, E'\n'), '') FROM circuits c`,
	} {
		var text string
		if err := h.pool.QueryRow(ctx, sql).Scan(&text); err != nil {
			t.Errorf("read %s for the secret scan: %v", name, err)
		}
		sources[name] = text
	}
	if h.webURL != "" {
		// The web server's answers, read as an operator and a scraper would.
		for _, path := range []string{"/metrics", "/api/metrics", "/api/decisions", "/", "/riverui/api/jobs?state=completed&limit=100",
			"/riverui/api/jobs?state=cancelled&limit=100", "/riverui/api/queues"} {
			req, err := http.NewRequestWithContext(ctx, "GET", h.webURL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(path, "metrics") {
				req.Header.Set("Authorization", "Bearer "+h.secrets["METRICS_TOKEN"])
			} else {
				req.SetBasicAuth("admin", h.secrets["RIVERUI_PASSWORD"])
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Errorf("GET %s for the secret scan: %v", path, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s for the secret scan: %d", path, resp.StatusCode)
			}
			sources["web "+path] = string(body)
		}
	}
	hits := 0
	all := map[string]string{}
	for k, v := range h.secrets {
		all[k] = v
	}
	for k, v := range h.accountSecrets {
		all[k] = v
	}
	for src, text := range sources {
		for key, secret := range all {
			core := secret[len(secret)-12:]
			if strings.Contains(text, secret) || strings.Contains(text, core) {
				hits++
				t.Errorf("secret %s appears in %s", key, src)
			}
		}
	}
	t.Logf("secret scan: %d sources, %d hits", len(sources), hits)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func httpStatus(u string) int {
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSON(u string, v any) error {
	resp, err := httpClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func postJSON(u string, v any) error { return postJSONOut(u, v, nil) }

func postJSONOut(u string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := httpClient.Post(u, "application/json", strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", u, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func deleteFaults(sim string) error {
	req, err := http.NewRequest(http.MethodDelete, sim+"/_sim/faults", nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("DELETE /_sim/faults: %s", resp.Status)
	}
	return nil
}
