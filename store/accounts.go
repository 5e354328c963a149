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
	XUserID   string // the account's id on X; empty until known
	SimUserID string // the account's id on the simulator (shadow runs); empty until known
	CreatedAt time.Time
}

// UserID is the account's id on backend ("x" or "simulator"). On X it is only ever the X id, never the
// simulator's; on the simulator the simulator's, else the stored id (accounts resolved before the two
// were kept apart).
func (a *Account) UserID(backend string) string {
	if backend == "x" {
		return a.XUserID
	}
	if a.SimUserID != "" {
		return a.SimUserID
	}
	return a.XUserID
}

// UpsertDefaultAccount records the env account. Known values (xUserID, handle) fill in or replace what
// is stored; empty ones keep it. It returns the account.
func (s *Store) UpsertDefaultAccount(ctx context.Context, db DBTX, xUserID, handle string) (*Account, error) {
	a := &Account{}
	var xid, sid, h *string
	err := db.QueryRow(ctx, `
		INSERT INTO accounts (handle, x_user_id, is_default) VALUES (NULLIF($1, ''), NULLIF($2, ''), true)
		ON CONFLICT (is_default) WHERE is_default DO UPDATE SET
			handle    = COALESCE(EXCLUDED.handle, accounts.handle),
			x_user_id = COALESCE(EXCLUDED.x_user_id, accounts.x_user_id)
		RETURNING id, handle, x_user_id, sim_user_id, created_at`, handle, xUserID).Scan(&a.ID, &h, &xid, &sid, &a.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("upsert default account: %w", err)
	}
	a.Handle, a.XUserID, a.SimUserID = deref(h), deref(xid), deref(sid)
	return a, nil
}

// DefaultAccount returns the env account.
func (s *Store) DefaultAccount(ctx context.Context, db DBTX) (*Account, error) {
	a := &Account{}
	var xid, sid, h *string
	err := db.QueryRow(ctx, `SELECT id, handle, x_user_id, sim_user_id, created_at FROM accounts WHERE is_default`).
		Scan(&a.ID, &h, &xid, &sid, &a.CreatedAt)
	if err != nil {
		return nil, notFound(err, "default account")
	}
	a.Handle, a.XUserID, a.SimUserID = deref(h), deref(xid), deref(sid)
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

// SetAccountSimUser stores the account's id on the simulator (GET /2/users/me there).
func (s *Store) SetAccountSimUser(ctx context.Context, db DBTX, accountID int64, simUserID string) error {
	tag, err := db.Exec(ctx, `UPDATE accounts SET sim_user_id = $2 WHERE id = $1`, accountID, simUserID)
	if err != nil {
		return fmt.Errorf("set simulator user of account %d: %w", accountID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set simulator user of account %d: %w", accountID, ErrNotFound)
	}
	return nil
}

// PostsOnX counts the account's decisions recorded as posted on X itself (backend x).
func (s *Store) PostsOnX(ctx context.Context, db DBTX, accountID int64) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM posted_decisions WHERE account_id = $1 AND backend = 'x'`, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("posts on X of account %d: %w", accountID, err)
	}
	return n, nil
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
	var xid, sid, h *string
	err := db.QueryRow(ctx, `SELECT id, handle, x_user_id, sim_user_id, created_at FROM accounts WHERE id = $1`, id).
		Scan(&a.ID, &h, &xid, &sid, &a.CreatedAt)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("account %d", id))
	}
	a.Handle, a.XUserID, a.SimUserID = deref(h), deref(xid), deref(sid)
	return a, nil
}
