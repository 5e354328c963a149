package workers

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// MetricsReader is what analytics needs from X (or the simulator): one post's metrics.
type MetricsReader interface {
	LookupPosts(ctx context.Context, ids []string) ([]xapi.Post, []xapi.LookupError, error)
}

// CollectAnalyticsWorker takes one metrics reading of a posted decision.
type CollectAnalyticsWorker struct {
	river.WorkerDefaults[jobs.CollectAnalyticsArgs]
	d *Deps
}

func (w *CollectAnalyticsWorker) Work(ctx context.Context, job *river.Job[jobs.CollectAnalyticsArgs]) error {
	d, cfg, st := w.d, w.d.Config, w.d.Store
	id := job.Args.DecisionID
	log := d.Log.With(zap.String("decision_id", id), zap.Int64("job_id", job.ID), zap.Int("reading", job.Args.Reading))
	p, err := st.GetPosted(ctx, st.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("collect analytics %s: decision was never posted", id))
	}
	if err != nil {
		return err
	}
	if p.Backend == "x" && !cfg.RealMetricsEnabled {
		log.Info("[ANALYTICS_COLLECTOR] REAL_METRICS_ENABLED=false: no metrics read for posts on X")
		return nil
	}
	if p.Backend != cfg.Backend {
		return river.JobCancel(fmt.Errorf("collect analytics %s: post lives on %s but this fleet reads %s", id, p.Backend, cfg.Backend))
	}
	if p.Gone {
		// An earlier reading found the post deleted or hidden: a follow-up (inserted with the first) reads nothing.
		log.Info("[ANALYTICS_COLLECTOR] post unavailable at an earlier reading; not read again")
		return nil
	}
	reading := store.Reading{
		DecisionID: id, AccountID: p.AccountID, TweetID: p.TweetID, Simulated: p.Backend == "simulator",
		Number: job.Args.Reading, CollectedAt: d.Now(),
	}
	xc, err := d.xFor(ctx, p.AccountID) // read with the account's own credentials
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, cfg.XCallTimeout)
	posts, lookupErrs, err := xc.LookupPosts(callCtx, []string{p.TweetID})
	cancel()
	if err != nil {
		return xReadFailure("collect analytics "+id, err, d.Now())
	}
	switch {
	case len(posts) == 1:
		m := posts[0].Metrics
		reading.Status = store.OutcomeOK
		reading.Impressions, reading.Likes, reading.Retweets = m.Impressions, m.Likes, m.Reposts
		reading.Replies, reading.Quotes, reading.Bookmarks = m.Replies, m.Quotes, m.Bookmarks
		if m.Impressions == 0 {
			reading.Status = store.OutcomeNoImpressions
		}
	case len(lookupErrs) > 0 && errors.Is(&lookupErrs[0], xapi.ErrNotAuthorized):
		reading.Status = store.OutcomeNotAuthorized
	case len(lookupErrs) > 0 && errors.Is(&lookupErrs[0], xapi.ErrNotFound):
		reading.Status = store.OutcomeNotFound
	default:
		return fmt.Errorf("collect analytics %s: lookup of %s returned neither the post nor an error", id, p.TweetID)
	}

	var learnPeriod string
	err = d.inReplayableTx(ctx, func(tx pgx.Tx) error { // a reading stored twice is stored once
		if err := st.StoreReading(ctx, tx, reading); err != nil {
			return err
		}
		var err error
		learnPeriod, err = d.nextLearn(ctx, tx, p.AccountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("collect analytics %s: %w", id, err)
	}
	d.learnCommitted(p.AccountID, learnPeriod)
	er, _ := reading.EngagementRate()
	switch {
	case reading.Status != store.OutcomeOK && reading.Status != store.OutcomeNoImpressions:
		log.Info("[ANALYTICS_COLLECTOR] post unavailable; stored as such", zap.String("status", reading.Status))
	case !reading.Simulated:
		logStoredOutcome(log, id, er)
	default:
		log.Info(fmt.Sprintf("[ANALYTICS_COLLECTOR] stored simulated outcome decision_id=%s ER=%.2f%%", id, er*100), zap.Bool("simulated", true))
	}
	return nil
}
