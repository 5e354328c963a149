package workers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// Config is what the workers need from xbot's configuration.
type Config struct {
	Live               bool // MODE=live
	PostingDisabled    bool
	RequireApproval    bool   // new decisions wait in pending_approval for a person
	Backend            string // where posts go: "x" or "simulator"
	RealMetricsEnabled bool

	PostsPerPlan   int
	PlanInterval   time.Duration
	PlanWindow     time.Duration
	MaxPostsPerDay int
	MinPostSpacing time.Duration
	QueuedMaxAge   time.Duration
	AccountTZ      *time.Location
	// QuietHours: local hours (AccountTZ) in which nothing is scheduled or sent.
	QuietHours       config.QuietHours
	Topics           []string
	Formats          []string
	Hooks            []string
	Voice            string
	MaxTokensPerPost int
	// AccountBudgetUSD is the account's share of the day's LLM budget, binding when HasAccountBudget.
	AccountBudgetUSD float64
	HasAccountBudget bool

	ReplyInterval  time.Duration
	RepliesPerHour int
	RepliesPerDay  int
	ReplyQueries   []string

	AnalyticsDelay     time.Duration
	AnalyticsFollowups []time.Duration

	LearnMinOutcomes int
	LearnPeriod      time.Duration
	LearnHalfLife    time.Duration

	PostingSnooze    time.Duration
	PostMaxAttempts  int
	SweepInterval    time.Duration
	XCallTimeout     time.Duration
	XReconcileGrace  time.Duration
	XCircuitCooldown time.Duration
}

// validate refuses values no configuration can mean. Defaults live in internal/config only: the workers take
// every value as given, so a zero here is either allowed (PlanWindow, MinPostSpacing, AnalyticsDelay,
// XReconcileGrace, RepliesPerHour/Day) or an error, never silently replaced.
func (c Config) validate() error {
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"plan interval", c.PlanInterval}, {"queued max age", c.QueuedMaxAge}, {"reply interval", c.ReplyInterval},
		{"learn period", c.LearnPeriod}, {"posting snooze", c.PostingSnooze}, {"sweep interval", c.SweepInterval},
		{"x call timeout", c.XCallTimeout}, {"x circuit cooldown", c.XCircuitCooldown},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("workers config: %s %s: must be positive", p.name, p.v)
		}
	}
	nonNegative := []struct {
		name string
		v    time.Duration
	}{
		{"plan window", c.PlanWindow}, {"min post spacing", c.MinPostSpacing}, {"analytics delay", c.AnalyticsDelay},
		{"x reconcile grace", c.XReconcileGrace},
	}
	for _, p := range nonNegative {
		if p.v < 0 {
			return fmt.Errorf("workers config: %s %s: must not be negative", p.name, p.v)
		}
	}
	switch {
	case c.Backend != "x" && c.Backend != "simulator":
		return fmt.Errorf("workers config: backend %q: x or simulator", c.Backend)
	case c.AccountTZ == nil:
		return errors.New("workers config: account time zone is required")
	case len(c.Topics) == 0 || len(c.Formats) == 0 || len(c.Hooks) == 0:
		return errors.New("workers config: topics, formats and hooks must not be empty")
	case c.PostsPerPlan < 1 || c.MaxPostsPerDay < 1 || c.MaxTokensPerPost < 1 || c.PostMaxAttempts < 1 || c.LearnMinOutcomes < 1:
		return fmt.Errorf("workers config: posts per plan %d, max posts per day %d, max tokens per post %d, post max attempts %d, learn min outcomes %d: each at least 1",
			c.PostsPerPlan, c.MaxPostsPerDay, c.MaxTokensPerPost, c.PostMaxAttempts, c.LearnMinOutcomes)
	case c.RepliesPerHour < 0 || c.RepliesPerDay < 0:
		return fmt.Errorf("workers config: replies per hour %d, per day %d: must not be negative", c.RepliesPerHour, c.RepliesPerDay)
	case c.LearnHalfLife <= 0:
		return fmt.Errorf("workers config: learn half-life %v must be positive", c.LearnHalfLife)
	}
	for _, f := range c.AnalyticsFollowups {
		if f <= 0 {
			return fmt.Errorf("workers config: analytics follow-up %s: must be positive", f)
		}
	}
	return nil
}

