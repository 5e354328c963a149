package store_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xspec"
	"github.com/xbot/xbot/store"
)

func TestXTokensLoadSave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	st := store.New(dbtest.Pool(t))
	acct, err := st.UpsertDefaultAccount(ctx, tx, "4242", "tok")
	require.NoError(t, err)
	x := &store.XTokens{DB: tx}

	_, found, err := x.LoadOAuth2Token(ctx, acct.ID)
	require.NoError(t, err)
	require.False(t, found)

	exp := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	require.NoError(t, x.SaveOAuth2Token(ctx, acct.ID, xapi.OAuth2Token{AccessToken: "a1", RefreshToken: "r1", ExpiresAt: exp}))
	require.NoError(t, x.SaveOAuth2Token(ctx, acct.ID, xapi.OAuth2Token{AccessToken: "a2", RefreshToken: "r2", ExpiresAt: exp.Add(time.Hour)}))
	tok, found, err := x.LoadOAuth2Token(ctx, acct.ID)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, xapi.OAuth2Token{AccessToken: "a2", RefreshToken: "r2", ExpiresAt: exp.Add(time.Hour)}, tok)

	require.Error(t, x.SaveOAuth2Token(ctx, acct.ID, xapi.OAuth2Token{AccessToken: "a3"}), "a pair is stored whole or not at all")
	require.Error(t, x.SaveOAuth2Token(ctx, 1<<40, xapi.OAuth2Token{AccessToken: "a", RefreshToken: "r"}), "unknown account")
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
	tokens := st.XTokens()

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
