package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/childproc"
	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// Helpers shared by the fleet benchmarks and the fleet correctness tests: due posts, their lateness,
// and real `xbot` processes.

// queueDue stores n queued decisions of account, due evenly over [first, first+span), with their post
// jobs, in one transaction through an insert-only River client. It returns their ids.
func queueDue(tb testing.TB, pool *pgxpool.Pool, accountID int64, source string, n int, first time.Time, span time.Duration) []string {
	tb.Helper()
	ctx := context.Background()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: newBenchLog()})
	require.NoError(tb, err)
	st := store.New(pool)
	ids := make([]string, n)
	tag := uuid.NewString()[:8]
	require.NoError(tb, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		params := make([]river.InsertManyParams, n)
		for i := range n {
			at := first.Add(span * time.Duration(i) / time.Duration(n))
			d := &store.Decision{DecisionID: uuid.NewString(), AccountID: accountID, DecisionType: "single",
				Content:          fmt.Sprintf("Due post %d of run %s: small steady releases beat big risky ones.", i, tag),
				GenerationSource: source, Status: store.StatusQueued, ScheduledAt: at, Topic: "shipping", Format: "tip", Hook: "none"}
			if err := st.InsertDecision(ctx, tx, d); err != nil {
				return err
			}
			ids[i] = d.DecisionID
			params[i] = river.InsertManyParams{Args: jobs.PostArgs{DecisionID: d.DecisionID},
				InsertOpts: &river.InsertOpts{ScheduledAt: at, MaxAttempts: 4}}
		}
		_, err := rc.InsertManyTx(ctx, tx, params)
		return err
	}))
	return ids
}

// lateness is posted_at − scheduled_at over a set of decisions.
type lateness struct {
	posted, total     int
	p50, p99, maxSecs float64
}

func measureLateness(tb testing.TB, pool *pgxpool.Pool, ids []string) lateness {
	tb.Helper()
	var l lateness
	require.NoError(tb, pool.QueryRow(context.Background(), `
		SELECT count(*), count(*) FILTER (WHERE status = 'posted'),
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM posted_at - scheduled_at)), 0),
			coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM posted_at - scheduled_at)), 0),
			coalesce(max(extract(epoch FROM posted_at - scheduled_at)), 0)::float8
		FROM content_metadata WHERE decision_id = ANY($1::uuid[])`, ids).Scan(&l.total, &l.posted, &l.p50, &l.p99, &l.maxSecs))
	return l
}

func (l lateness) report(prefix string) {
	figure(prefix+"_p50", round(l.p50, 3), "s")
	figure(prefix+"_p99", round(l.p99, 3), "s")
	figure(prefix+"_max", round(l.maxSecs, 3), "s")
	figure(prefix+"_lost", float64(l.total-l.posted), "posts")
}

// waitPosted waits until every decision is posted.
func waitPosted(tb testing.TB, pool *pgxpool.Pool, ids []string, limit time.Duration) {
	tb.Helper()
	waitUntil(tb, limit, "every due post posted", func() (bool, error) {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM content_metadata WHERE decision_id = ANY($1::uuid[]) AND status = 'posted'`, ids).Scan(&n)
		return n == len(ids), err
	})
}

// simDoubles counts texts the simulator (state in Postgres) holds more than once.
func simDoubles(tb testing.TB, pool *pgxpool.Pool) int {
	tb.Helper()
	var n int
	require.NoError(tb, pool.QueryRow(context.Background(),
		`SELECT count(*) FROM (SELECT text_norm FROM sim_posts GROUP BY text_norm HAVING count(*) > 1) d`).Scan(&n))
	return n
}

// waitLeader waits until a River leader is elected and returns its client id.
func waitLeader(tb testing.TB, pool *pgxpool.Pool, limit time.Duration) string {
	tb.Helper()
	var id string
	waitUntil(tb, limit, "a River leader elected", func() (bool, error) {
		err := pool.QueryRow(context.Background(), `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id)
		if err == pgx.ErrNoRows {
			return false, nil
		}
		return err == nil, err
	})
	return id
}

// buildXbot compiles the real binary once per benchmark or test.
func buildXbot(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "xbot")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(tb, err, "go build: %s", out)
	return bin
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// xproc is one running `xbot` process; its output is kept in a file for failures.
type xproc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startXbot(tb testing.TB, bin string, env []string, args ...string) *xproc {
	tb.Helper()
	return startProcess(tb, childproc.Attr(), bin, env, args...)
}

