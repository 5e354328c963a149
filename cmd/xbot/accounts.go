package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/store"
)

const accountsUsage = `usage:
  xbot accounts list
  xbot accounts add --handle H [--from-env]     credentials on stdin (JSON or KEY=VALUE lines), or X_API_KEY etc. with --from-env
  xbot accounts rotate H [--from-env]           new credentials for the same X user
  xbot accounts disable H | enable H
  xbot accounts set H KEY=VALUE...              KEY: %s (or the variable's name); an empty VALUE removes the override`

func cmdAccounts() *command {
	return &command{
		summary: "add, list, disable, rotate the credentials of, and set the settings of the fleet's X accounts",
		usage:   "list|add|rotate|disable|enable|set ...",
		run: func(ctx context.Context, m *Main, e *env, _ any, args []string) error {
			usage := &ExitError{Code: 2, Msg: fmt.Sprintf(accountsUsage, strings.Join(config.AccountSettingKeys(), ", "))}
			if len(args) == 0 {
				return usage
			}
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			a := &accountsCmd{m: m, e: e, st: store.New(pool)}
			switch sub, rest := args[0], args[1:]; {
			case sub == "list" && len(rest) == 0:
				return a.list(ctx)
			case sub == "add":
				return a.add(ctx, rest)
			case sub == "rotate":
				return a.rotate(ctx, rest)
			case (sub == "disable" || sub == "enable") && len(rest) == 1:
				return a.setStatus(ctx, rest[0], sub == "enable")
			case sub == "set" && len(rest) >= 2:
				return a.set(ctx, rest[0], rest[1:])
			}
			return usage
		},
	}
}

type accountsCmd struct {
	m  *Main
	e  *env
	st *store.Store
}

func (a *accountsCmd) vault() (store.Vault, error) {
	if a.e.cfg.SecretKey == "" {
		return store.Vault{}, &ExitError{Code: 2, Msg: "config: XBOT_SECRET_KEY is required to store credentials (32 bytes: openssl rand -base64 32)"}
	}
	return store.Vault{Key: a.e.cfg.SecretKeyBytes()}, nil
}

func (a *accountsCmd) list(ctx context.Context) error {
	accts, err := a.st.ListAccounts(ctx, a.st.Pool)
	if err != nil {
		return fmt.Errorf("accounts list: %w (run xbot migrate first)", err)
	}
	w := a.m.Stdout
	fmt.Fprintf(w, "%-4s %-16s %-20s %-8s %-16s %-11s %s\n", "id", "handle", "x_user_id", "status", "timezone", "credentials", "settings")
	for _, acct := range accts {
		creds := "none"
		switch {
		case acct.IsDefault:
			creds = "env"
		case acct.HasCredentials:
			creds = "stored"
		}
		keys := make([]string, 0, len(acct.Settings))
		for k := range acct.Settings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		settings := make([]string, 0, len(keys))
		for _, k := range keys {
			settings = append(settings, k+"="+acct.Settings[k])
		}
		fmt.Fprintf(w, "%-4d %-16s %-20s %-8s %-16s %-11s %s\n", acct.ID, handleOf(acct), orDash(acct.XUserID), acct.Status,
			orDash(acct.Timezone), creds, strings.Join(settings, " "))
	}
	return nil
}

