package xsim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Simulator credentials used when Config leaves them empty; xbot passes its X_* settings instead.
const (
	DefaultConsumerKey       = "xsim-consumer-key"
	DefaultConsumerSecret    = "xsim-consumer-secret"
	DefaultAccessToken       = "xsim-access-token"
	DefaultAccessTokenSecret = "xsim-access-token-secret"
	DefaultUserID            = int64(1590000000000000001)
	DefaultUsername          = "xbot_sim"
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	// OAuth 1.0a user context of our account; requests must be signed with these.
	ConsumerKey, ConsumerSecret, AccessToken, AccessTokenSecret string
	// BearerToken, when set, is accepted for reads (app-only).
	BearerToken string

	UserID    int64  // our account's id (DefaultUserID)
	Username  string // our account's handle (DefaultUsername)
	Name      string // display name ("xbot (simulated)")
	Followers int    // our followers: the audience model's base reach (5000)

	// Accounts are more users of the same app (ConsumerKey) the simulator serves, each with its own access
	// token: a request signed with one acts as that user (its posts, timeline, limits), as on X, where
	// rate limits are per user token. NumberedAccount gives deterministic ones.
	Accounts []Account

	Seed        int64   // seed of a new world; an existing one keeps its stored seed (1)
	DefaultRate float64 // engagement rate when no hidden rate matches, for a new world (0.02)

	Clock    Clock         // base time (WallClock); AdvanceClock adds to it
	Features FeatureSource // nil: every post gets the default rate

	PostsPer15Min   int           // per-user 15-minute posting limit (100)
	PostsPerDay     int           // per-user 24-hour posting limit (2400)
	AppPostsPerDay  int           // whole-app 24-hour posting limit (10000)
	ReadsPer15Min   int           // per-endpoint read limit (900)
	DeletesPer15Min int           // delete limit (50)
	DuplicateWindow time.Duration // identical text refused within (24h)
	// NoDuplicateCheck turns X's duplicate-text refusal off, so a test sees every double post as a second
	// post instead of a 403 that hides it.
	NoDuplicateCheck bool
	HangFor          time.Duration // how long a timeout fault holds a request at most (30s)
	ControlEndpoints *bool         // serve /_sim/ (true)

	Logger *zap.Logger // zap.NewNop()
}

// Server is the simulated X API. It is an http.Handler and safe for concurrent use; any number of
// Servers on one database act as one X.
type Server struct {
	cfg     Config
	byToken map[string]Account // every user the simulator signs in, by access token
	store   Store
	mux     *http.ServeMux
	log     *zap.Logger
}

