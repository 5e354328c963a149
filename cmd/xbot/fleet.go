package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/internal/xapi"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/store"
	"github.com/xbot/xbot/workers"
)

// fleet is one worker process: the River client and what it works with.
type fleet struct {
	river   *river.Client[pgx.Tx]
	account *store.Account
	backend string
}

// backend is where posts go: X itself only in live mode with LIVE_POSTS=true.
func backend(cfg *config.Config) string {
	if cfg.Mode == config.ModeLive && cfg.LivePosts {
		return "x"
	}
	return "simulator"
}

// startFleet builds the X client (X or the built-in simulator), the LLM, the gates and the workers, and
// starts River (retrying while the database is unreachable). It stops when ctx ends.
func startFleet(ctx context.Context, m *Main, e *env, pool *pgxpool.Pool) (*fleet, error) {
	cfg, st := e.cfg, store.New(pool)
	f := &fleet{backend: backend(cfg)}
	if err := checkSecretKey(ctx, e, st); err != nil {
		return nil, err
	}
	xc, err := newXClient(ctx, m, e, st)
	if err != nil {
		return nil, err
	}
	acct, err := resolveAccount(ctx, e, st, xc, f.backend)
	if err != nil {
		return nil, err
	}
	f.account = acct

	deps, err := newDeps(e, st, xc, f.backend)
	if err != nil {
		return nil, err
	}
	deps.Accounts = newAccountResolver(m, e, st, xc, f.backend)
	ws := river.NewWorkers()
	if err := workers.Register(ws, deps); err != nil {
		return nil, err
	}
	rcfg := riverConfig(e.log, ws, workers.PeriodicJobs(deps.Config, acct.ID, time.Now), cfg)
	if rcfg.Plugins, err = riverPlugins(ctx, m, e); err != nil {
		return nil, err
	}
	rc, err := startRiver(ctx, e.log, pool, rcfg)
	if err != nil {
		return nil, err
	}
	f.river = rc
	go promoteDuePosts(ctx, e.log, pool)
	e.log.Info("worker started", zap.String("mode", string(cfg.Mode)), zap.String("backend", f.backend),
		zap.Bool("posting_disabled", cfg.PostingDisabled), zap.Bool("llm", deps.Drafter != nil), zap.Int64("account_id", acct.ID))
	return f, nil
}

func gateConfig(cfg *config.Config) gate.Config {
	return gate.Config{
		MinQualityScore: cfg.MinQualityScore, UniquenessThreshold: cfg.UniquenessThreshold,
		RotationMaxShare: cfg.RotationMaxShare, RotationMinPosts: cfg.RotationMinPosts,
		WeightedLength: xapi.WeightedLength,
	}
}

// newDeps builds what the workers share: the gates over the store's history and, when a key is set, the
// budgeted LLM.
func newDeps(e *env, st *store.Store, xc workers.XAPI, backend string) (*workers.Deps, error) {
	cfg := e.cfg
	chain, err := gate.New(gateConfig(cfg), st.GateHistory(st.Pool))
	if err != nil {
		return nil, fmt.Errorf("gate chain: %w", err)
	}
	deps := &workers.Deps{Config: workerConfig(cfg, backend), Store: st, Log: e.log, X: xc, Gate: chain}
	if cfg.OpenAIAPIKey != "" {
		lc, err := newLLM(e, st)
		if err != nil {
			return nil, err
		}
		deps.Drafter, deps.LLMAvailable, deps.ReclaimLLM = workers.LLMDrafter{Client: lc}, lc.Available, lc.ReclaimExpired
	}
	return deps, nil
}

func workerConfig(cfg *config.Config, backend string) workers.Config {
	return workers.Config{
		Live: cfg.Mode == config.ModeLive, PostingDisabled: cfg.PostingDisabled, Backend: backend, RequireApproval: cfg.RequireApproval,
		RealMetricsEnabled: cfg.RealMetricsEnabled,
		PostsPerPlan:       cfg.PostsPerPlan, PlanInterval: cfg.PlanInterval, PlanWindow: cfg.PlanWindow,
		MaxPostsPerDay: cfg.MaxPostsPerDay, MinPostSpacing: cfg.MinPostSpacing, QueuedMaxAge: cfg.QueuedMaxAge,
		AccountTZ: cfg.AccountTZ, QuietHours: cfg.QuietHours, Topics: cfg.ContentTopics, Formats: cfg.ContentFormats, Hooks: cfg.ContentHooks,
		Voice: cfg.VoicePrompt, MaxTokensPerPost: cfg.OpenAIMaxTokens,
		ReplyInterval: cfg.ReplyInterval, RepliesPerHour: cfg.RepliesPerHour, RepliesPerDay: cfg.RepliesPerDay,
		ReplyQueries:   cfg.ReplyQueries,
		AnalyticsDelay: cfg.AnalyticsDelay, AnalyticsFollowups: cfg.AnalyticsFollowups,
		LearnMinOutcomes: cfg.LearnMinOutcomes, LearnPeriod: cfg.LearnPeriod, LearnHalfLife: cfg.LearnHalfLife,
		PostingSnooze: cfg.PostingSnooze, PostMaxAttempts: cfg.PostMaxAttempts, SweepInterval: cfg.SweepInterval,
		XCallTimeout: cfg.XCallTimeout, XReconcileGrace: cfg.XReconcileGrace, XCircuitCooldown: cfg.XCircuitCooldown,
	}
}

