package xapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OAuth2Token is an OAuth 2.0 user access token and the single-use refresh token that replaces it.
type OAuth2Token struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time // zero: unknown, used until X answers 401
}

// TokenStore keeps the account's current OAuth 2.0 token pair, so every replica and every restart uses
// the newest one. Package store implements it over x_oauth_tokens.
type TokenStore interface {
	// LoadOAuth2Token returns the stored pair; found is false when none is stored yet.
	LoadOAuth2Token(ctx context.Context, accountID int64) (tok OAuth2Token, found bool, err error)
	// SaveOAuth2Token stores the pair in one statement (both tokens or neither).
	SaveOAuth2Token(ctx context.Context, accountID int64, tok OAuth2Token) error
}

// RefreshLocker is what a TokenStore shared by several processes offers to serialise refreshes:
// WithRefreshLock runs fn holding a lock keyed by the account, with the pair stored when the lock was
// taken (found false when none); save stores a pair under that lock. Package store implements it with an
// advisory lock, so two replicas never spend the same single-use refresh token.
type RefreshLocker interface {
	WithRefreshLock(ctx context.Context, accountID int64,
		fn func(ctx context.Context, stored OAuth2Token, found bool, save func(OAuth2Token) error) error) error
}

// OAuth2Config is an OAuth 2.0 user context (scopes tweet.read tweet.write users.read offline.access).
type OAuth2Config struct {
	ClientID     string
	ClientSecret string // confidential clients only; sent as HTTP Basic auth
	TokenURL     string // default BaseURL + /2/oauth2/token
	AccountID    int64  // the accounts row the tokens belong to
	// AccessToken and RefreshToken are the initial pair (from the environment), used until a stored pair
	// exists.
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	// RefreshBefore refreshes this long before ExpiresAt; default 1m.
	RefreshBefore time.Duration
}

// tokenSource hands out the current access token, refreshing it when due. Refreshes are serialised in
// the process; across replicas, a refresh refused because another replica already used the refresh token
// adopts the pair that replica stored.
type tokenSource struct {
	cfg   OAuth2Config
	store TokenStore
	c     *Client

	mu      sync.Mutex
	cur     *OAuth2Token
	pending *OAuth2Token // refreshed but not yet stored: must be stored before it is used
}

func newTokenSource(cfg OAuth2Config, store TokenStore, c *Client) (*tokenSource, error) {
	if store == nil {
		return nil, errors.New("xapi: OAuth2 needs a TokenStore: refresh tokens are single-use and must be stored")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("xapi: OAuth2 needs a ClientID")
	}
	if cfg.AccountID <= 0 {
		return nil, errors.New("xapi: OAuth2 needs the AccountID the tokens belong to")
	}
	cfg.TokenURL = cmp.Or(cfg.TokenURL, c.cfg.BaseURL+"/2/oauth2/token")
	if u, err := url.Parse(cfg.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("xapi: OAuth2 TokenURL %q: want an http(s) URL", cfg.TokenURL)
	}
	cfg.RefreshBefore = cmp.Or(cfg.RefreshBefore, time.Minute)
	return &tokenSource{cfg: cfg, store: store, c: c}, nil
}

// held lists the tokens in memory, for redaction.
func (t *tokenSource) held() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.heldLocked()
}

func (t *tokenSource) heldLocked() []string {
	var out []string
	for _, tok := range []*OAuth2Token{t.cur, t.pending} {
		if tok != nil {
			out = append(out, tok.AccessToken, tok.RefreshToken)
		}
	}
	return out
}

// token returns an access token that is stored and not about to expire.
func (t *tokenSource) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ready(ctx); err != nil {
		return "", err
	}
	if !t.cur.ExpiresAt.IsZero() && !t.c.cfg.Now().Before(t.cur.ExpiresAt.Add(-t.cfg.RefreshBefore)) {
		if err := t.refresh(ctx); err != nil {
			return "", err
		}
	}
	return t.cur.AccessToken, nil
}

// refreshAfter refreshes unless the current token already differs from the one X refused.
func (t *tokenSource) refreshAfter(ctx context.Context, refused string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ready(ctx); err != nil {
		return err
	}
	if t.cur.AccessToken != refused {
		return nil
	}
	return t.refresh(ctx)
}

