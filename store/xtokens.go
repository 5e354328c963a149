package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xbot/xbot/internal/xapi"
)

// XTokens implements xapi.TokenStore over x_oauth_tokens: one row per account holding the current
// OAuth 2.0 access and refresh token.
type XTokens struct {
	DB DBTX
}

var _ xapi.TokenStore = (*XTokens)(nil)

// XTokens returns the OAuth 2.0 token store over the store's pool.
func (s *Store) XTokens() *XTokens { return &XTokens{DB: s.Pool} }

// LoadOAuth2Token implements xapi.TokenStore.
func (x *XTokens) LoadOAuth2Token(ctx context.Context, accountID int64) (xapi.OAuth2Token, bool, error) {
	var tok xapi.OAuth2Token
	var expires *time.Time
	err := x.DB.QueryRow(ctx,
		`SELECT access_token, refresh_token, expires_at FROM x_oauth_tokens WHERE account_id = $1`, accountID).
		Scan(&tok.AccessToken, &tok.RefreshToken, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return xapi.OAuth2Token{}, false, nil
	}
	if err != nil {
		return xapi.OAuth2Token{}, false, fmt.Errorf("load OAuth2 token of account %d: %w", accountID, err)
	}
	if expires != nil {
		tok.ExpiresAt = expires.UTC()
	}
	return tok, true, nil
}

// SaveOAuth2Token implements xapi.TokenStore: both tokens are written by one statement.
func (x *XTokens) SaveOAuth2Token(ctx context.Context, accountID int64, tok xapi.OAuth2Token) error {
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		return errors.New("save OAuth2 token: access and refresh token are both required")
	}
	var expires *time.Time
	if !tok.ExpiresAt.IsZero() {
		e := tok.ExpiresAt.UTC()
		expires = &e
	}
	_, err := x.DB.Exec(ctx, `
INSERT INTO x_oauth_tokens (account_id, access_token, refresh_token, expires_at, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (account_id) DO UPDATE SET access_token = EXCLUDED.access_token,
	refresh_token = EXCLUDED.refresh_token, expires_at = EXCLUDED.expires_at, updated_at = now()`,
		accountID, tok.AccessToken, tok.RefreshToken, expires)
	if err != nil {
		// pgx errors never carry parameter values, so no token leaks here.
		return fmt.Errorf("save OAuth2 token of account %d: %w", accountID, err)
	}
	return nil
}
