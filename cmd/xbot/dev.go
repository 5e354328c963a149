package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

func cmdDev() *command {
	return &command{
		summary:     "migrate, then run web and the workers in one process in shadow mode (the local demo)",
		usage:       "[--addr host:port]",
		devDefaults: true,
		flags: func(fs *flag.FlagSet) any {
			o := &webOpts{}
			fs.StringVar(&o.addr, "addr", "", "listen address (default 127.0.0.1:$PORT, this machine only)")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			if e.cfg.Mode != config.ModeShadow {
				return &ExitError{Code: 2, Msg: "config: MODE=" + string(e.cfg.Mode) + ": xbot dev runs in shadow mode only"}
			}
			if _, err := migrate(ctx, m, e); err != nil {
				return err
			}
			// The demo's simulated X gets a few fresh mentions of our account (some hostile) for the reply job.
			sim, err := newSimulator(ctx, e, store.New(e.pool), xsim.Config{})
			if err != nil {
				return err
			}
			if _, err := sim.SeedMentions(ctx, 4); err != nil {
				return fmt.Errorf("dev: seed mentions: %w", err)
			}
			g, ctx := errgroup.WithContext(ctx)
			workerUp := make(chan struct{})
			g.Go(func() error { return runWorker(ctx, m, e, e.pool, func() { close(workerUp) }) })
			g.Go(func() error {
				select {
				case <-workerUp:
				case <-ctx.Done():
					return nil
				}
				return serveWeb(ctx, m, e, cmp.Or(opts.(*webOpts).addr, fmt.Sprintf("127.0.0.1:%d", e.cfg.Port)))
			})
			err = g.Wait()
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
}
