package main

import (
	"context"
)

func cmdDev() *command {
	return &command{
		summary:     "migrate, then run everything in one process in shadow mode (the local demo)",
		devDefaults: true,
		run: func(ctx context.Context, m *Main, e *env, _ any, _ []string) error {
			if _, err := migrate(ctx, m, e); err != nil {
				return err
			}
			return serveWeb(ctx, m, e, e.pool, "")
		},
	}
}
