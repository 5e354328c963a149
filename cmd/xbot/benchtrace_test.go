package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// roundTrips is a pgx tracer for the pipeline benchmark: per statement (its first words), how many times it
// ran and for how long the caller waited, and how many round trips reached the server (a batch is one).
type roundTrips struct {
	mu     sync.Mutex
	trips  int
	stmts  map[string]*stmtStat
	labels map[string]string // by SQL text: labelling is not free
}

type stmtStat struct {
	n    int
	wait time.Duration
}

// traceStart carries a query's start and text from TraceQueryStart to TraceQueryEnd.
type traceStart struct{}

type started struct {
	at  time.Time
	sql string
}

var _ interface {
	pgx.QueryTracer
	pgx.BatchTracer
} = (*roundTrips)(nil)

func newRoundTrips() *roundTrips {
	return &roundTrips{stmts: map[string]*stmtStat{}, labels: map[string]string{}}
}

var (
	sqlComment = regexp.MustCompile(`--[^\n]*`)
	sqlSpace   = regexp.MustCompile(`\s+`)
	riverName  = regexp.MustCompile(`^-- name: (\S+)`)
)

// label is a statement's first 70 characters, River's name comment dropped and white space folded.
func label(sql string) string {
	s := strings.TrimSpace(sqlSpace.ReplaceAllString(sqlComment.ReplaceAllString(sql, " "), " "))
	if m := riverName.FindStringSubmatch(strings.TrimSpace(sql)); m != nil {
		return "river " + m[1]
	}
	return s[:min(len(s), 70)]
}

func (r *roundTrips) add(sql string, wait time.Duration, trip bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.labels[sql]
	if !ok {
		l = label(sql)
		r.labels[sql] = l
	}
	if trip {
		r.trips++
	}
	st := r.stmts[l]
	if st == nil {
		st = &stmtStat{}
		r.stmts[l] = st
	}
	st.n++
	st.wait += wait
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceStart{}, started{at: time.Now(), sql: data.SQL})
}

func (r *roundTrips) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	s, _ := ctx.Value(traceStart{}).(started)
	r.add(s.sql, time.Since(s.at), true)
}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.trips++
	r.mu.Unlock()
	return ctx
}

func (r *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	r.add(data.SQL, 0, false)
}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// report notes the round trips and statements per decision, and the statements the callers waited on
// longest.
func (r *roundTrips) report(decisions int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	type row struct {
		label string
		*stmtStat
	}
	var rows []row
	for l, s := range r.stmts {
		total += s.n
		rows = append(rows, row{l, s})
	}
	note("pipeline: %.1f round trips and %.1f statements per decision", float64(r.trips)/float64(decisions), float64(total)/float64(decisions))
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.n, a.n) })
	for _, x := range rows[:min(len(rows), 25)] {
		note("  %6.2f/decision, mean wait %6.1f ms: %s", float64(x.n)/float64(decisions), float64(x.wait.Microseconds())/1000/float64(x.n), x.label)
	}
}

// cpuMeter is the CPU the pipeline benchmark spends: this process's (workers, River, and the in-process LLM
// fake and simulator) and its PostgreSQL backends' (found by application_name, read from /proc, so only
// when PostgreSQL runs on this machine). On a shared machine throughput follows the share of the cores a
// run gets; CPU per decision does not.
type cpuMeter struct {
	app   string
	self0 time.Duration
}

func newCPUMeter(app string) *cpuMeter { return &cpuMeter{app: app, self0: selfCPU()} }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendsCPU sums utime and stime of the backends named app (-1: not readable here).
func backendsCPU(ctx context.Context, pool *pgxpool.Pool, app string) time.Duration {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		return -1
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) == 0 {
		return -1
	}
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return -1
		}
		// The fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return -1
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// report notes the CPU per decision since the meter started.
func (m *cpuMeter) report(ctx context.Context, pool *pgxpool.Pool, decisions int, elapsed time.Duration) {
	self := selfCPU() - m.self0
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(decisions) }
	note("pipeline: CPU per decision: %.2f ms in this process (%.0f %% of a core over the run)", per(self), 100*self.Seconds()/elapsed.Seconds())
	if pg := backendsCPU(ctx, pool, m.app); pg >= 0 {
		note("pipeline: CPU per decision: %.2f ms in its PostgreSQL backends (%.0f %% of a core over the run)", per(pg), 100*pg.Seconds()/elapsed.Seconds())
	}
}
