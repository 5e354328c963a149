package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/xbot/xbot/internal/telemetry"
	"github.com/xbot/xbot/store"
)

func cmdStatus() *command {
	return &command{
		summary: "print the runbook: queue by type/source/status, posted count, real outcomes, 5 newest decisions; switches; each account's figures",
		run: func(ctx context.Context, m *Main, e *env, _ any, _ []string) error {
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			st, err := store.New(pool).Runbook(ctx, pool)
			if err != nil {
				return err
			}
			printStatus(m.Stdout, st)
			sws, err := store.New(pool).PostingSwitches(ctx, pool)
			if err != nil {
				return err
			}
			printSwitches(m.Stdout, sws)
			sto := store.New(pool)
			lc, err := newLLM(e, sto)
			if err != nil {
				return err
			}
			ls, err := lc.Status(ctx)
			if err != nil {
				return err
			}
			rows, total, err := accountsMetrics(ctx, e.cfg, sto, ls.Accounts)
			if err != nil {
				return err
			}
			printAccounts(m.Stdout, rows, total)
			return nil
		},
	}
}

func printStatus(w io.Writer, st *store.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\t\t\t")
	fmt.Fprintln(tw, "decision_type\tgeneration_source\tstatus\tcount")
	for _, q := range st.Queue {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", q.DecisionType, q.GenerationSource, q.Status, q.Count)
	}
	if len(st.Queue) == 0 {
		fmt.Fprintln(tw, "(no decisions)\t\t\t")
	}
	tw.Flush()
	fmt.Fprintf(w, "\nposted_decisions: %d\nreal outcomes (simulated=false): %d\n\n", st.Posted, st.RealOutcomes)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECENT DECISIONS\t\t\t\t")
	fmt.Fprintln(tw, "decision_id\tdecision_type\tstatus\tgeneration_source\tscheduled_at")
	for _, d := range st.Recent {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.DecisionID, d.DecisionType, d.Status, d.GenerationSource, telemetry.Time(d.ScheduledAt))
	}
	tw.Flush()
}
