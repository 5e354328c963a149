package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// sweepBatch bounds one sweep's work; the next sweep takes the rest.
const sweepBatch = 500

// readingsLookback is how long after a reading's time the sweep still takes it when its job went missing:
// the sweep reads one index range of posts per reading, not every post ever made.
const readingsLookback = 3 * 24 * time.Hour

// PostSweepWorker is the posting safety net.
type PostSweepWorker struct {
	river.WorkerDefaults[jobs.PostSweepArgs]
	d *Deps
}

func (w *PostSweepWorker) Work(ctx context.Context, job *river.Job[jobs.PostSweepArgs]) error {
	d, cfg, st := w.d, w.d.Config, w.d.Store
	log := d.Log.With(zap.Int64("job_id", job.ID))
	queue, err := st.CanonicalQueue(ctx, st.Pool, !cfg.Live)
	if err != nil {
		return err
	}
	logFoundQueue(log, len(queue))

	now := d.Now()
	// A posting row is stale once its call's deadline and the reconcile grace have passed with margin.
	stale := now.Add(-(cfg.XCallTimeout + cfg.XReconcileGrace + cfg.XCallTimeout))
	orphans, err := st.PostOrphans(ctx, st.Pool, now, stale, sweepBatch)
	if err != nil {
		return err
	}
	var inserts []river.InsertManyParams
	for _, o := range orphans {
		if o.Status == store.StatusPosting && o.GaveUp {
			// River gave up on this row's job after a call that may have reached X: never re-send blindly.
			reason := "post job gave up while the outcome was unknown"
			// Fenced by the attempt read: a run that claimed the row since owns it.
			if err := st.Finish(ctx, st.Pool, o.DecisionID, o.Attempt, store.StatusUnconfirmed, reason); err != nil {
				log.Warn("post sweep: finish orphan", zap.String("decision_id", o.DecisionID), zap.Error(err))
				continue
			}
			logUnconfirmed(log, o.DecisionID, reason)
			continue
		}
		inserts = append(inserts, river.InsertManyParams{
			Args: jobs.PostArgs{DecisionID: o.DecisionID}, InsertOpts: &river.InsertOpts{MaxAttempts: cfg.PostMaxAttempts},
		})
	}
	if len(inserts) > 0 {
		if _, err := client(ctx).InsertMany(ctx, inserts); err != nil {
			return fmt.Errorf("post sweep: insert post jobs: %w", err)
		}
		log.Info("post sweep: ensured post jobs", zap.Int("n", len(inserts)))
	}
	return nil
}

// AnalyticsSweepWorker is the analytics safety net.
type AnalyticsSweepWorker struct {
	river.WorkerDefaults[jobs.AnalyticsSweepArgs]
	d *Deps
}

func (w *AnalyticsSweepWorker) Work(ctx context.Context, job *river.Job[jobs.AnalyticsSweepArgs]) error {
	d, cfg, st := w.d, w.d.Config, w.d.Store
	log := d.Log.With(zap.Int64("job_id", job.ID))
	if d.ReclaimLLM != nil {
		// The sweep is also the periodic home of the LLM ledger's reclaim: a crashed replica's reservation
		// must not hold budget for the rest of the day.
		if _, err := d.ReclaimLLM(ctx); err != nil {
			log.Warn("analytics sweep: reclaim expired LLM reservations", zap.Error(err))
		}
	}
	delays := append([]time.Duration{cfg.AnalyticsDelay}, cfg.AnalyticsFollowups...)
	due, err := st.DueReadings(ctx, st.Pool, d.Now(), readingsLookback, delays, cfg.RealMetricsEnabled, sweepBatch)
	if err != nil {
		return err
	}
	logFoundMetrics(log, len(due))
	if len(due) == 0 {
		return nil
	}
	inserts := make([]river.InsertManyParams, len(due))
	for i, r := range due {
		inserts[i] = river.InsertManyParams{Args: jobs.CollectAnalyticsArgs{DecisionID: r.DecisionID, Reading: r.Reading}}
	}
	if _, err := client(ctx).InsertMany(ctx, inserts); err != nil {
		return fmt.Errorf("analytics sweep: insert collect jobs: %w", err)
	}
	return nil
}
