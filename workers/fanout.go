package workers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/jobs"
)

// FanoutWorker inserts one plan or reply job per active account, in one batch.
type FanoutWorker struct {
	river.WorkerDefaults[jobs.FanoutArgs]
	d *Deps
}

func (w *FanoutWorker) Work(ctx context.Context, job *river.Job[jobs.FanoutArgs]) error {
	d := w.d
	if job.Args.Of != "plan" && job.Args.Of != "reply" {
		return river.JobCancel(fmt.Errorf("fanout: unknown round %q", job.Args.Of))
	}
	// On the built-in simulator only the environment's account has an identity; added accounts post to X.
	ids, err := d.Store.ActiveAccountIDs(ctx, d.Store.Pool, d.Config.Backend == "x")
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, 0, len(ids))
	for _, id := range ids {
		if job.Args.Of == "plan" {
			a := jobs.PlanArgs{AccountID: id, Period: job.Args.Period}
			params = append(params, river.InsertManyParams{Args: a, InsertOpts: a.PeriodicOpts()})
		} else {
			a := jobs.ReplyArgs{AccountID: id, Period: job.Args.Period}
			params = append(params, river.InsertManyParams{Args: a, InsertOpts: a.PeriodicOpts()})
		}
	}
	if len(params) == 0 {
		return nil
	}
	var inserted int
	err = d.inTx(ctx, func(tx pgx.Tx) error {
		res, err := client(ctx).InsertManyTx(ctx, tx, params)
		for _, r := range res {
			if !r.UniqueSkippedAsDuplicate {
				inserted++
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("fanout %s for %d accounts: %w", job.Args.Of, len(ids), err)
	}
	d.Log.Debug("fanout", zap.String("of", job.Args.Of), zap.String("period", job.Args.Period),
		zap.Int("accounts", len(ids)), zap.Int("inserted", inserted))
	return nil
}
