package workers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/bandit"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// LearnWorker refits the post and reply models when enough new outcomes arrived (DESIGN.md section 7 as
// revised by the learning issue): from the account's age-weighted statistics and its newest outcomes, which
// depend on the learned outcomes and the time only, so runs are idempotent.
type LearnWorker struct {
	river.WorkerDefaults[jobs.LearnArgs]
	d *Deps
}

func (w *LearnWorker) Work(ctx context.Context, job *river.Job[jobs.LearnArgs]) error {
	d, cfg := w.d, w.d.Config
	log := d.Log.With(zap.Int64("job_id", job.ID), zap.Int64("account_id", job.Args.AccountID))
	var res *store.LearnResult
	// Replayable: a lost run leaves its outcomes unlearned and is redone, to the same arms; anything that
	// read its result and committed durably has flushed it too.
	err := d.inReplayableTx(ctx, func(tx pgx.Tx) error {
		var err error
		mode := store.LearnShadow
		if cfg.Live {
			mode = store.LearnLive
		}
		res, err = d.Store.LearnRun(ctx, tx, job.Args.AccountID, store.LearnParams{Mode: mode, MinOutcomes: cfg.LearnMinOutcomes,
			HalfLife: cfg.LearnHalfLife, PostArms: postArms(cfg), Now: d.Now()})
		return err
	})
	if err != nil {
		return fmt.Errorf("learn for account %d: %w", job.Args.AccountID, err)
	}
	if res.Skipped {
		logLearnSkipped(log, cfg.LearnMinOutcomes)
		return nil
	}
	if res.Rebuilt > 0 {
		log.Info("[LEARN_JOB] learning state rebuilt from the account's learned outcomes (first run, or a new LEARN_HALF_LIFE)",
			zap.Int("outcomes", res.Rebuilt))
	}
	logLearned(log, res.ArmsTrained, res.ExploreRatio, res.Version)
	return nil
}

// postArms are the post model's configured arms: every topic, format, hook and hour.
func postArms(cfg Config) []bandit.Feature {
	var out []bandit.Feature
	for _, d := range []struct {
		scope string
		names []string
	}{{bandit.ScopeTopic, cfg.Topics}, {bandit.ScopeFormat, cfg.Formats}, {bandit.ScopeHook, cfg.Hooks}, {bandit.ScopeHour, bandit.HourArms()}} {
		for _, n := range d.names {
			out = append(out, bandit.Feature{Scope: d.scope, Arm: n})
		}
	}
	return out
}

// NewLearnWorker is the learn worker on d, for running it outside a River client (`xbot sim-eval` runs it
// on a simulated clock). d must have passed Register.
func NewLearnWorker(d *Deps) *LearnWorker { return &LearnWorker{d: d} }