// newXClient returns the X client: X at X_API_BASE_URL for backend x, else the built-in simulator served
// in-process on a loopback port (its state is in Postgres, shared by every replica).
func newXClient(ctx context.Context, m *Main, e *env, st *store.Store) (*xapi.Client, error) {
	cfg := e.cfg
	if backend(cfg) == "x" {
		oauth2, err := oauth2Config(ctx, cfg, st)
		if err != nil {
			return nil, err
		}
		oauth1 := cfg.XAPIKey != "" && cfg.XAPISecret != "" && cfg.XAccessToken != "" && cfg.XAccessTokenSecret != ""
		if !cfg.PostingDisabled && !oauth1 && oauth2 == nil {
			return nil, &ExitError{Code: 2, Msg: "config: LIVE_POSTS=true with posting enabled needs user-context credentials: X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET (or X_OAUTH2_*)"}
		}
		xcfg := xapi.Config{
			BaseURL: cfg.XAPIBaseURL, CallTimeout: cfg.XCallTimeout, Bearer: cfg.XBearerToken, HTTPClient: m.xHTTPClient(),
			Creds: xapi.OAuth1Creds{ConsumerKey: cfg.XAPIKey, ConsumerSecret: cfg.XAPISecret, AccessToken: cfg.XAccessToken, AccessSecret: cfg.XAccessTokenSecret},
		}
		if oauth2 != nil {
			xcfg.OAuth2, xcfg.Tokens = oauth2, st.XTokens(cfg.SecretKeyBytes())
		}
		xc, err := xapi.New(xcfg)
		if err != nil {
			return nil, fmt.Errorf("x client: %w", err)
		}
		return xc, nil
	}
	sim, err := newSimulator(ctx, e, st, xsim.Config{Clock: e.simClock})
	if err != nil {
		return nil, err
	}
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	simCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sim.Serve(simCtx, ln); err != nil {
			e.log.Warn("built-in simulator stopped", zap.Error(err))
		}
	}()
	// The simulator outlives River's soft stop, so in-flight posts can finish against it.
	m.onClose(func() { cancel(); <-done })
	xc, err := xapi.New(xapi.Config{
		BaseURL: "http://" + ln.Addr().String(), CallTimeout: cfg.XCallTimeout, HTTPClient: m.xHTTPClient(),
		Creds: xapi.OAuth1Creds{ConsumerKey: xsim.DefaultConsumerKey, ConsumerSecret: xsim.DefaultConsumerSecret,
			AccessToken: xsim.DefaultAccessToken, AccessSecret: xsim.DefaultAccessTokenSecret},
	})
	if err != nil {
		return nil, fmt.Errorf("simulator client: %w", err)
	}
	return xc, nil
}

// oauth2Config is the OAuth 2.0 user context from X_OAUTH2_*, or nil when none is set. Its refresh tokens
// are single-use and rotate, so they are stored in Postgres, encrypted with XBOT_SECRET_KEY: without the key
// a refresh token is refused at start rather than stored in clear text.
func oauth2Config(ctx context.Context, cfg *config.Config, st *store.Store) (*xapi.OAuth2Config, error) {
	if cfg.XOAuth2ClientID == "" && cfg.XOAuth2AccessToken == "" && cfg.XOAuth2RefreshToken == "" {
		return nil, nil
	}
	switch {
	case cfg.XOAuth2ClientID == "":
		return nil, &ExitError{Code: 2, Msg: "config: X_OAUTH2_ACCESS_TOKEN and X_OAUTH2_REFRESH_TOKEN need X_OAUTH2_CLIENT_ID"}
	case cfg.XOAuth2AccessToken == "" && cfg.XOAuth2RefreshToken == "":
		return nil, &ExitError{Code: 2, Msg: "config: X_OAUTH2_CLIENT_ID needs X_OAUTH2_ACCESS_TOKEN or X_OAUTH2_REFRESH_TOKEN"}
	case cfg.XOAuth2RefreshToken != "" && cfg.SecretKey == "":
		return nil, &ExitError{Code: 2, Msg: "config: X_OAUTH2_REFRESH_TOKEN needs XBOT_SECRET_KEY: rotated refresh tokens are stored only encrypted"}
	}
	acct, err := st.UpsertDefaultAccount(ctx, st.Pool, "", "")
	if err != nil {
		return nil, err
	}
	return &xapi.OAuth2Config{ClientID: cfg.XOAuth2ClientID, AccountID: acct.ID,
		AccessToken: cfg.XOAuth2AccessToken, RefreshToken: cfg.XOAuth2RefreshToken}, nil
}

