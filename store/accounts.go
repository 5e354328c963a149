package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Account is one X account xbot writes for.
type Account struct {
	ID        int64
	Handle    string
	XUserID   string // the account's id on X; empty until known
	SimUserID string // the account's id on the simulator (shadow runs); empty until known
	CreatedAt time.Time
	IsDefault bool   // the environment's account (its credentials are the environment's)
	Status    string // AccountActive or AccountDisabled
	Timezone  string // its ACCOUNT_TZ; empty: the environment's
	// Settings override the environment for this account: variable name → value (internal/config parses them).
	Settings map[string]string
	// HasCredentials: credentials of its own are stored (account_credentials).
	HasCredentials bool
}

// Account statuses.
const (
	AccountActive   = "active"
	AccountDisabled = "disabled"
)

// accountColumns are read by scanAccount, in its order.
const accountColumns = `a.id, a.handle, a.x_user_id, a.sim_user_id, a.created_at, a.is_default, a.status, a.timezone, a.settings,
	EXISTS (SELECT 1 FROM account_credentials c WHERE c.account_id = a.id)`

func scanAccount(row pgx.Row) (*Account, error) {
	a := &Account{}
	var xid, sid, h, tz *string
	if err := row.Scan(&a.ID, &h, &xid, &sid, &a.CreatedAt, &a.IsDefault, &a.Status, &tz, &a.Settings, &a.HasCredentials); err != nil {
		return nil, err
	}
	a.Handle, a.XUserID, a.SimUserID, a.Timezone = deref(h), deref(xid), deref(sid), deref(tz)
	if a.Settings == nil {
		a.Settings = map[string]string{}
	}
	return a, nil
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
	var id int64
	err := db.QueryRow(ctx, `
		INSERT INTO accounts (handle, x_user_id, is_default) VALUES (NULLIF($1, ''), NULLIF($2, ''), true)
		ON CONFLICT (is_default) WHERE is_default DO UPDATE SET
			handle    = COALESCE(EXCLUDED.handle, accounts.handle),
			x_user_id = COALESCE(EXCLUDED.x_user_id, accounts.x_user_id)
		RETURNING id`, handle, xUserID).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("upsert default account: %w", err)
	}
	return s.GetAccount(ctx, db, id)
}

// DefaultAccount returns the env account.
func (s *Store) DefaultAccount(ctx context.Context, db DBTX) (*Account, error) {
	a, err := scanAccount(db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.is_default`))
	if err != nil {
		return nil, notFound(err, "default account")
	}
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
	a, err := scanAccount(db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1`, id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("account %d", id))
	}
	return a, nil
}

// ListAccounts returns every account, the environment's first.
func (s *Store) ListAccounts(ctx context.Context, db DBTX) ([]*Account, error) {
	rows, err := db.Query(ctx, `SELECT `+accountColumns+` FROM accounts a ORDER BY a.is_default DESC, a.id`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// ActiveAccountIDs are the ids of the active accounts, in id order: every one with added, else only the
// environment's.
func (s *Store) ActiveAccountIDs(ctx context.Context, db DBTX, added bool) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT id FROM accounts WHERE status = 'active' AND (is_default OR $1) ORDER BY id`, added)
	if err != nil {
		return nil, fmt.Errorf("active accounts: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("active accounts: %w", err)
	}
	return ids, nil
}

// AccountByHandle finds an account by its handle (case-insensitive, with or without @).
func (s *Store) AccountByHandle(ctx context.Context, db DBTX, handle string) (*Account, error) {
	h := trimAt(handle)
	a, err := scanAccount(db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE lower(a.handle) = lower($1) ORDER BY a.id LIMIT 1`, h))
	if err != nil {
		return nil, notFound(err, "account @"+h)
	}
	return a, nil
}

// AddAccount inserts a new (non-default) active account with its X identity.
func (s *Store) AddAccount(ctx context.Context, db DBTX, handle, xUserID string) (*Account, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO accounts (handle, x_user_id) VALUES ($1, $2) RETURNING id`, trimAt(handle), xUserID).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("add account @%s: %w", trimAt(handle), err)
	}
	return s.GetAccount(ctx, db, id)
}

// SetAccountStatus sets an account active or disabled.
func (s *Store) SetAccountStatus(ctx context.Context, db DBTX, accountID int64, status string) error {
	tag, err := db.Exec(ctx, `UPDATE accounts SET status = $2, updated_at = now() WHERE id = $1`, accountID, status)
	if err != nil {
		return fmt.Errorf("set status of account %d: %w", accountID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set status of account %d: %w", accountID, ErrNotFound)
	}
	return nil
}

// SetAccountSetting stores one setting (a variable name) for an account; an empty value removes it.
// ACCOUNT_TZ is kept in the timezone column.
func (s *Store) SetAccountSetting(ctx context.Context, db DBTX, accountID int64, name, value string) error {
	q := `UPDATE accounts SET settings = CASE WHEN $3 = '' THEN settings - $2 ELSE settings || jsonb_build_object($2::text, $3::text) END,
		updated_at = now() WHERE id = $1`
	if name == "ACCOUNT_TZ" {
		q = `UPDATE accounts SET timezone = NULLIF($3, ''), updated_at = now() WHERE id = $1 AND $2 <> ''`
	}
	tag, err := db.Exec(ctx, q, accountID, name, value)
	if err != nil {
		return fmt.Errorf("set %s of account %d: %w", name, accountID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set %s of account %d: %w", name, accountID, ErrNotFound)
	}
	return nil
}

// EffectiveSettings are the account's settings with its time zone as ACCOUNT_TZ (what config.ForAccount
// takes).
func (a *Account) EffectiveSettings() map[string]string {
	out := make(map[string]string, len(a.Settings)+1)
	for k, v := range a.Settings {
		out[k] = v
	}
	if a.Timezone != "" {
		out["ACCOUNT_TZ"] = a.Timezone
	}
	return out
}

func trimAt(h string) string {
	if len(h) > 0 && h[0] == '@' {
		return h[1:]
	}
	return h
}
