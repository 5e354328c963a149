package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/telemetry"
	"github.com/xbot/xbot/store"
)

func cmdLLM() *command {
	return &command{
		summary: "show today's LLM spend, reservations, cap and quota circuit (status), or close the circuit (reset)",
		usage:   "status|reset",
		run: func(ctx context.Context, m *Main, e *env, _ any, args []string) error {
			if len(args) != 1 || (args[0] != "status" && args[0] != "reset") {
				return &ExitError{Code: 2, Msg: "usage: xbot llm status|reset"}
			}
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			c, err := newLLM(e, store.New(pool))
			if err != nil {
				return err
			}
			if args[0] == "reset" {
				if err := c.Reset(ctx); err != nil {
					return err
				}
				fmt.Fprintln(m.Stdout, "LLM quota circuit closed")
				return nil
			}
			// Reservations left by crashed processes are settled at their reserved amount first.
			if _, err := c.ReclaimExpired(ctx); err != nil {
				return err
			}
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "budget day\t%s\n", st.Day.Format("2006-01-02"))
			fmt.Fprintf(tw, "model\t%s\n", st.Model)
			fmt.Fprintf(tw, "spent_usd\t%.6f\n", st.SpentUSD)
			fmt.Fprintf(tw, "reserved_usd\t%.6f (%d open reservations)\n", st.ReservedUSD, st.OpenReservations)
			fmt.Fprintf(tw, "cap_usd\t%.6f\n", st.CapUSD)
			for _, p := range st.Purposes {
				capText := "day cap only"
				if p.HasCap {
					capText = fmt.Sprintf("cap %.6f", p.CapUSD)
				}
				fmt.Fprintf(tw, "purpose %s\tspent %.6f reserved %.6f (%s)\n", p.Purpose, p.SpentUSD, p.ReservedUSD, capText)
			}
			switch c := st.Circuit; {
			case c.Forced:
				fmt.Fprintf(tw, "circuit\tOPEN (forced by AI_QUOTA_CIRCUIT_OPEN=true)\n")
			case c.Open:
				fmt.Fprintf(tw, "circuit\tOPEN until=%s reason=%s\n", telemetry.Time(c.OpenUntil), c.Reason)
			case c.ProbeDue:
				fmt.Fprintf(tw, "circuit\tcooldown over; the next call probes (reason=%s)\n", c.Reason)
			default:
				fmt.Fprintf(tw, "circuit\tclosed\n")
			}
			return tw.Flush()
		},
	}
}

// newLLM builds the budgeted client from the configuration.
func newLLM(e *env, st *store.Store) (*llm.Client, error) {
	c, err := llm.New(llm.FromConfig(e.cfg, e.log), st.LLMLedger())
	if err != nil {
		return nil, fmt.Errorf("llm client: %w", err)
	}
	return c, nil
}