// startProcess starts bin like startXbot, with attr (childproc's).
func startProcess(tb testing.TB, attr *syscall.SysProcAttr, bin string, env []string, args ...string) *xproc {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), filepath.Base(args[0])+"-*.log")
	require.NoError(tb, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = attr
	require.NoError(tb, cmd.Start())
	p := &xproc{cmd: cmd, done: make(chan struct{}), log: f.Name()}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	tb.Cleanup(func() {
		p.stop()
		if tb.Failed() {
			out, _ := os.ReadFile(p.log)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			tb.Logf("%s (pid %d), last lines:\n%s", strings.Join(args, " "), p.pid(), strings.Join(lines[max(len(lines)-15, 0):], "\n"))
		}
	})
	return p
}

func (p *xproc) pid() int { return p.cmd.Process.Pid }

func (p *xproc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *xproc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
}

// rssMiB is the process's resident set size.
func (p *xproc) rssMiB() float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// peakRSS samples processes' RSS every 100 ms until stop is closed and returns each one's peak.
func peakRSS(procs []*xproc, stop <-chan struct{}) <-chan []float64 {
	out := make(chan []float64, 1)
	go func() {
		peak := make([]float64, len(procs))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for i, p := range procs {
				peak[i] = max(peak[i], p.rssMiB())
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// fleetEnv is a live fleet posting to a standalone simulator at simURL.
func fleetEnv(dbURL, simURL string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + dbURL, "MODE=live", "LIVE_POSTS=true", "POSTING_DISABLED=false", "X_API_BASE_URL=" + simURL,
		"X_API_KEY=" + xsim.DefaultConsumerKey, "X_API_SECRET=" + xsim.DefaultConsumerSecret,
		"X_ACCESS_TOKEN=" + xsim.DefaultAccessToken, "X_ACCESS_TOKEN_SECRET=" + xsim.DefaultAccessTokenSecret,
		"PLAN_INTERVAL=2h", "REPLY_INTERVAL=2h", "MIN_POST_SPACING=0s", "MAX_POSTS_PER_DAY=1000", "PLAN_WINDOW=0s",
		"LOG_FORMAT=json", "LOG_LEVEL=warn", "PORT=0", "XBOT_SECRET_KEY=" + fleetSecretKey,
		// Several processes per test, several tests per server: each process's pool is capped (extra may
		// raise it; the last value of a variable wins).
		"DATABASE_MAX_CONNS=6"}
	return append(env, extra...)
}

// fleetSecretKey is the fleet's XBOT_SECRET_KEY: added accounts' credentials are sealed with it.
const fleetSecretKey = "ZmxlZXQtdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0wMDE="

// addSimAccounts adds n accounts to the fleet with `xbot accounts add`, each one of the users `xbot sim
// --accounts` serves (xsim.NumberedAccount first..first+n-1, verified on the simulator), sets each
// setting (`KEY=VALUE`, as `xbot accounts set` takes it) on them, and returns their ids.
func addSimAccounts(tb testing.TB, pool *pgxpool.Pool, env []string, first, n int, settings ...string) []int64 {
	tb.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	ids := make([]int64, n)
	for i := range ids {
		a := xsim.NumberedAccount(first + i)
		creds := fmt.Sprintf("X_API_KEY=%s\nX_API_SECRET=%s\nX_ACCESS_TOKEN=%s\nX_ACCESS_TOKEN_SECRET=%s\n",
			xsim.DefaultConsumerKey, xsim.DefaultConsumerSecret, a.AccessToken, a.AccessTokenSecret)
		code, out := runCLI(vars, creds, "accounts", "add", "--handle", a.Username)
		require.Equal(tb, 0, code, out)
		for _, kv := range settings {
			code, out := runCLI(vars, "", "accounts", "set", a.Username, kv)
			require.Equal(tb, 0, code, out)
		}
		require.NoError(tb, pool.QueryRow(context.Background(), `SELECT id FROM accounts WHERE x_user_id = $1`,
			strconv.FormatInt(a.UserID, 10)).Scan(&ids[i]))
	}
	return ids
}

// startSim starts `xbot sim` on a free port with posting and read limits out of the way (a fleet reading
// 1,000 posts' metrics within minutes would otherwise wait for X's next 15-minute window, as it must in
// production), serving the environment's user and `accounts` more (xsim.NumberedAccount), and waits until
// it serves.
func startSim(tb testing.TB, bin, dbURL string, accounts int) string {
	tb.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(tb))
	startXbot(tb, bin, fleetEnv(dbURL, ""), "sim", "--addr", addr, "--posts-per-15min", "1000000", "--posts-per-day", "1000000", "--reads-per-15min", "1000000",
		"--accounts", strconv.Itoa(accounts))
	url := "http://" + addr
	waitUntil(tb, time.Minute, "simulator serving", func() (bool, error) {
		resp, err := http.Get(url + "/_sim/state")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return url
}

// defaultAccount waits until a worker has resolved the env account and returns its id.
func defaultAccount(tb testing.TB, pool *pgxpool.Pool) int64 {
	tb.Helper()
	var id int64
	waitUntil(tb, time.Minute, "the default account resolved", func() (bool, error) {
		err := pool.QueryRow(context.Background(), `SELECT id FROM accounts WHERE is_default AND x_user_id IS NOT NULL`).Scan(&id)
		if err == pgx.ErrNoRows {
			return false, nil
		}
		return err == nil, err
	})
	return id
}

// leaderProc is the process whose River client leads (client ids carry the pid: riverClientID).
func leaderProc(tb testing.TB, pool *pgxpool.Pool, procs []*xproc) *xproc {
	tb.Helper()
	id := waitLeader(tb, pool, time.Minute)
	for _, p := range procs {
		if strings.Contains(id, fmt.Sprintf("_pid%d_", p.pid())) {
			return p
		}
	}
	tb.Fatalf("leader %q is none of the started workers", id)
	return nil
}

// failoverRun is item 3's second half at any size: three workers, n posts due over span, the leader
// SIGKILLed halfway through. It returns the lateness, the texts posted more than once and the number of
// posts on the simulated X.
func failoverRun(tb testing.TB, bin string, n int, span time.Duration, extraEnv ...string) (lateness, int, int) {
	tb.Helper()
	pool, schema := dbtest.Schema(tb)
	dbURL := dbtest.SchemaURL(tb, schema)
	simURL := startSim(tb, bin, dbURL, 0)
	env := fleetEnv(dbURL, simURL, extraEnv...)
	var procs []*xproc
	for range 3 {
		procs = append(procs, startXbot(tb, bin, env, "worker"))
	}
	acct := defaultAccount(tb, pool)
	leader := leaderProc(tb, pool, procs)
	first := time.Now().Add(5 * time.Second)
	ids := queueDue(tb, pool, acct, "real", n, first, span)
	var once sync.Once
	waitUntil(tb, span+5*time.Minute, "every due post posted after the leader's kill", func() (bool, error) {
		if time.Now().After(first.Add(span / 2)) {
			once.Do(leader.kill)
		}
		var posted int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM content_metadata WHERE decision_id = ANY($1::uuid[]) AND status = 'posted'`, ids).Scan(&posted)
		return posted == n, err
	})
	var onX int
	require.NoError(tb, pool.QueryRow(context.Background(), `SELECT count(*) FROM sim_posts`).Scan(&onX))
	return measureLateness(tb, pool, ids), simDoubles(tb, pool), onX
}

// pipelineProcEnv is the pipeline's configuration for real worker processes (live mode against the
// standalone simulator, the LLM fake at llmURL).
func pipelineProcEnv(dbURL, simURL, llmURL string, extra ...string) []string {
	env := fleetEnv(dbURL, simURL, "OPENAI_API_KEY="+benchLLMKey, "OPENAI_BASE_URL="+llmURL,
		"DAILY_OPENAI_LIMIT_USD=1000000", "POSTS_PER_PLAN=20", "ANALYTICS_DELAY=0s", "REAL_METRICS_ENABLED=true",
		"LEARN_PERIOD=1s", "LEARN_MIN_OUTCOMES=1", "ROTATION_MIN_POSTS=100000")
	return append(env, extra...)
}

// enqueuePlans inserts n plan jobs for account.
func enqueuePlans(tb testing.TB, pool *pgxpool.Pool, accountID int64, n int) {
	tb.Helper()
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: newBenchLog()})
	require.NoError(tb, err)
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: jobs.PlanArgs{AccountID: accountID}}
	}
	_, err = rc.InsertMany(context.Background(), params)
	require.NoError(tb, err)
}

// waitLearned waits until n decisions are posted and learned from, and none is queued or posting.
func waitLearned(tb testing.TB, pool *pgxpool.Pool, n int, limit time.Duration) {
	tb.Helper()
	waitUntil(tb, limit, fmt.Sprintf("%d decisions learned from", n), func() (bool, error) {
		var open, learned int
		err := pool.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM content_metadata WHERE status IN ('queued', 'posting')),
			(SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL)`).Scan(&open, &learned)
		return open == 0 && learned >= n, err
	})
}
