package main

import (
	"context"
	"fmt"

	"github.com/xbot/xbot/internal/telemetry"
	"github.com/xbot/xbot/store"
)

func cmdX() *command {
	return &command{
		summary: "show (status) or close by hand (reset) the default account's X posting circuit",
		usage:   "status|reset",
		run: func(ctx context.Context, m *Main, e *env, _ any, args []string) error {
			if len(args) != 1 || (args[0] != "status" && args[0] != "reset") {
				return &ExitError{Code: 2, Msg: "usage: xbot x status|reset"}
			}
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			st := store.New(pool)
			acct, err := st.DefaultAccount(ctx, pool)
			if err != nil {
				return fmt.Errorf("x %s: %w (run xbot migrate first)", args[0], err)
			}
			name := store.XCircuitName(acct.ID)
			if args[0] == "reset" {
				if err := st.CloseCircuit(ctx, pool, name); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "X circuit of @%s closed\n", acct.Handle)
				return nil
			}
			c, err := st.GetCircuit(ctx, pool, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "account: id=%d handle=%s x_user_id=%s\n", acct.ID, acct.Handle, acct.XUserID)
			if !c.Open {
				fmt.Fprintln(m.Stdout, "X circuit: closed (posting allowed)")
				return nil
			}
			fmt.Fprintf(m.Stdout, "X circuit: OPEN until=%s reason=%s (posting paused fleet-wide; a probe follows the cooldown)\n",
				telemetry.Time(c.OpenUntil), c.Reason)
			return nil
		},
	}
}
