package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Credentials are one account's X credentials (OAuth 1.0a user context; a bearer token for app-only reads,
// optional). They exist in plaintext only in memory: account_credentials holds them sealed.
type Credentials struct {
	APIKey            string `json:"api_key"`
	APISecret         string `json:"api_secret"`
	AccessToken       string `json:"access_token"`
	AccessTokenSecret string `json:"access_token_secret"`
	BearerToken       string `json:"bearer_token,omitempty"`
}

// Complete reports whether the four user-context values are all set.
func (c Credentials) Complete() bool {
	return c.APIKey != "" && c.APISecret != "" && c.AccessToken != "" && c.AccessTokenSecret != ""
}

// Secrets lists the non-empty values (for redaction checks).
func (c Credentials) Secrets() []string {
	var out []string
	for _, s := range []string{c.APIKey, c.APISecret, c.AccessToken, c.AccessTokenSecret, c.BearerToken} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Vault stores and reads account credentials encrypted like the OAuth 2.0 tokens (AES-256-GCM under
// XBOT_SECRET_KEY, bound to the account: a value copied onto another account's row does not decrypt).
// Without a key it refuses (ErrNoSecretKey).
type Vault struct {
	Key []byte
}

// sealer is the one AES-GCM implementation (the OAuth 2.0 token store's).
func (v Vault) sealer() *XTokens { return &XTokens{Key: v.Key} }

const credentialsColumn = "account_credentials"

// Save seals creds and stores them for the account (replacing any), with the X user id they belong to.
func (v Vault) Save(ctx context.Context, db DBTX, accountID int64, xUserID string, creds Credentials) error {
	plain, err := json.Marshal(creds)
	if err != nil {
		return fmt.Errorf("save credentials of account %d: %w", accountID, err)
	}
	box, err := v.sealer().seal(accountID, credentialsColumn, string(plain))
	if err != nil {
		return fmt.Errorf("save credentials of account %d: %w", accountID, err)
	}
	_, err = db.Exec(ctx, `
		INSERT INTO account_credentials (account_id, x_user_id, sealed) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET x_user_id = EXCLUDED.x_user_id, sealed = EXCLUDED.sealed, rotated_at = now()`,
		accountID, xUserID, box)
	if err != nil {
		return fmt.Errorf("save credentials of account %d: %w", accountID, err)
	}
	return nil
}

// Load opens the account's stored credentials; ErrNotFound when it has none.
func (v Vault) Load(ctx context.Context, db DBTX, accountID int64) (Credentials, error) {
	var box string
	err := db.QueryRow(ctx, `SELECT sealed FROM account_credentials WHERE account_id = $1`, accountID).Scan(&box)
	if errors.Is(err, pgx.ErrNoRows) {
		return Credentials{}, fmt.Errorf("credentials of account %d: %w", accountID, ErrNotFound)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials of account %d: %w", accountID, err)
	}
	plain, err := v.sealer().open(accountID, credentialsColumn, box)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	if err := json.Unmarshal([]byte(plain), &c); err != nil {
		return Credentials{}, fmt.Errorf("credentials of account %d: stored value is not credentials", accountID)
	}
	return c, nil
}

// SealedCredentials is the account's stored credentials as sealed (it changes with every rotation).
func (s *Store) SealedCredentials(ctx context.Context, db DBTX, accountID int64) (string, error) {
	var sealed string
	err := db.QueryRow(ctx, `SELECT sealed FROM account_credentials WHERE account_id = $1`, accountID).Scan(&sealed)
	if err != nil {
		return "", notFound(err, fmt.Sprintf("credentials of account %d", accountID))
	}
	return sealed, nil
}

// StoredCredentialAccounts are the ids of the accounts with stored credentials.
func (s *Store) StoredCredentialAccounts(ctx context.Context, db DBTX) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT account_id FROM account_credentials ORDER BY account_id`)
	if err != nil {
		return nil, fmt.Errorf("stored credentials: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("stored credentials: %w", err)
	}
	return ids, nil
}
