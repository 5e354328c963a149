package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/childproc"
	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

// pgBouncerBin is Debian's pgbouncer (make pgbouncer installs it).
func pgBouncerBin(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	tb.Fatal("pgbouncer is not installed: run make pgbouncer (apt-get install pgbouncer)")
	return ""
}

// startPgBouncer runs pgbouncer on a free port in front of the test server, in transaction mode with at
// most serverConns server connections, and returns its address as host:port.
func startPgBouncer(tb testing.TB, serverConns int) string {
	tb.Helper()
	u, err := url.Parse(dbtest.ServerURL())
	require.NoError(tb, err)
	dir, err := os.MkdirTemp("", "xbot-pgbouncer-")
	require.NoError(tb, err)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(tb, os.Chmod(dir, 0o777)) // pgbouncer refuses root and runs as postgres
	port := freePort(tb)
	user := u.User.Username()
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_db_connections = %d
max_client_conn = 5000
ignore_startup_parameters = extra_float_digits
`, u.Hostname(), cmpPort(u.Port()), port, filepath.Join(dir, "users.txt"), serverConns, serverConns)
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "users.txt"), []byte(strconv.Quote(user)+` ""`+"\n"), 0o644))
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644))
	// PgBouncer refuses root: a root test starts it as postgres (not with its -u, which would drop the
	// parent-death signal with the privileges).
	attr := childproc.Attr()
	if os.Geteuid() == 0 {
		attr, err = childproc.AsUser("postgres")
		require.NoError(tb, err)
	}
	p := startProcess(tb, attr, pgBouncerBin(tb), nil, filepath.Join(dir, "pgbouncer.ini"))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitUntil(tb, 30*time.Second, "pgbouncer listening", func() (bool, error) {
		select {
		case <-p.done:
			out, _ := os.ReadFile(p.log)
			return false, fmt.Errorf("pgbouncer exited: %s", out)
		default:
		}
		conn, err := pgx.Connect(context.Background(), "postgres://"+user+"@"+addr+"/postgres?sslmode=disable")
		if err != nil {
			return false, nil
		}
		conn.Close(context.Background())
		return true, nil
	})
	return addr
}

func cmpPort(p string) string {
	if p == "" {
		return "5432"
	}
	return p
}

// freshDatabase creates a migrated database of its own (PgBouncer passes no search_path, so a schema
// will not do), dropped when the test ends, and returns a direct pool and its name.
func freshDatabase(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	ctx := context.Background()
	name := "xbot_pgb_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, err := dbtest.Pool(tb).Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(tb, err)
	u, err := url.Parse(dbtest.ServerURL())
	require.NoError(tb, err)
	u.Path = "/" + name
	pool, err := store.ConnectWith(ctx, u.String(), store.PoolOptions{MaxConns: 4})
	require.NoError(tb, err)
	tb.Cleanup(func() {
		pool.Close()
		_, _ = dbtest.Pool(tb).Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	_, err = store.Migrate(ctx, pool, "")
	require.NoError(tb, err)
	return pool, name
}

// databaseURL is the test server's URL for database name, through addr when not empty.
func databaseURL(tb testing.TB, name, addr string) string {
	tb.Helper()
	u, err := url.Parse(dbtest.ServerURL())
	require.NoError(tb, err)
	u.Path = "/" + name
	if addr != "" {
		u.Host = addr
	}
	return u.String()
}

// scaleResult is what one fleet run measured.
type scaleResult struct {
	pool       *pgxpool.Pool
	late       lateness
	decisionsS float64
	decisions  int
	doubled    int
	lost       int
}

// scaleRun starts replicas `xbot worker` processes on a fresh database (through PgBouncer at addr when
// not empty) against a standalone simulator and the LLM fake, then measures lateness of posts due over
// span, and decisions/s of plansPerAccount plans on each of accounts accounts through learning.
func scaleRun(tb testing.TB, bin string, replicas int, addr string, posts int, span time.Duration, accounts, plansPerAccount int, extraEnv ...string) scaleResult {
	tb.Helper()
	ctx := context.Background()
	pool, name := freshDatabase(tb)
	simURL := startSim(tb, bin, databaseURL(tb, name, ""), accounts)
	fake := llmtestServer(tb)
	env := pipelineProcEnv(databaseURL(tb, name, addr), simURL, fake, append([]string{"POSTS_PER_PLAN=10"}, extraEnv...)...)
	if addr != "" {
		env = append(env, "DATABASE_POOLER=pgbouncer")
	}
	// The due posts belong to an account of their own (the simulator's @xbot_sim_1, added with its own
	// credentials): the periodic plan that runs on start fills the default account's day, and
	// MAX_POSTS_PER_DAY holds at send time. It is added before any replica starts and without an LLM
	// budget, so no plan ever posts for it: a periodic round's plan for it would take its day's cap from
	// the due posts (with 1,000 due, the cap itself) and leave some held for tomorrow.
	due := addSimAccounts(tb, pool, env, 1, 1, "budget_usd=0")[0]
	for range replicas {
		startXbot(tb, bin, env, "worker")
	}
	acct := defaultAccount(tb, pool)
	waitLeader(tb, pool, time.Minute)

	r := scaleResult{pool: pool}
	// The other added accounts take the plans below.
	added := append([]int64{due}, addSimAccounts(tb, pool, env, 2, accounts-1)...)
	waitStartupRound(tb, pool)
	ids := queueDue(tb, pool, due, "real", posts, time.Now().Add(3*time.Second), span)
	waitPosted(tb, pool, ids, span+5*time.Minute)
	r.late = measureLateness(tb, pool, ids)

	// Plans of one account are serialised by its schedule; several accounts keep the fleet busy.
	accts := append([]int64{acct}, added[1:]...)
	var before int
	require.NoError(tb, pool.QueryRow(ctx, `SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL`).Scan(&before))
	start := time.Now()
	for _, id := range accts {
		enqueuePlans(tb, pool, id, plansPerAccount)
	}
	waitUntil(tb, 10*time.Minute, "every plan done and its decisions learned from", func() (bool, error) {
		var plansLeft, open, posted, learned int
		err := pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM river_job WHERE kind = 'plan' AND state NOT IN ('completed', 'discarded', 'cancelled')),
			(SELECT count(*) FROM content_metadata WHERE status IN ('queued', 'posting')),
			(SELECT count(*) FROM content_metadata WHERE status = 'posted'),
			(SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL)`).Scan(&plansLeft, &open, &posted, &learned)
		r.decisions = learned - before
		return plansLeft == 0 && open == 0 && learned == posted, err
	})
	r.decisionsS = float64(r.decisions) / time.Since(start).Seconds()
	r.doubled = simDoubles(tb, pool)
	require.NoError(tb, pool.QueryRow(ctx, `SELECT count(*) FROM content_metadata WHERE status NOT IN ('posted', 'skipped')`).Scan(&r.lost))
	return r
}

