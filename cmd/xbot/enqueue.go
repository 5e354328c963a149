package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

func cmdEnqueue() *command {
	return &command{
		summary: "insert one plan or reply job now (never unique) and print its id",
		usage:   "plan|reply",
		run: func(ctx context.Context, m *Main, e *env, _ any, args []string) error {
			if len(args) != 1 || (args[0] != "plan" && args[0] != "reply") {
				return &ExitError{Code: 2, Msg: "usage: xbot enqueue plan|reply"}
			}
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			acct, err := store.New(pool).DefaultAccount(ctx, pool)
			if err != nil {
				return fmt.Errorf("enqueue: %w (run xbot migrate first)", err)
			}
			// An insert-only client: no queues, no workers.
			rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{})
			if err != nil {
				return fmt.Errorf("enqueue: river client: %w", err)
			}
			var job river.JobArgs = jobs.PlanArgs{AccountID: acct.ID}
			if args[0] == "reply" {
				job = jobs.ReplyArgs{AccountID: acct.ID}
			}
			res, err := rc.Insert(ctx, job, nil)
			if err != nil {
				return fmt.Errorf("enqueue %s: %w", args[0], err)
			}
			fmt.Fprintln(m.Stdout, res.Job.ID)
			return nil
		},
	}
}
