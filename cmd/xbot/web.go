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
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"riverqueue.com/riverui"

	"github.com/xbot/xbot/store"
)

type webOpts struct{ addr string }

func cmdWeb() *command {
	return &command{
		summary: "serve HTTP on $PORT: /healthz, /readyz, /metrics, /api/metrics, /api/decisions, River UI (README \"Operating xbot\")",
		usage:   "[--addr host:port]",
		flags: func(fs *flag.FlagSet) any {
			o := &webOpts{}
			fs.StringVar(&o.addr, "addr", "", "listen address (default :$PORT, every interface)")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			addr := opts.(*webOpts).addr
			if addr == "" {
				addr = fmt.Sprintf(":%d", e.cfg.Port)
			}
			return serveWeb(ctx, m, e, addr)
		},
	}
}

// Web server limits (README "Operating xbot").
const (
	// webMaxConns is the web server's own pool: scrapes and pages never take the workers' connections.
	webMaxConns = 4
	// webStatementTimeout bounds every statement the web server runs (River UI's included).
	webStatementTimeout = 3 * time.Second
	// snapshotTTL is how long database figures are shared between requests.
	snapshotTTL = 5 * time.Second
)

// webServer is the HTTP surface shared by web and dev. Routes go on mux, wrapped by auth's rules.
type webServer struct {
	e       *env
	pool    *pgxpool.Pool
	auth    *webAuth
	mux     *http.ServeMux
	metrics *snapshot[*metrics]
}

func newWebServer(e *env, pool *pgxpool.Pool) *webServer {
	s := &webServer{
		e: e, pool: pool, mux: http.NewServeMux(),
		auth: &webAuth{user: e.cfg.RiverUIUser, password: e.cfg.RiverUIPassword, metricsToken: e.cfg.MetricsToken},
	}
	s.metrics = newSnapshot(snapshotTTL, webStatementTimeout+2*time.Second, func(ctx context.Context) (*metrics, error) {
		return collectMetrics(ctx, e, pool)
	})
	return s
}

// routes registers every endpoint but River UI.
func (s *webServer) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	// /readyz is not cached: it is how an orchestrator learns the database went away.
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		ok, err := store.MigrationsCurrent(ctx, s.pool, "")
		switch {
		case err != nil:
			s.e.log.Warn("readyz: database unreachable", zap.Error(err))
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		case !ok:
			http.Error(w, "migrations pending: run xbot migrate", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ready\n"))
		}
	})
	s.mux.Handle("GET /api/metrics", s.auth.metrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := s.metrics.get(r.Context())
		if err != nil {
			s.e.log.Warn("api/metrics", zap.Error(err))
			http.Error(w, "metrics unavailable: database unreachable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, m)
	})))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// riverUI mounts River's web UI (jobs, queues, retries) under /riverui/, behind the operator rule; with no
// password it is not built at all. Job args hold decision ids only, never secrets.
func (s *webServer) riverUI(ctx context.Context) error {
	if s.auth.password == "" {
		s.mux.Handle("/riverui/", s.auth.operator(nil))
		return nil
	}
	rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(s.pool), &river.Config{})
	if err != nil {
		return fmt.Errorf("river ui client: %w", err)
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(rc, nil),
		Logger:    slog.New(zapslog.NewHandler(s.e.log.Named("riverui").WithOptions(zap.IncreaseLevel(zap.WarnLevel)).Core())),
		Prefix:    "/riverui",
	})
	if err != nil {
		return fmt.Errorf("river ui: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return fmt.Errorf("river ui start: %w", err)
	}
	s.mux.Handle("/riverui/", s.auth.operator(h))
	return nil
}

// webPoolURL is DATABASE_URL with the web pool's size and statement timeout (pgx reads pool_max_conns,
// and passes other parameters to the server as run-time settings). Through a transaction-mode pooler the
// timeout is left out: PgBouncer refuses startup parameters it does not know, and a session SET would leak
// to other clients; the server's own statement_timeout applies there.
func webPoolURL(dbURL string, transactionPooling bool) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", errors.New("parse DATABASE_URL: invalid connection string")
	}
	q := u.Query()
	q.Set("pool_max_conns", fmt.Sprint(webMaxConns))
	if !transactionPooling {
		q.Set("statement_timeout", fmt.Sprint(webStatementTimeout.Milliseconds()))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// serveWeb serves on addr until ctx ends, with a database pool of its own.
func serveWeb(ctx context.Context, m *Main, e *env, addr string) error {
	dbURL, err := webPoolURL(e.cfg.DatabaseURL, poolOptions(e.cfg).TransactionPooling)
	if err != nil {
		return err
	}
	pool, err := store.ConnectWith(ctx, dbURL, store.PoolOptions{TransactionPooling: poolOptions(e.cfg).TransactionPooling})
	if err != nil {
		return err
	}
	m.onClose(pool.Close)
	s := newWebServer(e, pool)
	s.routes()
	s.decisionsRoute()
	obs, err := e.observe(ctx, m)
	if err != nil {
		return err
	}
	if err := s.metricsRoutes(obs.registry); err != nil {
		return err
	}
	if err := s.riverUI(ctx); err != nil {
		return err
	}
	if err := s.statusPage(); err != nil {
		return err
	}
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	srv := newHTTPServer(e, hardened(s.mux))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	e.log.Info("web serving", zap.String("addr", ln.Addr().String()), zap.Bool("riverui", s.auth.password != ""),
		zap.Bool("metrics_token", s.auth.metricsToken != ""))
	if s.auth.password == "" && !isLoopback(ln.Addr().String()) {
		e.log.Warn("web: RIVERUI_PASSWORD not set: River UI is off, and the read-only pages are open to anyone who can reach " + ln.Addr().String())
	}
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

// newHTTPServer is an http.Server with the limits of README "Operating xbot".
func newHTTPServer(e *env, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(zapslog.NewHandler(e.log.Named("http").Core()), slog.LevelWarn),
	}
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}