// waitStartupRound waits until the fleet's start-up round is over: the plan fan-out that runs when the
// leader starts has run, and every fan-out, plan, reply and post job it led to is finished. That round posts
// up to POSTS_PER_PLAN posts for each account added by then, all due at once, while PgBouncer is still
// opening its server connections; due posts queued into it measure the fleet's cold start (1–2 s late
// through PgBouncer), not its posting lateness.
func waitStartupRound(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	waitUntil(tb, 2*time.Minute, "the start-up round's plans and posts finished", func() (bool, error) {
		var fanned, open int
		err := pool.QueryRow(context.Background(), `SELECT
			count(*) FILTER (WHERE kind = 'fanout' AND args->>'of' = 'plan' AND state = 'completed'),
			count(*) FILTER (WHERE kind IN ('fanout', 'plan', 'reply', 'post') AND state NOT IN ('completed', 'discarded', 'cancelled'))
			FROM river_job`).Scan(&fanned, &open)
		return fanned > 0 && open == 0, err
	})
}

// benchPgBouncer is item 6: 20 replicas through PgBouncer (transaction pooling, at most 40 server
// connections, River polling), against the same 20 replicas connected directly with 2 connections each.
func benchPgBouncer(b *testing.B) {
	bin := buildXbot(b)
	const replicas, serverConns = 20, 40
	addr := startPgBouncer(b, serverConns)
	note("pgbouncer: %d xbot worker replicas (WORKER_CONCURRENCY=10 POST_CONCURRENCY=5), 1000 posts due over 60 s, then 10 accounts x 5 plans x 10 posts through learning", replicas)
	note("pgbouncer: through PgBouncer 1.18 in transaction mode, %d server connections, DATABASE_MAX_CONNS=4 per replica, DATABASE_POOLER=pgbouncer", serverConns)
	// Each fleet runs in a sub-benchmark of its own, so its processes and database are gone (its cleanups
	// done) before the next starts: two fleets at once need more than a stock server's 100 connections.
	type fleet struct {
		name string
		r    scaleResult
	}
	var ran []fleet // the fleets the -bench pattern ran
	b.Run("via", func(b *testing.B) {
		ran = append(ran, fleet{"pgbouncer", scaleRun(b, bin, replicas, addr, 1000, time.Minute, 10, 5, "DATABASE_MAX_CONNS=4")})
	})
	note("pgbouncer: direct, DATABASE_MAX_CONNS=2 per replica (the same 40 connections)")
	b.Run("direct", func(b *testing.B) {
		ran = append(ran, fleet{"direct", scaleRun(b, bin, replicas, "", 1000, time.Minute, 10, 5, "DATABASE_MAX_CONNS=2")})
	})
	for _, r := range ran {
		figure("replicas20_"+r.name+"_decisions", round(r.r.decisionsS, 1), "decisions/s")
		figure("replicas20_"+r.name+"_lateness_p99", round(r.r.late.p99, 3), "s")
		figure("replicas20_"+r.name+"_lost", float64(r.r.lost+r.r.late.total-r.r.late.posted), "decisions")
		figure("replicas20_"+r.name+"_doubled", float64(r.r.doubled), "posts")
	}
}
