package workers

import (
	"context"
	"fmt"
)

// AccountResolver gives the configuration and X client one account runs with: its settings on top of the
// fleet's configuration, and a client signing with its own credentials. Implemented by the program's wiring.
type AccountResolver interface {
	// ForAccount returns the account's Config and X API. same reports that they are base and the fleet's
	// own X (the environment's account without settings of its own), so nothing is swapped.
	ForAccount(ctx context.Context, base Config, accountID int64) (cfg Config, x XAPI, same bool, err error)
}

// forAccount returns the deps one account's job runs with: d itself when no resolver is set, when d is
// already that account's, or when the account runs with the fleet's own configuration and client.
func (d *Deps) forAccount(ctx context.Context, accountID int64) (*Deps, error) {
	if d.Accounts == nil || d.account == accountID {
		return d, nil
	}
	cfg, x, same, err := d.Accounts.ForAccount(ctx, d.Config, accountID)
	if err != nil {
		return nil, fmt.Errorf("account %d: %w", accountID, err)
	}
	if same {
		return d, nil
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("account %d: %w", accountID, err)
	}
	return &Deps{Config: cfg, Store: d.Store, Log: d.Log, X: x, Drafter: d.Drafter, LLMAvailable: d.LLMAvailable,
		Gate: d.Gate, ReclaimLLM: d.ReclaimLLM, Now: d.Now, Rand: d.Rand, Accounts: d.Accounts, account: accountID, claims: d.claims}, nil
}

// xFor is the X API of one account (its own credentials).
func (d *Deps) xFor(ctx context.Context, accountID int64) (XAPI, error) {
	ad, err := d.forAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return ad.X, nil
}
