package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
)

// simUser is one X user of a shared simulated X, with its own OAuth 1.0a credentials.
type simUser struct {
	id             int64
	handle         string
	ck, cs, at, as string
	server         *xsim.Server
}

func (u simUser) json() string {
	return fmt.Sprintf(`{"api_key":%q,"api_secret":%q,"access_token":%q,"access_token_secret":%q}`, u.ck, u.cs, u.at, u.as)
}

func (u simUser) lines() string {
	return fmt.Sprintf("# %s\nX_API_KEY=%s\nX_API_SECRET=%s\n\nX_ACCESS_TOKEN=%s\nX_ACCESS_TOKEN_SECRET=%s\n", u.handle, u.ck, u.cs, u.at, u.as)
}

func (u simUser) secrets() []string { return []string{u.ck, u.cs, u.at, u.as} }

func newSimUser(id int64, handle, tag string) simUser {
	return simUser{id: id, handle: handle, ck: "ck-" + tag + "-4f1d9a", cs: "cs-" + tag + "-8e2b7c", at: "at-" + tag + "-0c3e5d", as: "as-" + tag + "-6a9f1b"}
}

// multiX serves several users on one simulated X (one world in the database): each request goes to the
// simulator that knows its access token, as X routes it to the token's user. calls counts requests per
// access token.
type multiX struct {
	url     string
	handler http.Handler
	mu      sync.Mutex
	calls   map[string][]string // access token → "METHOD path"
}

func serveMultiX(t *testing.T, pool *pgxpool.Pool, users ...*simUser) *multiX {
	t.Helper()
	ctx := context.Background()
	byToken := map[string]*xsim.Server{}
	for _, u := range users {
		s, err := xsim.NewServer(ctx, xsim.Config{ConsumerKey: u.ck, ConsumerSecret: u.cs, AccessToken: u.at, AccessTokenSecret: u.as,
			UserID: u.id, Username: u.handle, NoDuplicateCheck: true}, store.NewXSim(pool))
		require.NoError(t, err)
		u.server = s
		byToken[u.at] = s
	}
	mx := &multiX{calls: map[string][]string{}}
	mx.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		for tok, s := range byToken {
			if strings.Contains(auth, `oauth_token="`+tok+`"`) {
				mx.mu.Lock()
				mx.calls[tok] = append(mx.calls[tok], r.Method+" "+r.URL.Path)
				mx.mu.Unlock()
				s.ServeHTTP(w, r)
				return
			}
		}
		http.Error(w, `{"title":"Unauthorized","status":401}`, http.StatusUnauthorized)
	})
	// The handler is read per request, so a test may wrap it (to inject faults for one user).
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mx.mu.Lock()
		h := mx.handler
		mx.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	mx.url = ts.URL
	return mx
}

func (mx *multiX) callsOf(u simUser) []string {
	mx.mu.Lock()
	defer mx.mu.Unlock()
	return append([]string(nil), mx.calls[u.at]...)
}

// runCLI runs one xbot command with stdin and returns its exit code and everything it printed.
func runCLI(env map[string]string, stdin string, args ...string) (int, string) {
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr, m.Stdin = out, out, strings.NewReader(stdin)
	m.LookupEnv = lookupIn(env)
	err := m.Run(context.Background(), args)
	m.Close()
	return exitCode(out, err), out.String()
}