// afterQuiet is t, or the end of the account's quiet hours when t falls inside them.
func (c Config) afterQuiet(t time.Time) time.Time {
	end, _ := c.QuietHours.Until(t, c.AccountTZ)
	return end
}

// XAPI is every X call the workers make, each worker declaring its own part (Poster, MentionReader,
// MetricsReader); *xapi.Client satisfies it, against X or the simulator.
type XAPI interface {
	Poster
	MentionReader
	MetricsReader
}

// Deps is everything the workers share.
type Deps struct {
	Config Config
	Store  *store.Store
	Log    *zap.Logger
	// X is the account's X API (X itself or the simulator, per Config.Backend).
	X XAPI
	// Drafter is the budgeted LLM; nil means no LLM is configured (shadow mode writes synthetic posts).
	Drafter Drafter
	// LLMAvailable reports whether an LLM call may be made now (key set and circuit closed).
	LLMAvailable func(ctx context.Context) bool
	Gate         *gate.Chain
	// ReclaimLLM settles LLM reservations left by crashed processes (at their reserved amount); optional.
	ReclaimLLM func(ctx context.Context) (int, error)
	// Now is the clock; Rand seeds each job's randomness (Thompson draws, synthetic text).
	Now  func() time.Time
	Rand func() *rand.Rand
	// Accounts resolves each account's configuration and X client; nil: every account runs with Config and X.
	Accounts AccountResolver
	// account is the account these deps were resolved for (forAccount); 0: the fleet's.
	account int64

	// claims coalesces this replica's paced claims per account (shared by every account's Deps).
	claims *paceClaims

	// learnMu guards learnQueued: per account, the learn period this replica last inserted a job for (once
	// committed), so only a period's first outcome pays for the unique insert every other one would wait on.
	learnMu     sync.Mutex
	learnQueued map[int64]string
}

// Register validates deps and adds every worker to ws.
func Register(ws *river.Workers, d *Deps) error {
	if err := d.Config.validate(); err != nil {
		return err
	}
	if d.Store == nil || d.Log == nil || d.X == nil || d.Gate == nil {
		return errors.New("workers: Store, Log, X and Gate are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		var mu sync.Mutex
		seed := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15))
		d.Rand = func() *rand.Rand {
			mu.Lock()
			defer mu.Unlock()
			return rand.New(rand.NewPCG(seed.Uint64(), seed.Uint64()))
		}
	}
	if d.claims == nil {
		d.claims = newPaceClaims()
	}
	if d.LLMAvailable == nil {
		d.LLMAvailable = func(context.Context) bool { return d.Drafter != nil }
	}
	for _, add := range []func() error{
		func() error { return river.AddWorkerSafely(ws, &FanoutWorker{d: d}) },
		func() error { return river.AddWorkerSafely(ws, &PlanWorker{d: d}) },
		func() error { return river.AddWorkerSafely(ws, &ReplyWorker{d: d}) },
		func() error { return river.AddWorkerSafely(ws, &PostWorker{d: d}) },
		func() error { return river.AddWorkerSafely(ws, &CollectAnalyticsWorker{d: d}) },
		func() error { return river.AddWorkerSafely(ws, &LearnWorker{d: d}) },
		func() error { return river.AddWorkerSafely(ws, &PostSweepWorker{d: d}) },
		func() error { return river.AddWorkerSafely(ws, &AnalyticsSweepWorker{d: d}) },
	} {
		if err := add(); err != nil {
			return fmt.Errorf("register workers: %w", err)
		}
	}
	return nil
}

