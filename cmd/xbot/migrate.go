package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/xbot/xbot/store"
)

func cmdMigrate() *command {
	return &command{
		summary: "apply River's migrations and xbot's (idempotent; safe to run from several processes)",
		run: func(ctx context.Context, m *Main, e *env, _ any, _ []string) error {
			_, err := migrate(ctx, m, e)
			return err
		},
	}
}

// migrate applies all migrations and upserts the default account.
func migrate(ctx context.Context, m *Main, e *env) (*store.Account, error) {
	pool, err := e.db(ctx, m)
	if err != nil {
		return nil, err
	}
	res, err := store.Migrate(ctx, pool, "")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(res.Applied))
	for _, a := range res.Applied {
		names = append(names, a.Name)
	}
	e.log.Info("migrations applied", zap.Ints("river_versions", res.RiverApplied), zap.Strings("xbot", names))
	acct, err := store.New(pool).UpsertDefaultAccount(ctx, pool, e.cfg.XUserID, e.cfg.XHandle)
	if err != nil {
		return nil, fmt.Errorf("default account: %w", err)
	}
	return acct, nil
}