// tableText is every row of every table in the schema as text (River's tables included).
func tableText(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, tables, "river_job")
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT t::text FROM %s t`, pgx.Identifier{tbl}.Sanitize()))
		require.NoError(t, err)
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		for _, s := range texts {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func requireNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotContains(t, text, s, "a secret in %s", where)
		require.NotContains(t, text, base64.StdEncoding.EncodeToString([]byte(s)), "a base64 secret in %s", where)
	}
}

func TestAccountsCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	alpha, beta := newSimUser(1590000000000001001, "alpha_brand", "alpha"), newSimUser(1590000000000001002, "beta_brand", "beta")
	alpha2 := alpha
	alpha2.ck, alpha2.cs, alpha2.at, alpha2.as = "ck-alpha2-77aa", "cs-alpha2-88bb", "at-alpha2-99cc", "as-alpha2-00dd"
	x := serveMultiX(t, pool, &alpha, &beta, &alpha2)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	env := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "X_API_BASE_URL": x.url, "X_CALL_TIMEOUT": "5s", "XBOT_SECRET_KEY": key}
	noKey := map[string]string{"DATABASE_URL": env["DATABASE_URL"], "X_API_BASE_URL": x.url}
	runOnce(t, env, "migrate")
	var outputs strings.Builder
	run := func(e map[string]string, stdin string, args ...string) (int, string) {
		code, out := runCLI(e, stdin, args...)
		outputs.WriteString(out)
		return code, out
	}

	code, out := run(noKey, alpha.json(), "accounts", "add", "--handle", "alpha_brand")
	require.Equal(t, 2, code)
	require.Equal(t, "config: XBOT_SECRET_KEY is required to store credentials (32 bytes: openssl rand -base64 32)\n", out)

	code, out = run(env, alpha.json(), "accounts", "add", "--handle", "@Alpha_Brand")
	require.Equal(t, 0, code, out)
	st := store.New(pool)
	a1, err := st.AccountByHandle(ctx, pool, "alpha_brand")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("account %d added: @alpha_brand x_user_id=1590000000000001001 (credentials verified with GET /2/users/me and stored encrypted)\n", a1.ID), out)
	require.Equal(t, []string{"GET /2/users/me"}, x.callsOf(alpha))

	code, out = run(env, beta.lines(), "accounts", "add", "--handle", "someone_else")
	require.Equal(t, 2, code)
	require.Equal(t, "accounts: the credentials are @beta_brand (user 1590000000000001002) on X, not @someone_else; nothing stored\n", out)
	code, out = run(env, beta.lines(), "accounts", "add", "--handle", "beta_brand")
	require.Equal(t, 0, code, out)
	b1, err := st.AccountByHandle(ctx, pool, "beta_brand")
	require.NoError(t, err)
	code, out = run(env, alpha2.lines(), "accounts", "add", "--handle", "alpha_brand")
	require.Equal(t, 2, code)
	require.Contains(t, out, fmt.Sprintf("is already account %d", a1.ID))
	code, out = run(env, "X_API_KEY=only-one\n", "accounts", "add", "--handle", "gamma")
	require.Equal(t, 2, code)
	require.Contains(t, out, "credentials need X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET")
	code, out = run(env, "X_API_KEY=has space\nX_API_SECRET=b\n", "accounts", "add", "--handle", "gamma")
	require.Equal(t, 2, code)
	require.Equal(t, "accounts: credentials on stdin: X_API_KEY=[redacted]: one token without spaces or control characters\n", out)

	// Credentials from the environment (--from-env) for the rotation: the same X user, new tokens.
	rotEnv := map[string]string{"X_API_KEY": alpha2.ck, "X_API_SECRET": alpha2.cs, "X_ACCESS_TOKEN": alpha2.at, "X_ACCESS_TOKEN_SECRET": alpha2.as}
	for k, v := range env {
		rotEnv[k] = v
	}
	code, out = run(env, beta.json(), "accounts", "rotate", "alpha_brand")
	require.Equal(t, 2, code)
	require.Equal(t, "accounts: the new credentials are @beta_brand (user 1590000000000001002), not @alpha_brand (user 1590000000000001001); nothing stored\n", out)
	code, out = run(rotEnv, "", "accounts", "rotate", "alpha_brand", "--from-env")
	require.Equal(t, 0, code, out)
	require.Equal(t, fmt.Sprintf("account %d @alpha_brand: credentials rotated (verified as user 1590000000000001001)\n", a1.ID), out)
	box, err := keyVault(env)
	require.NoError(t, err)
	got, err := box.Load(ctx, pool, a1.ID)
	require.NoError(t, err)
	require.Equal(t, store.Credentials{APIKey: alpha2.ck, APISecret: alpha2.cs, AccessToken: alpha2.at, AccessTokenSecret: alpha2.as}, got)

	code, out = run(env, "", "accounts", "set", "alpha_brand", "topics=go, postgres", "budget_usd=0.5", "timezone=Europe/Berlin", "MAX_POSTS_PER_DAY=6")
	require.Equal(t, 0, code, out)
	code, out = run(env, "", "accounts", "set", "beta_brand", "posts_per_day=0")
	require.Equal(t, 2, code)
	require.Equal(t, "config: MAX_POSTS_PER_DAY=0: an integer from 1 to 1000\n", out)
	code, out = run(env, "", "accounts", "set", "beta_brand", "budget_usd=-1")
	require.Equal(t, 2, code)
	require.Equal(t, "config: BUDGET_USD=-1: a number from 0 to 1e+06\n", out)
	code, out = run(env, "", "accounts", "set", "beta_brand", "timezone=Mars/Olympus")
	require.Equal(t, 2, code)
	require.Equal(t, "config: ACCOUNT_TZ=Mars/Olympus: an IANA time zone such as Etc/UTC or Europe/Berlin\n", out)
	code, out = run(env, "", "accounts", "set", "beta_brand", "OPENAI_API_KEY=sk-x")
	require.Equal(t, 2, code)
	require.Contains(t, out, "config: OPENAI_API_KEY=sk-x: not an account setting; one of budget_usd, formats")
	code, out = run(env, "", "accounts", "disable", "beta_brand")
	require.Equal(t, 0, code, out)
	require.Equal(t, fmt.Sprintf("account %d @beta_brand: disabled\n", b1.ID), out)

	code, out = run(env, "", "accounts", "list")
	require.Equal(t, 0, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Regexp(t, `^\d+ +- +- +active +- +env *$`, lines[1], "the environment's account")
	require.Regexp(t, `^\d+ +@alpha_brand +1590000000000001001 +active +Europe/Berlin +stored +BUDGET_USD=0.5 CONTENT_TOPICS=go, postgres MAX_POSTS_PER_DAY=6$`, lines[2])
	require.Regexp(t, `^\d+ +@beta_brand +1590000000000001002 +disabled +- +stored *$`, lines[3])
	ids, err := st.ActiveAccountIDs(ctx, pool, true)
	require.NoError(t, err)
	def, err := st.DefaultAccount(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, []int64{def.ID, a1.ID}, ids)

	// xbot llm status shows each account's share and what is left of it (spend of the day and refusals).
	_, err = pool.Exec(ctx, `INSERT INTO api_usage (request_id, purpose, model, status, error_code, budget_day, account_id, cost_usd)
		VALUES ('r1', 'content_generation', 'gpt-4o-mini', 'refused', 'budget_exhausted', (now() AT TIME ZONE 'UTC')::date, $1, 0)`, a1.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO llm_budget_accounts (day, account_id, spent_usd) VALUES ((now() AT TIME ZONE 'UTC')::date, $1, 0.4999)`, a1.ID)
	require.NoError(t, err)
	code, out = run(env, "", "llm", "status")
	require.Equal(t, 0, code, out)
	require.Regexp(t, fmt.Sprintf(`(?m)^account @alpha_brand \(%d\) +spent 0\.499900 reserved 0\.000000 \(share 0\.500000, left 0\.000100; EXHAUSTED: 1 calls refused today\)$`, a1.ID), out)

	// A process that finds stored credentials without the key, or with another one, does not start.
	code, out = run(noKey, "", "worker")
	require.Equal(t, 2, code)
	require.Equal(t, "config: XBOT_SECRET_KEY is not set, but 2 accounts have stored credentials encrypted with it\n", lastLine(out))
	wrong := map[string]string{"DATABASE_URL": env["DATABASE_URL"], "XBOT_SECRET_KEY": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))}
	code, out = run(wrong, "", "worker")
	require.Equal(t, 2, code)
	require.Equal(t, "config: XBOT_SECRET_KEY=[redacted]: does not open the stored credentials (not the key they were stored with)\n", lastLine(out))

	all := append(append(append(alpha.secrets(), beta.secrets()...), alpha2.secrets()...), key)
	requireNoSecret(t, "the database", tableText(t, pool), all...)
	requireNoSecret(t, "the output", outputs.String(), all...)
	var sealedLen int
	require.NoError(t, pool.QueryRow(ctx, `SELECT min(length(sealed)) FROM account_credentials`).Scan(&sealedLen))
	require.Greater(t, sealedLen, len("v1:")+(12+16)*4/3, "nonce, ciphertext and tag")
	_, err = pool.Exec(ctx, `UPDATE account_credentials SET sealed = (SELECT sealed FROM account_credentials WHERE account_id = $1) WHERE account_id = $2`, b1.ID, a1.ID)
	require.NoError(t, err)
	_, err = box.Load(ctx, pool, a1.ID)
	require.True(t, errors.Is(err, store.ErrUndecryptable), "a sealed value copied onto another account does not open: %v", err)
}

// keyVault is the vault over XBOT_SECRET_KEY as env gives it.
func keyVault(env map[string]string) (store.Vault, error) {
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Defaults{})
	if err != nil {
		return store.Vault{}, err
	}
	return store.Vault{Key: cfg.SecretKeyBytes()}, nil
}
