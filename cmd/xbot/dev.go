package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

func cmdDev() *command {
	return &command{
		summary:     "migrate, then run web and the workers in one process in shadow mode on an accelerated clock (DEV_SPEED; the local demo)",
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
			// Every interval of the demo is simulated time: the workers run DEV_SPEED times faster on the wall
			// clock, and the built-in simulator's audience ages posts at the same speed.
			e.cfg = accelerate(e.cfg)
			e.simClock = xsim.ScaledClock{Origin: time.Now(), Factor: e.cfg.DevSpeed}
			sim, err := newSimulator(ctx, e, store.New(e.pool), xsim.Config{Clock: e.simClock})
			if err != nil {
				return err
			}
			if err := continueSimClock(ctx, sim, store.NewXSim(e.pool)); err != nil {
				return err
			}
			best, err := plantDevWorld(ctx, sim, store.NewXSim(e.pool), e.cfg)
			if err != nil {
				return err
			}
			// The demo's simulated X gets a few fresh mentions of our account (some hostile) for the reply job.
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
			g.Go(func() error {
				select {
				case <-m.Ready():
					logDevStart(e, m.Addr(), best)
				case <-ctx.Done():
				}
				return nil
			})
			err = g.Wait()
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
}

// accelerate returns the configuration xbot dev runs with: every duration setting is read as simulated time
// and divided by DEV_SPEED (a few floors keep the process from spinning), and every per-day or per-hour cap
// holds per simulated day or hour (multiplied by DEV_SPEED, since days and hours stay the wall clock's).
// Outside services keep real time: X and LLM call timeouts, reconciliation grace and the LLM circuit.
func accelerate(in *config.Config) *config.Config {
	c := *in
	s := c.DevSpeed
	if s <= 1 {
		return &c
	}
	scale := func(d, floor time.Duration) time.Duration {
		if d == 0 {
			return 0
		}
		return max(time.Duration(float64(d)/s), floor)
	}
	perDay := func(n int) int { return int(min(float64(n)*s, 1e9)) }
	c.PlanInterval = scale(c.PlanInterval, time.Second)
	c.PlanWindow = scale(c.PlanWindow, 0)
	c.MinPostSpacing = scale(c.MinPostSpacing, 0)
	c.QueuedMaxAge = scale(c.QueuedMaxAge, time.Minute)
	c.ReplyInterval = scale(c.ReplyInterval, time.Second)
	c.AnalyticsDelay = scale(c.AnalyticsDelay, 0)
	c.AnalyticsFollowups = append([]time.Duration(nil), c.AnalyticsFollowups...)
	for i, d := range c.AnalyticsFollowups {
		c.AnalyticsFollowups[i] = scale(d, time.Second)
	}
	c.LearnPeriod = scale(c.LearnPeriod, time.Second)
	c.LearnHalfLife = scale(c.LearnHalfLife, time.Minute)
	c.PostingSnooze = scale(c.PostingSnooze, time.Second)
	c.SweepInterval = scale(c.SweepInterval, 15*time.Second) // safety nets: a slower floor keeps the console readable
	c.XCircuitCooldown = scale(c.XCircuitCooldown, time.Second)
	c.MaxPostsPerDay = perDay(c.MaxPostsPerDay)
	c.RepliesPerDay = perDay(c.RepliesPerDay)
	c.RepliesPerHour = perDay(c.RepliesPerHour)
	return &c
}

// continueSimClock moves the simulator's clock past its newest post, so a demo restarted on the same
// database (a new ScaledClock origin) never sees its earlier posts in the future.
func continueSimClock(ctx context.Context, sim *xsim.Server, st xsim.Store) error {
	newest, err := st.QueryPosts(ctx, xsim.PostQuery{Limit: 1, IncludeDeleted: true})
	if err != nil {
		return fmt.Errorf("dev: newest simulated post: %w", err)
	}
	if len(newest) == 0 {
		return nil
	}
	now, err := sim.Now(ctx)
	if err != nil {
		return err
	}
	if behind := newest[0].CreatedAt.Sub(now); behind > 0 {
		return sim.AdvanceClock(ctx, behind+time.Minute)
	}
	return nil
}

// devEffects are the demo audience's hidden tastes: the multiplier of the base engagement rate for the
// i-th configured arm of a dimension (cycled). The second arm of each dimension is the best.
var devEffects = []float64{1.0, 1.8, 0.7, 1.25, 0.85}

// devBaseRate is the demo audience's engagement rate of an average post.
const devBaseRate = 0.02

// plantDevWorld gives a simulator without hidden rates the demo's tastes (one rate per topic, format and
// hook combination: their effects multiply; every hour alike). A world whose rates were set by hand is left
// alone. It returns the world's best combination, for the start line.
func plantDevWorld(ctx context.Context, sim *xsim.Server, st xsim.Store, cfg *config.Config) (string, error) {
	rates, err := st.Rates(ctx)
	if err != nil {
		return "", fmt.Errorf("dev: hidden rates: %w", err)
	}
	if len(rates) == 0 {
		for i, t := range cfg.ContentTopics {
			for j, f := range cfg.ContentFormats {
				for k, h := range cfg.ContentHooks {
					r := xsim.Rate{Topic: t, Format: f, Hook: h, Hour: -1, Rate: devBaseRate * devEffect(i) * devEffect(j) * devEffect(k)}
					if err := sim.SetRate(ctx, r); err != nil {
						return "", fmt.Errorf("dev: plant hidden rates: %w", err)
					}
					rates = append(rates, r)
				}
			}
		}
	}
	best := rates[0]
	for _, r := range rates {
		if r.Rate > best.Rate {
			best = r
		}
	}
	return fmt.Sprintf("topic=%s format=%s hook=%s", best.Topic, best.Format, best.Hook), nil
}

func devEffect(i int) float64 { return devEffects[i%len(devEffects)] }

func logDevStart(e *env, addr, best string) {
	page := "http://" + strings.Replace(addr, "[::]", "localhost", 1) + "/"
	simHour := time.Duration(float64(time.Hour) / e.cfg.DevSpeed).Round(100 * time.Millisecond)
	fields := []zap.Field{zap.Float64("dev_speed", e.cfg.DevSpeed), zap.Duration("simulated_hour", simHour),
		zap.Duration("analytics_delay", e.cfg.AnalyticsDelay), zap.String("status_page", page)}
	if best != "" {
		fields = append(fields, zap.String("hidden_best", best))
	}
	e.log.Info(fmt.Sprintf("dev: accelerated clock, one simulated hour every %s; status page %s", simHour, page), fields...)
}