func handleOf(a *store.Account) string {
	if a.Handle == "" {
		return "-"
	}
	return "@" + a.Handle
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// credentialFlags parses a subcommand's flags; credentials never come from argv.
func credentialFlags(name string, args []string, handle *string) (fromEnv bool, rest []string, err error) {
	fs := flag.NewFlagSet("xbot accounts "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if handle != nil {
		fs.StringVar(handle, "handle", "", "the account's X handle")
	}
	fs.BoolVar(&fromEnv, "from-env", false, "take the credentials from X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET")
	// Flags may follow the handle (rotate H --from-env).
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return false, nil, &ExitError{Code: 2, Msg: fmt.Sprintf("xbot accounts %s: %v", name, err)}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fromEnv, positional, nil
}

// readCredentials reads the four OAuth 1.0a values (and an optional bearer token) from stdin or, with
// fromEnv, from the environment. Errors name keys, never values.
func (a *accountsCmd) readCredentials(fromEnv bool) (store.Credentials, error) {
	var c store.Credentials
	if fromEnv {
		cfg := a.e.cfg
		c = store.Credentials{APIKey: cfg.XAPIKey, APISecret: cfg.XAPISecret, AccessToken: cfg.XAccessToken,
			AccessTokenSecret: cfg.XAccessTokenSecret, BearerToken: cfg.XBearerToken}
	} else {
		if a.m.Stdin == nil {
			return c, &ExitError{Code: 2, Msg: "accounts: no credentials on stdin (or use --from-env)"}
		}
		raw, err := io.ReadAll(io.LimitReader(a.m.Stdin, 64<<10))
		if err != nil {
			return c, fmt.Errorf("accounts: read credentials from stdin: %w", err)
		}
		if c, err = parseCredentials(raw); err != nil {
			return c, &ExitError{Code: 2, Msg: "accounts: " + err.Error()}
		}
	}
	if !c.Complete() {
		return c, &ExitError{Code: 2, Msg: "accounts: credentials need X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET (api_key, api_secret, access_token, access_token_secret in JSON)"}
	}
	return c, nil
}

// parseCredentials reads a JSON object or KEY=VALUE lines (blank lines and # comments skipped); keys are
// the environment's names or their JSON names.
func parseCredentials(raw []byte) (store.Credentials, error) {
	var c store.Credentials
	fields := map[string]*string{
		"x_api_key": &c.APIKey, "api_key": &c.APIKey, "x_api_secret": &c.APISecret, "api_secret": &c.APISecret,
		"x_access_token": &c.AccessToken, "access_token": &c.AccessToken,
		"x_access_token_secret": &c.AccessTokenSecret, "access_token_secret": &c.AccessTokenSecret,
		"x_bearer_token": &c.BearerToken, "bearer_token": &c.BearerToken,
	}
	values := map[string]string{}
	text := strings.TrimSpace(string(raw))
	if strings.HasPrefix(text, "{") {
		if err := json.Unmarshal([]byte(text), &values); err != nil {
			return c, errors.New("credentials on stdin: not a JSON object of strings")
		}
	} else {
		sc := bufio.NewScanner(strings.NewReader(text))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			if !ok {
				return c, fmt.Errorf("credentials on stdin: line %d is not KEY=VALUE", n)
			}
			values[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	for k, v := range values {
		dst, ok := fields[strings.ToLower(k)]
		if !ok {
			return c, fmt.Errorf("credentials on stdin: unknown key %q", k)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return c, fmt.Errorf("credentials on stdin: %s=[redacted]: one token without spaces or control characters", k)
		}
		*dst = v
	}
	return c, nil
}

// verifiedCredentials reads credentials and asks X who they are (GET /2/users/me at X_API_BASE_URL); the
// vault that will store them is checked first, so nothing is read without a key to seal it with.
func (a *accountsCmd) verifiedCredentials(ctx context.Context, fromEnv bool) (store.Vault, store.Credentials, *xapi.User, error) {
	v, err := a.vault()
	if err != nil {
		return v, store.Credentials{}, nil, err
	}
	creds, err := a.readCredentials(fromEnv)
	if err != nil {
		return v, creds, nil, err
	}
	xc, err := accountXClient(a.e.cfg, creds, a.m.xHTTPClient())
	if err != nil {
		return v, creds, nil, err
	}
	me, err := whoAmI(ctx, a.e, xc)
	return v, creds, me, err
}

// accountXClient is an X client at X_API_BASE_URL signing with one account's credentials.
func accountXClient(cfg *config.Config, c store.Credentials, hc *http.Client) (*xapi.Client, error) {
	xc, err := xapi.New(xapi.Config{BaseURL: cfg.XAPIBaseURL, CallTimeout: cfg.XCallTimeout, Bearer: c.BearerToken, HTTPClient: hc,
		Creds: xapi.OAuth1Creds{ConsumerKey: c.APIKey, ConsumerSecret: c.APISecret, AccessToken: c.AccessToken, AccessSecret: c.AccessTokenSecret}})
	if err != nil {
		return nil, fmt.Errorf("x client: %w", err)
	}
	return xc, nil
}

func (a *accountsCmd) add(ctx context.Context, args []string) error {
	var handle string
	fromEnv, rest, err := credentialFlags("add", args, &handle)
	if err != nil {
		return err
	}
	handle = strings.TrimPrefix(strings.TrimSpace(handle), "@")
	if handle == "" || len(rest) != 0 {
		return &ExitError{Code: 2, Msg: "usage: xbot accounts add --handle H [--from-env] (credentials on stdin, never as arguments)"}
	}
	v, creds, me, err := a.verifiedCredentials(ctx, fromEnv)
	if err != nil {
		return err
	}
	if !strings.EqualFold(me.Username, handle) {
		return &ExitError{Code: 2, Msg: fmt.Sprintf("accounts: the credentials are @%s (user %s) on X, not @%s; nothing stored", me.Username, me.ID, handle)}
	}
	accts, err := a.st.ListAccounts(ctx, a.st.Pool)
	if err != nil {
		return err
	}
	for _, acct := range accts {
		if acct.XUserID == me.ID || strings.EqualFold(acct.Handle, me.Username) {
			return &ExitError{Code: 2, Msg: fmt.Sprintf("accounts: @%s (user %s) is already account %d; use xbot accounts rotate to replace its credentials", me.Username, me.ID, acct.ID)}
		}
	}
	var acct *store.Account
	err = a.st.InTx(ctx, func(tx pgx.Tx) error {
		if acct, err = a.st.AddAccount(ctx, tx, me.Username, me.ID); err != nil {
			return err
		}
		return v.Save(ctx, tx, acct.ID, me.ID, creds)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.m.Stdout, "account %d added: @%s x_user_id=%s (credentials verified with GET /2/users/me and stored encrypted)\n", acct.ID, acct.Handle, acct.XUserID)
	return nil
}

func (a *accountsCmd) rotate(ctx context.Context, args []string) error {
	fromEnv, rest, err := credentialFlags("rotate", args, nil)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return &ExitError{Code: 2, Msg: "usage: xbot accounts rotate H [--from-env] (credentials on stdin, never as arguments)"}
	}
	acct, err := a.account(ctx, rest[0])
	if err != nil {
		return err
	}
	if acct.IsDefault {
		return &ExitError{Code: 2, Msg: fmt.Sprintf("accounts: @%s is the environment's account: its credentials are X_API_KEY etc.; change them there", acct.Handle)}
	}
	v, creds, me, err := a.verifiedCredentials(ctx, fromEnv)
	if err != nil {
		return err
	}
	if me.ID != acct.XUserID {
		return &ExitError{Code: 2, Msg: fmt.Sprintf("accounts: the new credentials are @%s (user %s), not @%s (user %s); nothing stored", me.Username, me.ID, acct.Handle, acct.XUserID)}
	}
	if err := v.Save(ctx, a.st.Pool, acct.ID, me.ID, creds); err != nil {
		return err
	}
	fmt.Fprintf(a.m.Stdout, "account %d @%s: credentials rotated (verified as user %s)\n", acct.ID, acct.Handle, me.ID)
	return nil
}

func (a *accountsCmd) account(ctx context.Context, handle string) (*store.Account, error) {
	acct, err := a.st.AccountByHandle(ctx, a.st.Pool, handle)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &ExitError{Code: 2, Msg: fmt.Sprintf("accounts: no account @%s (xbot accounts list)", strings.TrimPrefix(handle, "@"))}
	}
	return acct, err
}

func (a *accountsCmd) setStatus(ctx context.Context, handle string, active bool) error {
	acct, err := a.account(ctx, handle)
	if err != nil {
		return err
	}
	status := store.AccountDisabled
	if active {
		status = store.AccountActive
	}
	if err := a.st.SetAccountStatus(ctx, a.st.Pool, acct.ID, status); err != nil {
		return err
	}
	fmt.Fprintf(a.m.Stdout, "account %d @%s: %s\n", acct.ID, acct.Handle, status)
	return nil
}

func (a *accountsCmd) set(ctx context.Context, handle string, pairs []string) error {
	acct, err := a.account(ctx, handle)
	if err != nil {
		return err
	}
	type setting struct{ name, value string }
	var settings []setting
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return &ExitError{Code: 2, Msg: fmt.Sprintf("accounts set: %q is not KEY=VALUE", p)}
		}
		name, err := config.ValidateAccountSetting(k, v)
		if err != nil {
			return &ExitError{Code: 2, Msg: err.Error()}
		}
		settings = append(settings, setting{name, strings.TrimSpace(v)})
	}
	err = a.st.InTx(ctx, func(tx pgx.Tx) error {
		for _, s := range settings {
			if err := a.st.SetAccountSetting(ctx, tx, acct.ID, s.name, s.value); err != nil {
				return err
			}
		}
		// The stored whole must still make a valid configuration (topics etc. never empty).
		got, err := a.st.GetAccount(ctx, tx, acct.ID)
		if err != nil {
			return err
		}
		if _, err := a.e.cfg.ForAccount(got.EffectiveSettings()); err != nil {
			return &ExitError{Code: 2, Msg: err.Error()}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range settings {
		fmt.Fprintf(a.m.Stdout, "account %d @%s: %s=%s\n", acct.ID, acct.Handle, s.name, s.value)
	}
	return nil
}

// checkSecretKey refuses to start a process that would work for accounts whose stored credentials it
// cannot open: no XBOT_SECRET_KEY, or another key than the one they were sealed with.
func checkSecretKey(ctx context.Context, e *env, st *store.Store) error {
	ids, err := st.StoredCredentialAccounts(ctx, st.Pool)
	if err != nil || len(ids) == 0 {
		return err
	}
	if e.cfg.SecretKey == "" {
		return &ExitError{Code: 2, Msg: fmt.Sprintf("config: XBOT_SECRET_KEY is not set, but %d accounts have stored credentials encrypted with it", len(ids))}
	}
	if _, err := (store.Vault{Key: e.cfg.SecretKeyBytes()}).Load(ctx, st.Pool, ids[0]); errors.Is(err, store.ErrUndecryptable) {
		return &ExitError{Code: 2, Msg: "config: XBOT_SECRET_KEY=[redacted]: does not open the stored credentials (not the key they were stored with)"}
	} else if err != nil {
		return err
	}
	return nil
}
