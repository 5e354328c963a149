package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/xbot/xbot/internal/config"
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
			st0 := store.New(pool)
			c, err := newLLM(e, st0)
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
			lines, err := accountBudgetLines(ctx, e.cfg, st0, st.Accounts)
			if err != nil {
				return err
			}
			for _, l := range lines {
				fmt.Fprintln(tw, l)
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

// accountBudgetLines are `xbot llm status`'s per-account lines: every account with spend or refusals
// today or a share of its own (budget_usd), with what is left of the share.
func accountBudgetLines(ctx context.Context, cfg *config.Config, st *store.Store, spend []llm.AccountBudget) ([]string, error) {
	accts, err := st.ListAccounts(ctx, st.Pool)
	if err != nil {
		return nil, err
	}
	byID := map[int64]llm.AccountBudget{}
	for _, b := range spend {
		byID[b.AccountID] = b
	}
	var out []string
	for _, a := range accts {
		b, spent := byID[a.ID]
		share, hasShare := accountShare(cfg, a)
		if !spent && !hasShare {
			continue
		}
		text := "day cap only"
		if hasShare {
			left := max(share-b.Spent-b.Reserved, 0)
			text = fmt.Sprintf("share %.6f, left %.6f", share, left)
			if b.Refused > 0 {
				text += fmt.Sprintf("; EXHAUSTED: %d calls refused today", b.Refused)
			}
		} else if b.Refused > 0 {
			text += fmt.Sprintf("; %d calls refused today", b.Refused)
		}
		out = append(out, fmt.Sprintf("account %s (%d)\tspent %.6f reserved %.6f (%s)", handleOf(a), a.ID, b.Spent, b.Reserved, text))
	}
	return out, nil
}

// accountShare is an account's budget_usd setting, if it has one (parsed as the workers parse it).
func accountShare(cfg *config.Config, a *store.Account) (float64, bool) {
	ac, err := cfg.ForAccount(a.EffectiveSettings())
	if err != nil {
		return 0, false
	}
	return ac.AccountBudgetUSD, ac.HasAccountBudget
}
