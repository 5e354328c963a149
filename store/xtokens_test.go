package store_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xspec"
	"github.com/xbot/xbot/store"
)

// testKey is a 32-byte AES key (XBOT_SECRET_KEY in production).
var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestXTokensLoadSave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.Schema(t)
	st := store.New(pool)
	acct, err := st.UpsertDefaultAccount(ctx, pool, "4242", "tok")
	require.NoError(t, err)
	x := st.XTokens(testKey)

	_, found, err := x.LoadOAuth2Token(ctx, acct.ID)
	require.NoError(t, err)
	require.False(t, found)

	exp := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	require.NoError(t, x.SaveOAuth2Token(ctx, acct.ID, xapi.OAuth2Token{AccessToken: "access-a1", RefreshToken: "refresh-r1", ExpiresAt: exp}))
	require.NoError(t, x.SaveOAuth2Token(ctx, acct.ID, xapi.OAuth2Token{AccessToken: "access-a2", RefreshToken: "refresh-r2", ExpiresAt: exp.Add(time.Hour)}))
	tok, found, err := x.LoadOAuth2Token(ctx, acct.ID)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, xapi.OAuth2Token{AccessToken: "access-a2", RefreshToken: "refresh-r2", ExpiresAt: exp.Add(time.Hour)}, tok)

	// At rest the tokens are AES-GCM ciphertext: the database never holds them in clear.
	var rawAccess, rawRefresh string
	require.NoError(t, pool.QueryRow(ctx, `SELECT access_token, refresh_token FROM x_oauth_tokens WHERE account_id = $1`, acct.ID).
		Scan(&rawAccess, &rawRefresh))
	require.NotContains(t, rawAccess, "access-a2")
	require.NotContains(t, rawRefresh, "refresh-r2")
	require.True(t, strings.HasPrefix(rawRefresh, "v1:"))

	// Without the key nothing is stored; with another key nothing decrypts.
	require.ErrorIs(t, st.XTokens(nil).SaveOAuth2Token(ctx, acct.ID, xapi.OAuth2Token{AccessToken: "a", RefreshToken: "r"}), store.ErrNoSecretKey)
	_, _, err = st.XTokens([]byte("another-key-of-thirty-two-bytes!")).LoadOAuth2Token(ctx, acct.ID)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "refresh-r2")

	require.Error(t, x.SaveOAuth2Token(ctx, acct.ID, xapi.OAuth2Token{AccessToken: "a3"}), "a pair is stored whole or not at all")
	require.Error(t, x.SaveOAuth2Token(ctx, 1<<40, xapi.OAuth2Token{AccessToken: "a", RefreshToken: "r"}), "unknown account")
}

