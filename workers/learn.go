package workers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// LearnWorker folds unlearned outcomes into the bandit arms.
type LearnWorker struct {
	river.WorkerDefaults[jobs.LearnArgs]
	d *Deps
}

func (w *LearnWorker) Work(ctx context.Context, job *river.Job[jobs.LearnArgs]) error {
	d, cfg := w.d, w.d.Config
	log := d.Log.With(zap.Int64("job_id", job.ID), zap.Int64("account_id", job.Args.AccountID))
	var res *store.LearnResult
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		mode := store.LearnShadow
		if cfg.Live {
			mode = store.LearnLive
		}
		res, err = d.Store.LearnRun(ctx, tx, job.Args.AccountID, mode, cfg.LearnMinOutcomes, cfg.LearnDiscount, d.Now())
		return err
	})
	if err != nil {
		return fmt.Errorf("learn for account %d: %w", job.Args.AccountID, err)
	}
	if res.Skipped {
		logLearnSkipped(log, cfg.LearnMinOutcomes)
		return nil
	}
	logLearned(log, res.ArmsTrained, res.ExploreRatio, res.Version)
	return nil
}
