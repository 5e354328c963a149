package main

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// roundTrips is a pgx tracer for the pipeline benchmark: per statement (its first words), how many times it
// ran and for how long the caller waited, and how many round trips reached the server (a batch is one).
type roundTrips struct {
	mu    sync.Mutex
	trips int
	stmts map[string]*stmtStat
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

func newRoundTrips() *roundTrips { return &roundTrips{stmts: map[string]*stmtStat{}} }

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
	l := label(sql)
	r.mu.Lock()
	defer r.mu.Unlock()
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