// Replicas whose access tokens expire together refresh once: the advisory lock lets one trade the
// single-use refresh token; the others find its pair stored and use it.
func TestXTokensRefreshSerialisedAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.Schema(t)
	st := store.New(pool)
	acct, err := st.UpsertDefaultAccount(ctx, pool, "778", "lock")
	require.NoError(t, err)

	var mu sync.Mutex
	trades := map[string]int{} // refresh token -> times traded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/oauth2/token":
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			mu.Lock()
			trades[form.Get("refresh_token")]++
			n := trades[form.Get("refresh_token")]
			mu.Unlock()
			if form.Get("refresh_token") != "refresh-1" || n > 1 {
				w.WriteHeader(400)
				_, _ = io.WriteString(w, `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`)
				return
			}
			_, _ = io.WriteString(w, `{"token_type":"bearer","expires_in":7200,"access_token":"access-2","refresh_token":"refresh-2"}`)
		case "/2/users/me":
			if r.Header.Get("Authorization") != "Bearer access-2" {
				w.WriteHeader(401)
				_, _ = io.WriteString(w, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`)
				return
			}
			_, _ = io.WriteString(w, `{"data":{"id":"778","name":"Lock","username":"lock"}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	const replicas = 4
	errs := make(chan error, replicas)
	for i := 0; i < replicas; i++ {
		c, err := xapi.New(xapi.Config{BaseURL: srv.URL,
			OAuth2: &xapi.OAuth2Config{ClientID: "client-1", TokenURL: srv.URL + "/oauth2/token", AccountID: acct.ID,
				AccessToken: "access-1", RefreshToken: "refresh-1", ExpiresAt: now.Add(10 * time.Second)},
			Tokens: st.XTokens(testKey), Now: func() time.Time { return now }})
		require.NoError(t, err)
		go func() {
			_, err := c.Me(ctx)
			errs <- err
		}()
	}
	for i := 0; i < replicas; i++ {
		require.NoError(t, <-errs)
	}
	mu.Lock()
	require.Equal(t, map[string]int{"refresh-1": 1}, trades, "the refresh token was spent once")
	mu.Unlock()
	tok, found, err := st.XTokens(testKey).LoadOAuth2Token(ctx, acct.ID)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "refresh-2", tok.RefreshToken)
}

// TestXTokensRotationStoredBeforeUse drives the real client: its expired access token is refreshed, and
// when X first sees the new access token, the new pair is already committed in Postgres.
func TestXTokensRotationStoredBeforeUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.Schema(t)
	st := store.New(pool)
	acct, err := st.UpsertDefaultAccount(ctx, pool, "777", "rot")
	require.NoError(t, err)
	tokens := st.XTokens(testKey)

	var mu sync.Mutex
	storedWhenUsed := map[string]string{} // access token X saw -> refresh token in the database then
	refreshes := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oauth2/token":
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			mu.Lock()
			refreshes++
			mu.Unlock()
			if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != "refresh-1" || form.Get("client_id") != "client-1" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				_, _ = io.WriteString(w, `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token_type":"bearer","expires_in":7200,"access_token":"access-2","scope":"tweet.read users.read tweet.write offline.access","refresh_token":"refresh-2"}`)
		case "/2/users/me":
			got := r.Header.Get("Authorization")
			tok, found, err := tokens.LoadOAuth2Token(r.Context(), acct.ID)
			mu.Lock()
			if err == nil && found {
				storedWhenUsed[got] = tok.RefreshToken
			}
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if got != "Bearer access-2" {
				w.WriteHeader(401)
				_, _ = io.WriteString(w, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`)
				return
			}
			_, _ = io.WriteString(w, `{"data":{"id":"777","name":"Rot","username":"rot","public_metrics":{"followers_count":5,"following_count":1,"post_count":9,"listed_count":0}}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c, err := xapi.New(xapi.Config{
		BaseURL: srv.URL,
		OAuth2: &xapi.OAuth2Config{ClientID: "client-1", TokenURL: srv.URL + "/oauth2/token", AccountID: acct.ID,
			AccessToken: "access-1", RefreshToken: "refresh-1", ExpiresAt: now.Add(30 * time.Second)},
		Tokens:     tokens,
		HTTPClient: &http.Client{Transport: onlyAPI{spec: xspec.Load(t).Recorder(t, nil)}},
		Now:        func() time.Time { return now },
	})
	require.NoError(t, err)

	me, err := c.Me(ctx)
	require.NoError(t, err)
	require.Equal(t, "777", me.ID)
	require.Equal(t, int64(5), me.Followers)

	mu.Lock()
	require.Equal(t, map[string]string{"Bearer access-2": "refresh-2"}, storedWhenUsed,
		"the expired token was never sent, and the new pair was stored before its first use")
	require.Equal(t, 1, refreshes)
	mu.Unlock()
	tok, found, err := tokens.LoadOAuth2Token(ctx, acct.ID)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, xapi.OAuth2Token{AccessToken: "access-2", RefreshToken: "refresh-2", ExpiresAt: now.Add(2 * time.Hour)}, tok)

	// A second client (another replica or a restart) starts from the stored pair, not the spent one.
	c2, err := xapi.New(xapi.Config{
		BaseURL: srv.URL,
		OAuth2: &xapi.OAuth2Config{ClientID: "client-1", TokenURL: srv.URL + "/oauth2/token", AccountID: acct.ID,
			AccessToken: "access-1", RefreshToken: "refresh-1"},
		Tokens: tokens, Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	_, err = c2.Me(ctx)
	require.NoError(t, err)
	mu.Lock()
	require.Equal(t, 1, refreshes, "no second refresh")
	mu.Unlock()
}

// onlyAPI sends the token endpoint (not part of the API spec) straight through and checks the rest.
type onlyAPI struct{ spec http.RoundTripper }

func (o onlyAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/oauth2/token" {
		return http.DefaultTransport.RoundTrip(r)
	}
	return o.spec.RoundTrip(r)
}
