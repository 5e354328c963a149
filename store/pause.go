package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostingSwitch is a stored fleet switch (table posting_switches): AccountID 0 is every account.
type PostingSwitch struct {
	AccountID int64     `json:"account_id"`
	Paused    bool      `json:"paused"`
	Reason    string    `json:"reason,omitempty"`
	SetAt     time.Time `json:"set_at"`
}

// SetPostingSwitch stores the switch for one account (accountID > 0) or all (0).
func (s *Store) SetPostingSwitch(ctx context.Context, db DBTX, accountID int64, paused bool, reason string) error {
	_, err := db.Exec(ctx, `
		INSERT INTO posting_switches (account_id, paused, reason, set_at) VALUES (NULLIF($1, 0), $2, NULLIF($3, ''), $4)
		ON CONFLICT ((COALESCE(account_id, 0))) DO UPDATE SET paused = EXCLUDED.paused, reason = EXCLUDED.reason,
			set_at = EXCLUDED.set_at`, accountID, paused, reason, s.Now())
	if err != nil {
		return fmt.Errorf("set posting switch of account %d: %w", accountID, err)
	}
	return nil
}

// ClearPostingSwitch forgets the switch of one account (or all, 0), so POSTING_DISABLED decides again.
func (s *Store) ClearPostingSwitch(ctx context.Context, db DBTX, accountID int64) error {
	if _, err := db.Exec(ctx, `DELETE FROM posting_switches WHERE COALESCE(account_id, 0) = $1`, accountID); err != nil {
		return fmt.Errorf("clear posting switch of account %d: %w", accountID, err)
	}
	return nil
}

// PostingSwitches lists every stored switch, the fleet-wide one first.
func (s *Store) PostingSwitches(ctx context.Context, db DBTX) ([]PostingSwitch, error) {
	rows, err := db.Query(ctx, `SELECT COALESCE(account_id, 0), paused, COALESCE(reason, ''), set_at FROM posting_switches
		ORDER BY COALESCE(account_id, 0)`)
	if err != nil {
		return nil, fmt.Errorf("posting switches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PostingSwitch, error) {
		var p PostingSwitch
		return p, r.Scan(&p.AccountID, &p.Paused, &p.Reason, &p.SetAt)
	})
	if err != nil {
		return nil, fmt.Errorf("posting switches: %w", err)
	}
	return out, nil
}

// EffectivePostingSwitch is the switch that applies to an account: its own, else the fleet-wide one; nil
// when neither is stored.
func (s *Store) EffectivePostingSwitch(ctx context.Context, db DBTX, accountID int64) (*PostingSwitch, error) {
	p := &PostingSwitch{}
	err := db.QueryRow(ctx, `SELECT COALESCE(account_id, 0), paused, COALESCE(reason, ''), set_at FROM posting_switches
		WHERE account_id = $1 OR account_id IS NULL ORDER BY account_id NULLS LAST LIMIT 1`, accountID).
		Scan(&p.AccountID, &p.Paused, &p.Reason, &p.SetAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("posting switch of account %d: %w", accountID, err)
	}
	return p, nil
}

// FindAccount resolves an operator's account reference: a numeric id or a handle (with or without @).
func (s *Store) FindAccount(ctx context.Context, db DBTX, ref string) (*Account, error) {
	a := &Account{}
	var xid, h *string
	err := db.QueryRow(ctx, `SELECT id, handle, x_user_id, created_at FROM accounts
		WHERE id::text = $1 OR lower(handle) = lower(ltrim($1, '@')) ORDER BY id LIMIT 1`, ref).
		Scan(&a.ID, &h, &xid, &a.CreatedAt)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("account %q", ref))
	}
	a.Handle, a.XUserID = deref(h), deref(xid)
	return a, nil
}
