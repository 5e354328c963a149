package store

import (
	"context"
	"fmt"
	"time"
)

// Account is one X account xbot writes for.
type Account struct {
	ID        int64
	Handle    string
	XUserID   string // empty until known
	CreatedAt time.Time
}

// UpsertDefaultAccount records the env account. Known values (xUserID, handle) fill in or replace what
// is stored; empty ones keep it. It returns the account.
func (s *Store) UpsertDefaultAccount(ctx context.Context, db DBTX, xUserID, handle string) (*Account, error) {
	a := &Account{}
	var xid, h *string
	err := db.QueryRow(ctx, `
		INSERT INTO accounts (handle, x_user_id, is_default) VALUES (NULLIF($1, ''), NULLIF($2, ''), true)
		ON CONFLICT (is_default) WHERE is_default DO UPDATE SET
			handle    = COALESCE(EXCLUDED.handle, accounts.handle),
			x_user_id = COALESCE(EXCLUDED.x_user_id, accounts.x_user_id)
		RETURNING id, handle, x_user_id, created_at`, handle, xUserID).Scan(&a.ID, &h, &xid, &a.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("upsert default account: %w", err)
	}
	a.Handle, a.XUserID = deref(h), deref(xid)
	return a, nil
}

// DefaultAccount returns the env account.
func (s *Store) DefaultAccount(ctx context.Context, db DBTX) (*Account, error) {
	a := &Account{}
	var xid, h *string
	err := db.QueryRow(ctx, `SELECT id, handle, x_user_id, created_at FROM accounts WHERE is_default`).
		Scan(&a.ID, &h, &xid, &a.CreatedAt)
	if err != nil {
		return nil, notFound(err, "default account")
	}
	a.Handle, a.XUserID = deref(h), deref(xid)
	return a, nil
}

// SetAccountXUser stores the X identity resolved by GET /2/users/me.
func (s *Store) SetAccountXUser(ctx context.Context, db DBTX, accountID int64, xUserID, handle string) error {
	tag, err := db.Exec(ctx, `UPDATE accounts SET x_user_id = $2, handle = COALESCE(NULLIF($3, ''), handle) WHERE id = $1`,
		accountID, xUserID, handle)
	if err != nil {
		return fmt.Errorf("set x user of account %d: %w", accountID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set x user of account %d: %w", accountID, ErrNotFound)
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// GetAccount reads one account.
func (s *Store) GetAccount(ctx context.Context, db DBTX, id int64) (*Account, error) {
	a := &Account{}
	var xid, h *string
	err := db.QueryRow(ctx, `SELECT id, handle, x_user_id, created_at FROM accounts WHERE id = $1`, id).
		Scan(&a.ID, &h, &xid, &a.CreatedAt)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("account %d", id))
	}
	a.Handle, a.XUserID = deref(h), deref(xid)
	return a, nil
}