// ready loads the current pair (stored, else configured) and stores a pending one. Called with mu held.
func (t *tokenSource) ready(ctx context.Context) error {
	if t.pending != nil {
		if err := t.save(ctx, *t.pending); err != nil {
			return err
		}
		t.cur, t.pending = t.pending, nil
	}
	if t.cur != nil {
		return nil
	}
	tok, found, err := t.store.LoadOAuth2Token(ctx, t.cfg.AccountID)
	if err != nil {
		return fmt.Errorf("xapi: load OAuth2 token: %w", err)
	}
	if !found {
		if t.cfg.AccessToken == "" && t.cfg.RefreshToken == "" {
			return fmt.Errorf("xapi: no OAuth2 token stored or configured: %w", ErrUnauthorized)
		}
		tok = OAuth2Token{AccessToken: t.cfg.AccessToken, RefreshToken: t.cfg.RefreshToken, ExpiresAt: t.cfg.ExpiresAt}
		if tok.AccessToken == "" {
			tok.ExpiresAt = t.c.cfg.Now() // only a refresh token: refresh before the first call
		}
	}
	t.cur = &tok
	return nil
}

func (t *tokenSource) save(ctx context.Context, tok OAuth2Token) error {
	if err := t.store.SaveOAuth2Token(ctx, t.cfg.AccountID, tok); err != nil {
		return fmt.Errorf("xapi: store rotated OAuth2 token: %s", t.redact(err.Error()))
	}
	return nil
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// refresh trades the current refresh token for a new pair and stores the pair before anything uses it.
// With a RefreshLocker the trade happens under the lock, after checking that no other process has traded
// this refresh token already. Called with mu held.
func (t *tokenSource) refresh(ctx context.Context) error {
	used := t.cur.RefreshToken
	if used == "" {
		return fmt.Errorf("xapi: OAuth2 access token expired and no refresh token: %w", ErrUnauthorized)
	}
	locker, ok := t.store.(RefreshLocker)
	if !ok {
		next, err := t.exchange(ctx, used)
		if err != nil {
			return err
		}
		return t.adopt(ctx, next, nil)
	}
	var traded *OAuth2Token
	err := locker.WithRefreshLock(ctx, t.cfg.AccountID, func(ctx context.Context, stored OAuth2Token, found bool, save func(OAuth2Token) error) error {
		if found && stored.RefreshToken != used {
			t.cur = &stored // another process refreshed first; its pair is the current one
			return nil
		}
		next, err := t.exchange(ctx, used)
		if err != nil {
			return err
		}
		traded = &next
		return t.adopt(ctx, next, save)
	})
	if err != nil && traded != nil && t.pending == nil {
		// The lock's transaction failed after X spent the old refresh token: keep the new pair to store.
		t.pending = traded
	}
	return err
}

// adopt stores next (with save, else the store) and makes it current; a pair that could not be stored is
// kept pending and stored before its first use.
func (t *tokenSource) adopt(ctx context.Context, next OAuth2Token, save func(OAuth2Token) error) error {
	var err error
	if save != nil {
		if serr := save(next); serr != nil {
			err = fmt.Errorf("xapi: store rotated OAuth2 token: %s", t.redact(serr.Error()))
		}
	} else {
		err = t.save(ctx, next)
	}
	if err != nil {
		t.pending = &next
		return err
	}
	t.cur = &next
	return nil
}

// exchange trades the refresh token used at X's token endpoint for a new pair.
func (t *tokenSource) exchange(ctx context.Context, used string) (OAuth2Token, error) {
	ctx, cancel := context.WithTimeout(ctx, t.c.cfg.CallTimeout)
	defer cancel()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {used}, "client_id": {t.cfg.ClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return OAuth2Token{}, fmt.Errorf("xapi: OAuth2 refresh: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if t.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(t.cfg.ClientID), url.QueryEscape(t.cfg.ClientSecret))
	}
	resp, err := t.c.plain.Do(req)
	if err != nil {
		return OAuth2Token{}, fmt.Errorf("xapi: OAuth2 refresh: %s", t.redact(err.Error()))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return OAuth2Token{}, fmt.Errorf("xapi: OAuth2 refresh: read response: %s", t.redact(err.Error()))
	}
	var tr tokenResponse
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		if _, isLocker := t.store.(RefreshLocker); !isLocker &&
			(resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized) {
			// Without a lock another process may have used this refresh token first; it stored the new pair.
			stored, found, lerr := t.store.LoadOAuth2Token(ctx, t.cfg.AccountID)
			if lerr == nil && found && stored.RefreshToken != used {
				return stored, nil
			}
		}
		return OAuth2Token{}, fmt.Errorf("xapi: OAuth2 refresh refused: status %d %s: %w", resp.StatusCode,
			t.redact(cmp.Or(tr.Error+" "+tr.Description, "")), ErrUnauthorized)
	}
	next := OAuth2Token{AccessToken: tr.AccessToken, RefreshToken: cmp.Or(tr.RefreshToken, used)}
	if tr.ExpiresIn > 0 {
		next.ExpiresAt = t.c.cfg.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return next, nil
}

// redact is Client.redact for callers holding mu.
func (t *tokenSource) redact(s string) string { return t.c.redactWith(s, t.heldLocked()) }
