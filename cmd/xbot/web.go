package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"riverqueue.com/riverui"

	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/store"
)

type webOpts struct{ addr string }

func cmdWeb() *command {
	return &command{
		summary: "serve HTTP on $PORT: /healthz (process up), /readyz (database reachable, migrations current)",
		usage:   "[--addr host:port]",
		flags: func(fs *flag.FlagSet) any {
			o := &webOpts{}
			fs.StringVar(&o.addr, "addr", "", "listen address (default :$PORT)")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			return serveWeb(ctx, m, e, pool, opts.(*webOpts).addr)
		},
	}
}

// newMux returns the HTTP routes shared by web and dev.
func newMux(e *env, pool *pgxpool.Pool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		ok, err := store.MigrationsCurrent(ctx, pool, "")
		switch {
		case err != nil:
			e.log.Warn("readyz: database unreachable", zap.Error(err))
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		case !ok:
			http.Error(w, "migrations pending: run xbot migrate", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ready\n"))
		}
	})
	mux.HandleFunc("GET /api/metrics", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		m, err := collectMetrics(ctx, e, pool)
		if err != nil {
			e.log.Warn("api/metrics", zap.Error(err))
			http.Error(w, "metrics unavailable: database unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m)
	})
	return mux
}

// metrics is the JSON of /api/metrics: the runbook's figures, River's queue, the LLM budget, the circuits.
type metrics struct {
	Queue           []store.QueueCount `json:"queue"`
	PostedDecisions int64              `json:"posted_decisions"`
	RealOutcomes    int64              `json:"real_outcomes"`
	LearningVersion int                `json:"learning_version"`
	Jobs            []store.JobCount   `json:"jobs"`
	LLM             *llm.Status        `json:"llm"`
	XCircuitOpen    bool               `json:"x_circuit_open"`
}

func collectMetrics(ctx context.Context, e *env, pool *pgxpool.Pool) (*metrics, error) {
	st := store.New(pool)
	rb, err := st.Runbook(ctx, pool)
	if err != nil {
		return nil, err
	}
	m := &metrics{Queue: rb.Queue, PostedDecisions: rb.Posted, RealOutcomes: rb.RealOutcomes}
	if m.LearningVersion, err = st.LatestLearningVersion(ctx, pool); err != nil {
		return nil, err
	}
	if m.Jobs, err = st.JobCounts(ctx, pool); err != nil {
		return nil, err
	}
	lc, err := newLLM(e, st)
	if err != nil {
		return nil, err
	}
	if m.LLM, err = lc.Status(ctx); err != nil {
		return nil, err
	}
	if acct, err := st.DefaultAccount(ctx, pool); err == nil {
		c, err := st.GetCircuit(ctx, pool, store.XCircuitName(acct.ID))
		if err != nil {
			return nil, err
		}
		m.XCircuitOpen = c.Open
	}
	return m, nil
}

// riverUI mounts River's web UI (jobs, queues, retries) under /riverui/ on mux. Job args hold decision
// ids only, never secrets.
func riverUI(ctx context.Context, e *env, pool *pgxpool.Pool, mux *http.ServeMux) error {
	rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return fmt.Errorf("river ui client: %w", err)
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(rc, nil),
		Logger:    slog.New(zapslog.NewHandler(e.log.Named("riverui").WithOptions(zap.IncreaseLevel(zap.WarnLevel)).Core())),
		Prefix:    "/riverui",
	})
	if err != nil {
		return fmt.Errorf("river ui: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return fmt.Errorf("river ui start: %w", err)
	}
	mux.Handle("/riverui/", h)
	return nil
}

// serveWeb serves until ctx ends.
func serveWeb(ctx context.Context, m *Main, e *env, pool *pgxpool.Pool, addr string) error {
	if addr == "" {
		addr = fmt.Sprintf(":%d", e.cfg.Port)
	}
	mux := newMux(e, pool)
	if err := riverUI(ctx, e, pool, mux); err != nil {
		return err
	}
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	e.log.Info("web serving", zap.String("addr", ln.Addr().String()))
	m.markReady(ln.Addr().String())
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("web: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web shutdown: %w", err)
	}
	return nil
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}
