package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xbot/xbot/internal/xapi"
)

// XTokens implements xapi.TokenStore over x_oauth_tokens: one row per account holding the current
// OAuth 2.0 access and refresh token, each encrypted with AES-256-GCM under Key (XBOT_SECRET_KEY). Without
// a key nothing is stored: a refresh token in clear text in the database would outlive any rotation.
// Refreshes are serialised across processes by an advisory lock per account (xapi.RefreshLocker).
type XTokens struct {
	Pool *pgxpool.Pool
	Key  []byte // 32 bytes; nil: Save refuses
}

var (
	_ xapi.TokenStore    = (*XTokens)(nil)
	_ xapi.RefreshLocker = (*XTokens)(nil)
)

// ErrNoSecretKey is returned when a token would be stored without XBOT_SECRET_KEY.
var ErrNoSecretKey = errors.New("XBOT_SECRET_KEY is not set: OAuth 2.0 tokens and account credentials are only stored encrypted")

// ErrUndecryptable is returned when a stored value does not decrypt: another key sealed it, it was bound to
// another account or column, or it was altered.
var ErrUndecryptable = errors.New("does not decrypt with XBOT_SECRET_KEY")

// XTokens returns the OAuth 2.0 token store over the store's pool, encrypting with key.
func (s *Store) XTokens(key []byte) *XTokens { return &XTokens{Pool: s.Pool, Key: key} }

// sealPrefix marks an encrypted value: version, then base64 of nonce and ciphertext.
const sealPrefix = "v1:"

func (x *XTokens) aead() (cipher.AEAD, error) {
	if len(x.Key) == 0 {
		return nil, ErrNoSecretKey
	}
	block, err := aes.NewCipher(x.Key)
	if err != nil {
		return nil, fmt.Errorf("OAuth2 token key: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts a token bound to its account and column, so a value copied elsewhere does not decrypt.
func (x *XTokens) seal(accountID int64, column, plain string) (string, error) {
	g, err := x.aead()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("OAuth2 token nonce: %w", err)
	}
	out := g.Seal(nonce, nonce, []byte(plain), []byte(fmt.Sprintf("%d/%s", accountID, column)))
	return sealPrefix + base64.StdEncoding.EncodeToString(out), nil
}

func (x *XTokens) open(accountID int64, column, sealed string) (string, error) {
	g, err := x.aead()
	if err != nil {
		return "", err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, sealPrefix))
	if !strings.HasPrefix(sealed, sealPrefix) || err != nil || len(raw) < g.NonceSize() {
		return "", fmt.Errorf("%s of account %d is not an encrypted value", column, accountID)
	}
	plain, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], []byte(fmt.Sprintf("%d/%s", accountID, column)))
	if err != nil {
		return "", fmt.Errorf("%s of account %d: %w", column, accountID, ErrUndecryptable)
	}
	return string(plain), nil
}

// LoadOAuth2Token implements xapi.TokenStore.
func (x *XTokens) LoadOAuth2Token(ctx context.Context, accountID int64) (xapi.OAuth2Token, bool, error) {
	return x.load(ctx, x.Pool, accountID)
}

func (x *XTokens) load(ctx context.Context, db DBTX, accountID int64) (xapi.OAuth2Token, bool, error) {
	var access, refresh string
	var expires *time.Time
	err := db.QueryRow(ctx,
		`SELECT access_token, refresh_token, expires_at FROM x_oauth_tokens WHERE account_id = $1`, accountID).
		Scan(&access, &refresh, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return xapi.OAuth2Token{}, false, nil
	}
	if err != nil {
		return xapi.OAuth2Token{}, false, fmt.Errorf("load OAuth2 token of account %d: %w", accountID, err)
	}
	var tok xapi.OAuth2Token
	if tok.AccessToken, err = x.open(accountID, "access_token", access); err != nil {
		return xapi.OAuth2Token{}, false, err
	}
	if tok.RefreshToken, err = x.open(accountID, "refresh_token", refresh); err != nil {
		return xapi.OAuth2Token{}, false, err
	}
	if expires != nil {
		tok.ExpiresAt = expires.UTC()
	}
	return tok, true, nil
}

// SaveOAuth2Token implements xapi.TokenStore: both tokens, encrypted, written by one statement.
func (x *XTokens) SaveOAuth2Token(ctx context.Context, accountID int64, tok xapi.OAuth2Token) error {
	return x.save(ctx, x.Pool, accountID, tok)
}

func (x *XTokens) save(ctx context.Context, db DBTX, accountID int64, tok xapi.OAuth2Token) error {
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		return errors.New("save OAuth2 token: access and refresh token are both required")
	}
	access, err := x.seal(accountID, "access_token", tok.AccessToken)
	if err != nil {
		return fmt.Errorf("save OAuth2 token of account %d: %w", accountID, err)
	}
	refresh, err := x.seal(accountID, "refresh_token", tok.RefreshToken)
	if err != nil {
		return fmt.Errorf("save OAuth2 token of account %d: %w", accountID, err)
	}
	var expires *time.Time
	if !tok.ExpiresAt.IsZero() {
		e := tok.ExpiresAt.UTC()
		expires = &e
	}
	_, err = db.Exec(ctx, `
INSERT INTO x_oauth_tokens (account_id, access_token, refresh_token, expires_at, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (account_id) DO UPDATE SET access_token = EXCLUDED.access_token,
	refresh_token = EXCLUDED.refresh_token, expires_at = EXCLUDED.expires_at, updated_at = now()`,
		accountID, access, refresh, expires)
	if err != nil {
		// pgx errors never carry parameter values, so no token leaks here.
		return fmt.Errorf("save OAuth2 token of account %d: %w", accountID, err)
	}
	return nil
}

// WithRefreshLock implements xapi.RefreshLocker: fn runs in a transaction holding an advisory lock keyed
// by the account, with the pair stored when the lock was taken; its save writes in that transaction. Two
// replicas therefore never spend the same single-use refresh token: the second finds the first's pair.
func (x *XTokens) WithRefreshLock(ctx context.Context, accountID int64,
	fn func(ctx context.Context, stored xapi.OAuth2Token, found bool, save func(xapi.OAuth2Token) error) error) error {
	if len(x.Key) == 0 {
		return ErrNoSecretKey
	}
	return pgx.BeginFunc(ctx, x.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/x_oauth_refresh'), $1::int)`,
			int32(accountID)); err != nil {
			return fmt.Errorf("lock OAuth2 refresh of account %d: %w", accountID, err)
		}
		stored, found, err := x.load(ctx, tx, accountID)
		if err != nil {
			return err
		}
		return fn(ctx, stored, found, func(tok xapi.OAuth2Token) error { return x.save(ctx, tx, accountID, tok) })
	})
}
