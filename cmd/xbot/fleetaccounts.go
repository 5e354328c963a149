package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/store"
	"github.com/xbot/xbot/workers"
)

// accountResolver implements workers.AccountResolver: each account's settings on top of the environment's
// configuration, and an X client signing with its own stored credentials (the environment's account uses
// the environment's client). Results are kept for accountTTL, so settings and rotated credentials apply
// within seconds without a query per job.
type accountResolver struct {
	cfg     *config.Config
	backend string
	st      *store.Store
	envX    workers.XAPI
	vault   store.Vault
	http    *http.Client
	now     func() time.Time

	mu    sync.Mutex
	cache map[int64]resolvedAccount
}

const accountTTL = 5 * time.Second

type resolvedAccount struct {
	at     time.Time
	same   bool
	cfg    *config.Config
	x      workers.XAPI
	sealed string // the credentials the client was built from; a rotation makes a new client
}

func newAccountResolver(m *Main, e *env, st *store.Store, envX workers.XAPI, backend string) *accountResolver {
	return &accountResolver{cfg: e.cfg, backend: backend, st: st, envX: envX, vault: store.Vault{Key: e.cfg.SecretKeyBytes()},
		http: m.xHTTPClient(), now: time.Now, cache: map[int64]resolvedAccount{}}
}

// ForAccount implements workers.AccountResolver.
func (r *accountResolver) ForAccount(ctx context.Context, base workers.Config, accountID int64) (workers.Config, workers.XAPI, bool, error) {
	r.mu.Lock()
	got, ok := r.cache[accountID]
	r.mu.Unlock()
	if !ok || r.now().Sub(got.at) > accountTTL {
		var err error
		if got, err = r.resolve(ctx, accountID, got); err != nil {
			return base, nil, false, err
		}
		r.mu.Lock()
		r.cache[accountID] = got
		r.mu.Unlock()
	}
	if got.same {
		return base, r.envX, true, nil
	}
	c := got.cfg
	base.Topics, base.Formats, base.Hooks, base.Voice, base.ReplyQueries = c.ContentTopics, c.ContentFormats, c.ContentHooks, c.VoicePrompt, c.ReplyQueries
	base.MaxPostsPerDay, base.PostsPerPlan, base.MinPostSpacing = c.MaxPostsPerDay, c.PostsPerPlan, c.MinPostSpacing
	base.RepliesPerDay, base.RepliesPerHour, base.AccountTZ = c.RepliesPerDay, c.RepliesPerHour, c.AccountTZ
	base.AccountBudgetUSD, base.HasAccountBudget, base.QuietHours = c.AccountBudgetUSD, c.HasAccountBudget, c.QuietHours
	return base, got.x, false, nil
}

func (r *accountResolver) resolve(ctx context.Context, accountID int64, prev resolvedAccount) (resolvedAccount, error) {
	acct, err := r.st.GetAccount(ctx, r.st.Pool, accountID)
	if err != nil {
		return prev, err
	}
	settings := acct.EffectiveSettings()
	out := resolvedAccount{at: r.now(), x: r.envX, same: acct.IsDefault && len(settings) == 0}
	if out.same {
		return out, nil
	}
	if out.cfg, err = r.cfg.ForAccount(settings); err != nil {
		return prev, fmt.Errorf("settings of @%s: %w", acct.Handle, err)
	}
	if acct.IsDefault {
		return out, nil
	}
	if r.backend != "x" {
		return prev, fmt.Errorf("@%s posts to X with its own credentials; the built-in simulator serves only the environment's account", acct.Handle)
	}
	sealed, err := r.st.SealedCredentials(ctx, r.st.Pool, accountID)
	if err != nil {
		return prev, err
	}
	if prev.x != nil && prev.sealed == sealed {
		out.x, out.sealed = prev.x, sealed // the same credentials: keep the client (and its rate-limit state)
		return out, nil
	}
	creds, err := r.vault.Load(ctx, r.st.Pool, accountID)
	if err != nil {
		return prev, err
	}
	xc, err := accountXClient(r.cfg, creds, r.http)
	if err != nil {
		return prev, err
	}
	out.x, out.sealed = xc, sealed
	return out, nil
}