// NewServer validates cfg, creates the world's state row and users when missing, and returns the
// handler.
func NewServer(ctx context.Context, cfg Config, st Store) (*Server, error) {
	if st == nil {
		return nil, errors.New("xsim: a Store is required")
	}
	yes := true
	cfg.ConsumerKey = cmp.Or(cfg.ConsumerKey, DefaultConsumerKey)
	cfg.ConsumerSecret = cmp.Or(cfg.ConsumerSecret, DefaultConsumerSecret)
	cfg.AccessToken = cmp.Or(cfg.AccessToken, DefaultAccessToken)
	cfg.AccessTokenSecret = cmp.Or(cfg.AccessTokenSecret, DefaultAccessTokenSecret)
	cfg.UserID = cmp.Or(cfg.UserID, DefaultUserID)
	cfg.Username = cmp.Or(cfg.Username, DefaultUsername)
	cfg.Name = cmp.Or(cfg.Name, "xbot (simulated)")
	cfg.Followers = cmp.Or(cfg.Followers, 5000)
	cfg.Seed = cmp.Or(cfg.Seed, 1)
	cfg.DefaultRate = cmp.Or(cfg.DefaultRate, 0.02)
	cfg.Clock = cmp.Or[Clock](cfg.Clock, WallClock{})
	cfg.PostsPer15Min = cmp.Or(cfg.PostsPer15Min, 100)
	cfg.PostsPerDay = cmp.Or(cfg.PostsPerDay, 2400)
	cfg.AppPostsPerDay = cmp.Or(cfg.AppPostsPerDay, 10000)
	cfg.ReadsPer15Min = cmp.Or(cfg.ReadsPer15Min, 900)
	cfg.DeletesPer15Min = cmp.Or(cfg.DeletesPer15Min, 50)
	cfg.DuplicateWindow = cmp.Or(cfg.DuplicateWindow, 24*time.Hour)
	cfg.HangFor = cmp.Or(cfg.HangFor, 30*time.Second)
	cfg.ControlEndpoints = cmp.Or(cfg.ControlEndpoints, &yes)
	cfg.Logger = cmp.Or(cfg.Logger, zap.NewNop())
	switch {
	case cfg.UserID <= 0:
		return nil, fmt.Errorf("xsim: user id %d must be positive", cfg.UserID)
	case !handleRE.MatchString(cfg.Username):
		return nil, fmt.Errorf("xsim: username %q is not an X handle", cfg.Username)
	case cfg.Followers < 0:
		return nil, fmt.Errorf("xsim: followers %d must not be negative", cfg.Followers)
	case cfg.DefaultRate < 0 || cfg.DefaultRate > 1:
		return nil, fmt.Errorf("xsim: default rate %g must be within 0..1", cfg.DefaultRate)
	case cfg.PostsPer15Min < 0 || cfg.PostsPerDay < 0 || cfg.AppPostsPerDay < 0 || cfg.ReadsPer15Min < 0 || cfg.DeletesPer15Min < 0:
		return nil, errors.New("xsim: limits must not be negative")
	case cfg.DuplicateWindow < 0 || cfg.HangFor < 0:
		return nil, errors.New("xsim: durations must not be negative")
	}
	main := Account{UserID: cfg.UserID, Username: cfg.Username, AccessToken: cfg.AccessToken, AccessTokenSecret: cfg.AccessTokenSecret}
	byToken := map[string]Account{main.AccessToken: main}
	ids, names := map[int64]bool{main.UserID: true}, map[string]bool{strings.ToLower(main.Username): true}
	for _, a := range cfg.Accounts {
		switch {
		case a.UserID <= 0:
			return nil, fmt.Errorf("xsim: account user id %d must be positive", a.UserID)
		case !handleRE.MatchString(a.Username):
			return nil, fmt.Errorf("xsim: account username %q is not an X handle", a.Username)
		case a.AccessToken == "" || a.AccessTokenSecret == "":
			return nil, fmt.Errorf("xsim: account @%s needs an access token and secret", a.Username)
		case ids[a.UserID] || names[strings.ToLower(a.Username)] || byToken[a.AccessToken].UserID != 0:
			return nil, fmt.Errorf("xsim: account @%s repeats another user's id, handle or token", a.Username)
		}
		byToken[a.AccessToken], ids[a.UserID], names[strings.ToLower(a.Username)] = a, true, true
	}
	s := &Server{cfg: cfg, store: st, log: cfg.Logger, byToken: byToken}
	if _, err := st.EnsureState(ctx, State{Seed: cfg.Seed, DefaultRate: cfg.DefaultRate}); err != nil {
		return nil, fmt.Errorf("xsim: ensure state: %w", err)
	}
	now, err := s.Now(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.UpsertUser(ctx, User{ID: cfg.UserID, Username: cfg.Username, Name: cfg.Name,
		Description: "Simulated account for xbot.", FollowersCount: cfg.Followers, FollowingCount: 120,
		ListedCount: 3, CreatedAt: now.AddDate(-2, 0, 0).UTC().Truncate(time.Second)}); err != nil {
		return nil, fmt.Errorf("xsim: create our user: %w", err)
	}
	for _, a := range cfg.Accounts {
		if err := st.UpsertUser(ctx, User{ID: a.UserID, Username: a.Username, Name: a.Username + " (simulated)",
			Description: "Simulated account for xbot.", FollowersCount: cfg.Followers, FollowingCount: 120,
			ListedCount: 3, CreatedAt: now.AddDate(-2, 0, 0).UTC().Truncate(time.Second)}); err != nil {
			return nil, fmt.Errorf("xsim: create user @%s: %w", a.Username, err)
		}
	}
	for _, u := range seededUsers(now) {
		if err := st.UpsertUser(ctx, u); err != nil {
			return nil, fmt.Errorf("xsim: create seeded user %s: %w", u.Username, err)
		}
	}
	s.routes()
	return s, nil
}

// Account is one X user of the app: its id and handle, and the access token its requests are signed with.
type Account struct {
	UserID                         int64
	Username                       string
	AccessToken, AccessTokenSecret string
}

// NumberedAccount is the n-th (n >= 1) extra account `xbot sim --accounts` serves: deterministic id, handle
// (xbot_sim_<n>) and token, so a fleet's accounts can be added with credentials known in advance.
func NumberedAccount(n int) Account {
	return Account{UserID: DefaultUserID + int64(n), Username: fmt.Sprintf("%s_%d", DefaultUsername, n),
		AccessToken: fmt.Sprintf("%s-%d", DefaultAccessToken, n), AccessTokenSecret: fmt.Sprintf("%s-%d", DefaultAccessTokenSecret, n)}
}

// UserID is our account's id.
func (s *Server) UserID() int64 { return s.cfg.UserID }

// Username is our account's handle.
func (s *Server) Username() string { return s.cfg.Username }

// Now is the simulated time: the Clock plus the stored offset.
func (s *Server) Now(ctx context.Context) (time.Time, error) {
	st, err := s.store.State(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("xsim: read state: %w", err)
	}
	return s.cfg.Clock.Now().Add(st.ClockOffset), nil
}

// AdvanceClock moves simulated time forward for every instance on the database.
func (s *Server) AdvanceClock(ctx context.Context, by time.Duration) error {
	if by < 0 {
		return fmt.Errorf("xsim: cannot move the clock back by %s", by)
	}
	if _, err := s.store.AdvanceClock(ctx, by); err != nil {
		return fmt.Errorf("xsim: advance clock: %w", err)
	}
	return nil
}

// AddFault scripts a fault; it applies to every instance on the database.
func (s *Server) AddFault(ctx context.Context, f Fault) (Fault, error) {
	if err := f.validate(); err != nil {
		return Fault{}, fmt.Errorf("xsim: %w", err)
	}
	out, err := s.store.AddFault(ctx, f)
	if err != nil {
		return Fault{}, fmt.Errorf("xsim: add fault: %w", err)
	}
	return out, nil
}

// ClearFaults removes every scripted fault.
func (s *Server) ClearFaults(ctx context.Context) error {
	if err := s.store.ClearFaults(ctx); err != nil {
		return fmt.Errorf("xsim: clear faults: %w", err)
	}
	return nil
}

// SetRate sets one hidden engagement rate; posts created afterwards use it.
func (s *Server) SetRate(ctx context.Context, r Rate) error {
	r.Topic, r.Format, r.Hook = cmp.Or(r.Topic, "*"), cmp.Or(r.Format, "*"), cmp.Or(r.Hook, "*")
	if r.Rate < 0 || r.Rate > 1 || r.Hour < -1 || r.Hour > 23 {
		return fmt.Errorf("xsim: rate %g must be within 0..1 and hour %d within -1..23", r.Rate, r.Hour)
	}
	if err := s.store.PutRate(ctx, r); err != nil {
		return fmt.Errorf("xsim: set rate: %w", err)
	}
	return nil
}

// SetDefaultRate sets the rate used when no hidden rate matches.
func (s *Server) SetDefaultRate(ctx context.Context, rate float64) error {
	if rate < 0 || rate > 1 {
		return fmt.Errorf("xsim: default rate %g must be within 0..1", rate)
	}
	if err := s.store.SetDefaultRate(ctx, rate); err != nil {
		return fmt.Errorf("xsim: set default rate: %w", err)
	}
	return nil
}

// Metrics returns a post's metrics now (the audience model's truth, for tests and the lead's checks).
func (s *Server) Metrics(ctx context.Context, id int64) (Metrics, error) {
	p, err := s.store.Post(ctx, id)
	if err != nil {
		return Metrics{}, fmt.Errorf("xsim: post %d: %w", id, err)
	}
	now, err := s.Now(ctx)
	if err != nil {
		return Metrics{}, err
	}
	return metricsAt(p, now), nil
}

// ServeHTTP serves X API v2 and, unless disabled, the /_sim/ control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// ListenAndServe serves the simulator on addr until ctx is done, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("xsim: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("[XSIM] listening", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("xsim: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("xsim: shutdown: %w", err)
	}
	return nil
}
