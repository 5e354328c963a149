package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

type workerOpts struct{ metricsAddr string }

func cmdWorker() *command {
	return &command{
		summary: "run the River workers (plan, reply, post, collect_analytics, learn, sweeps) until SIGTERM; a second signal stops hard",
		usage:   "[--metrics-addr host:port]",
		flags: func(fs *flag.FlagSet) any {
			o := &workerOpts{}
			fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve this replica's /metrics (River job metrics) and /healthz here (default: none)")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			pool, err := e.lazyDB(ctx, m)
			if err != nil {
				return err
			}
			if err := waitForDatabase(ctx, e.log, pool); err != nil {
				if ctx.Err() != nil {
					return nil // stopped while waiting
				}
				return err
			}
			addr, err := serveWorkerMetrics(ctx, m, e, opts.(*workerOpts).metricsAddr)
			if err != nil {
				return err
			}
			return runWorker(ctx, m, e, pool, func() { m.markReady(addr) })
		},
	}
}

// runWorker runs the fleet until ctx ends, then stops River softly (or hard on the second signal).
func runWorker(ctx context.Context, m *Main, e *env, pool *pgxpool.Pool, started func()) error {
	f, err := startFleet(ctx, m, e, pool)
	if err != nil {
		return err
	}
	if started != nil {
		started()
	}
	<-ctx.Done()
	e.log.Info("worker stopping: letting in-flight jobs finish")
	stopRiver(m.HardStop, e.log, f.river)
	e.log.Info("worker stopped")
	return nil
}

type simOpts struct {
	addr          string
	scale         float64
	postsPer15Min int
	postsPerDay   int
	readsPer15Min int
	noDuplicates  bool
	accounts      int
}

func cmdSim() *command {
	return &command{
		summary: "serve the X simulator standalone (state in the database; X_API_KEY etc. are the credentials it verifies)",
		usage:   "--addr :PORT",
		flags: func(fs *flag.FlagSet) any {
			o := &simOpts{}
			fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "listen address")
			fs.Float64Var(&o.scale, "time-scale", 1, "simulated seconds per wall second (3600: an hour of audience growth per second)")
			fs.IntVar(&o.postsPer15Min, "posts-per-15min", 0, "per-user posting limit per 15 minutes (0: X's 100)")
			fs.IntVar(&o.postsPerDay, "posts-per-day", 0, "per-user posting limit per 24 hours (0: the simulator's default)")
			fs.IntVar(&o.readsPer15Min, "reads-per-15min", 0, "per-user, per-endpoint read limit per 15 minutes (0: the simulator's 900)")
			fs.BoolVar(&o.noDuplicates, "no-duplicate-check", false, "accept identical text instead of X's 403 duplicate refusal (a double post shows as two posts)")
			fs.IntVar(&o.accounts, "accounts", 0, "also serve this many users of the same app, @xbot_sim_1..N, with known test tokens (for xbot accounts add)")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			st := store.New(pool)
			cfg := e.cfg
			o := opts.(*simOpts)
			if o.scale <= 0 {
				return &ExitError{Code: 2, Msg: fmt.Sprintf("xbot sim: --time-scale=%g: a positive number", o.scale)}
			}
			if o.accounts < 0 || o.accounts > 10000 {
				return &ExitError{Code: 2, Msg: fmt.Sprintf("xbot sim: --accounts=%d: 0 to 10000", o.accounts)}
			}
			simCfg := xsim.Config{
				ConsumerKey: cfg.XAPIKey, ConsumerSecret: cfg.XAPISecret, AccessToken: cfg.XAccessToken,
				AccessTokenSecret: cfg.XAccessTokenSecret, BearerToken: cfg.XBearerToken,
				PostsPer15Min: o.postsPer15Min, PostsPerDay: o.postsPerDay, ReadsPer15Min: o.readsPer15Min, NoDuplicateCheck: o.noDuplicates,
			}
			for n := 1; n <= o.accounts; n++ {
				simCfg.Accounts = append(simCfg.Accounts, xsim.NumberedAccount(n))
			}
			if o.scale != 1 {
				simCfg.Clock = xsim.ScaledClock{Origin: time.Now(), Factor: o.scale}
			}
			sim, err := newSimulator(ctx, e, st, simCfg)
			if err != nil {
				return err
			}
			ln, err := listen(o.addr)
			if err != nil {
				return err
			}
			e.log.Info("simulator serving", zap.String("addr", ln.Addr().String()), zap.String("user", sim.Username()), zap.Int("more_accounts", o.accounts))
			m.markReady(ln.Addr().String())
			if err := sim.Serve(ctx, ln); err != nil {
				return fmt.Errorf("simulator: %w", err)
			}
			return nil
		},
	}
}