// PeriodicJobs are the leader's schedules. Each insert carries its period and is unique by it, so a new
// leader running on start never doubles a period's job. cfg must have passed Register's validation.
func PeriodicJobs(cfg Config, accountID int64, now func() time.Time) []*river.PeriodicJob {
	periodic := func(interval time.Duration, id string, build func(period string) (river.JobArgs, *river.InsertOpts)) *river.PeriodicJob {
		return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
			return build(jobs.Period(now(), interval))
		}, &river.PeriodicJobOpts{ID: id, RunOnStart: true})
	}
	return []*river.PeriodicJob{
		// plan and reply fan out to every active account (one batch, each unique by account and period).
		periodic(cfg.PlanInterval, "plan", func(p string) (river.JobArgs, *river.InsertOpts) {
			return jobs.FanoutArgs{Of: "plan", Period: p}, nil
		}),
		periodic(cfg.ReplyInterval, "reply", func(p string) (river.JobArgs, *river.InsertOpts) {
			return jobs.FanoutArgs{Of: "reply", Period: p}, nil
		}),
		periodic(cfg.SweepInterval, "post_sweep", func(p string) (river.JobArgs, *river.InsertOpts) {
			return jobs.PostSweepArgs{Period: p}, nil
		}),
		periodic(cfg.SweepInterval, "analytics_sweep", func(p string) (river.JobArgs, *river.InsertOpts) {
			return jobs.AnalyticsSweepArgs{Period: p}, nil
		}),
		periodic(cfg.LearnPeriod*10, "learn", func(p string) (river.JobArgs, *river.InsertOpts) {
			return jobs.LearnArgs{AccountID: accountID, Period: p}, nil
		}),
	}
}

// inReplayableTx runs fn in a transaction whose commit does not wait for the WAL flush (a durable commit is
// the pipeline's scarcest resource). Only for work River's re-run repairs: a database crash can lose such a
// commit only together with the job's own completion, which River commits after it, durably (flushing it
// too), so the job runs again. Never for a step that must be durable before a side effect, like claiming a
// post before calling X.
func (d *Deps) inReplayableTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	// The setting travels with BEGIN: one round trip, not two.
	return pgx.BeginTxFunc(ctx, d.Store.Pool, pgx.TxOptions{BeginQuery: relaxedBegin}, fn)
}

// relaxedBegin opens a transaction whose commit does not wait for the WAL flush (inReplayableTx).
const relaxedBegin = `BEGIN; SET LOCAL synchronous_commit = off`

// inTx runs fn in a transaction on the store's pool.
func (d *Deps) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, d.Store.Pool, fn)
}

// runAt is the InsertOpts.ScheduledAt of a job due at t: t when it is after now, else zero. River inserts
// a job given any ScheduledAt as scheduled, even one already due, and only the leader's scheduler (every
// 5 s) makes it available; a due job inserted without one is available at once.
func runAt(t, now time.Time) time.Time {
	if t.After(now) {
		return t
	}
	return time.Time{}
}

// client is the River client working the job (for InsertTx in the worker's transaction).
func client(ctx context.Context) *river.Client[pgx.Tx] {
	return river.ClientFromContext[pgx.Tx](ctx)
}

// nextLearn inserts the learn job of the period after now, unique by period, unless this replica already
// did; it returns the period for learnCommitted (empty when nothing was inserted).
func (d *Deps) nextLearn(ctx context.Context, tx pgx.Tx, accountID int64) (string, error) {
	now := d.Now()
	boundary := now.Truncate(d.Config.LearnPeriod).Add(d.Config.LearnPeriod)
	period := jobs.Period(boundary, d.Config.LearnPeriod)
	d.learnMu.Lock()
	queued := d.learnQueued[accountID] == period
	d.learnMu.Unlock()
	if queued {
		return "", nil
	}
	_, err := client(ctx).InsertTx(ctx, tx, jobs.LearnArgs{AccountID: accountID, Period: period},
		&river.InsertOpts{ScheduledAt: boundary})
	if err != nil {
		return "", fmt.Errorf("insert learn for account %d: %w", accountID, err)
	}
	return period, nil
}

// learnCommitted records that the learn job of period exists (its transaction committed).
func (d *Deps) learnCommitted(accountID int64, period string) {
	if period == "" {
		return
	}
	d.learnMu.Lock()
	defer d.learnMu.Unlock()
	if d.learnQueued == nil {
		d.learnQueued = map[int64]string{}
	}
	d.learnQueued[accountID] = period
}