// newSimulator builds a simulator over the database whose audience model finds a post's arms by its text.
func newSimulator(ctx context.Context, e *env, st *store.Store, cfg xsim.Config) (*xsim.Server, error) {
	features := xsim.FeatureFunc(func(ctx context.Context, text string) (xsim.Features, bool, error) {
		topic, format, hook, hour, ok, err := st.DecisionFeatures(ctx, st.Pool, text)
		return xsim.Features{Topic: topic, Format: format, Hook: hook, Hour: hour}, ok, err
	})
	cfg.Features, cfg.Logger = features, e.log.Named("xsim")
	sim, err := xsim.NewServer(ctx, cfg, store.NewXSim(st.Pool))
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	return sim, nil
}

// resolveAccount makes sure the default account knows who it is on the backend in use. On the simulator
// the simulator's id is stored apart (sim_user_id). Posting to X, the credentials' user (GET /2/users/me)
// is checked at every start against the stored X id: a stale id (a shadow run's, other credentials') is
// replaced, unless posts were already made on X as that other user, which stops the start with one line.
func resolveAccount(ctx context.Context, e *env, st *store.Store, xc *xapi.Client, backend string) (*store.Account, error) {
	if backend != "x" {
		acct, err := st.UpsertDefaultAccount(ctx, st.Pool, e.cfg.XUserID, e.cfg.XHandle)
		if err != nil {
			return nil, err
		}
		if acct.SimUserID != "" {
			return acct, nil
		}
		me, err := whoAmI(ctx, e, xc)
		if err != nil {
			return nil, err
		}
		if err := st.SetAccountSimUser(ctx, st.Pool, acct.ID, me.ID); err != nil {
			return nil, err
		}
		acct.SimUserID = me.ID
		e.log.Info("account resolved on the simulator", zap.String("sim_user_id", me.ID), zap.String("handle", me.Username))
		return acct, nil
	}
	me, err := whoAmI(ctx, e, xc)
	if err != nil {
		return nil, err
	}
	if e.cfg.XUserID != "" && e.cfg.XUserID != me.ID {
		return nil, &ExitError{Code: 2, Msg: fmt.Sprintf("config: X_USER_ID=%s: the X credentials are user %s (@%s)", e.cfg.XUserID, me.ID, me.Username)}
	}
	acct, err := st.UpsertDefaultAccount(ctx, st.Pool, "", e.cfg.XHandle)
	if err != nil {
		return nil, err
	}
	if acct.XUserID == me.ID {
		return acct, nil
	}
	if acct.XUserID != "" {
		n, err := st.PostsOnX(ctx, st.Pool, acct.ID)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, &ExitError{Code: 2, Msg: fmt.Sprintf("account: %d posts were made on X as user %s, but the X credentials are user %s (@%s); use that account's credentials or a fresh database",
				n, acct.XUserID, me.ID, me.Username)}
		}
		e.log.Warn("account: stored X user id replaced by the credentials' user", zap.String("stored", acct.XUserID), zap.String("x_user_id", me.ID))
	}
	if err := st.SetAccountXUser(ctx, st.Pool, acct.ID, me.ID, me.Username); err != nil {
		return nil, err
	}
	acct.XUserID, acct.Handle = me.ID, me.Username
	e.log.Info("account resolved", zap.String("x_user_id", me.ID), zap.String("handle", me.Username))
	return acct, nil
}

// whoAmI asks the backend who the credentials are; credentials it refuses are a configuration error.
func whoAmI(ctx context.Context, e *env, xc *xapi.Client) (*xapi.User, error) {
	callCtx, cancel := context.WithTimeout(ctx, e.cfg.XCallTimeout)
	defer cancel()
	me, err := xc.Me(callCtx)
	if errors.Is(err, xapi.ErrUnauthorized) || errors.Is(err, xapi.ErrForbidden) {
		return nil, &ExitError{Code: 2, Msg: fmt.Sprintf("config: X credentials refused by GET /2/users/me: %v", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("resolve the account with GET /2/users/me: %w", err)
	}
	return me, nil
}
