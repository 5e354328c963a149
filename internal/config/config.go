package config

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Mode is the operating mode of the fleet.
type Mode string

const (
	ModeLive   Mode = "live"
	ModeShadow Mode = "shadow"
)

// DATABASE_POOLER values.
const (
	PoolerNone      = "none"
	PoolerPgBouncer = "pgbouncer"
)

// DefaultDatabaseURL is used when DATABASE_URL is not set.
const DefaultDatabaseURL = "postgres://postgres@localhost:5432/xbot?sslmode=disable"

// DefaultPlanWindow is PLAN_WINDOW when it is not set, unless PLAN_INTERVAL is longer.
const DefaultPlanWindow = 24 * time.Hour

// Price is a model's price in USD per one million tokens.
type Price struct {
	InputPerM  float64
	OutputPerM float64
}

// knownPrices are the list prices of DESIGN.md section 6; OPENAI_PRICE_* overrides them.
var knownPrices = map[string]Price{
	"gpt-4o-mini": {InputPerM: 0.15, OutputPerM: 0.60},
	"gpt-4o":      {InputPerM: 2.50, OutputPerM: 10.00},
}

// Config is every setting of DESIGN.md section 2, parsed once.
type Config struct {
	DatabaseURL string
	Mode        Mode

	PostingDisabled    bool
	LivePosts          bool
	RealMetricsEnabled bool

	AIQuotaCircuitOpen   bool
	OpenAIAPIKey         string
	OpenAIBaseURL        string
	OpenAIModel          string
	OpenAITemperature    float64
	OpenAITopP           float64
	OpenAIMaxTokens      int
	OpenAIResponseFormat string // json_schema | json_object
	DailyOpenAILimitUSD  float64
	BudgetTZ             *time.Location
	OpenAIPurposeLimits  map[string]float64
	LLMCircuitCooldown   time.Duration
	OpenAIPrice          Price

	XAPIBaseURL         string
	XAPIKey             string
	XAPISecret          string
	XAccessToken        string
	XAccessTokenSecret  string
	XBearerToken        string
	XOAuth2ClientID     string
	XOAuth2AccessToken  string
	XOAuth2RefreshToken string
	// SecretKey is XBOT_SECRET_KEY: the AES-256-GCM key (base64 of 32 bytes) stored OAuth 2.0 tokens are
	// encrypted with.
	SecretKey        string
	XCallTimeout     time.Duration
	XReconcileGrace  time.Duration
	XCircuitCooldown time.Duration
	XUserID          string
	XHandle          string

	AccountTZ *time.Location
	// QuietHours (QUIET_HOURS, e.g. 22-7, in ACCOUNT_TZ): nothing is scheduled or sent inside them.
	QuietHours QuietHours

	PlanInterval time.Duration
	PostsPerPlan int
	PlanWindow   time.Duration

	ContentTopics  []string
	ContentFormats []string
	ContentHooks   []string
	VoicePrompt    string
	ContentConfig  string

	MaxPostsPerDay int
	MinPostSpacing time.Duration
	QueuedMaxAge   time.Duration

	ReplyInterval  time.Duration
	RepliesPerHour int
	RepliesPerDay  int
	ReplyQueries   []string

	MinQualityScore     float64
	UniquenessThreshold float64
	RotationMaxShare    float64
	RotationMinPosts    int

	AnalyticsDelay     time.Duration
	AnalyticsFollowups []time.Duration

	LearnMinOutcomes int
	LearnPeriod      time.Duration
	LearnHalfLife    time.Duration // an outcome's weight in learning halves every LearnHalfLife of age

	PostingSnooze   time.Duration
	PostMaxAttempts int
	SweepInterval   time.Duration

	// DevSpeed is xbot dev's accelerated clock: simulated seconds per wall second (DEV_SPEED).
	DevSpeed float64

	// WorkerConcurrency and PostConcurrency are the River workers of the default and post queues per replica.
	WorkerConcurrency int
	PostConcurrency   int
	// DatabaseMaxConns caps the replica's pool (default WORKER_CONCURRENCY + POST_CONCURRENCY + 5, at most
	// 20; 0: pgx's default, the larger of 4 and the CPU count).
	DatabaseMaxConns int
	// DatabasePooler is "none" or "pgbouncer" (transaction pooling: River polls, no LISTEN, no named statements).
	DatabasePooler string

	Port      int
	LogFormat string // json | console
	LogLevel  string // debug | info | warn | error

	// Web server and operations (README "Operating xbot").
	RiverUIUser     string
	RiverUIPassword string // empty: River UI and state-changing endpoints are off
	MetricsToken    string // empty: /metrics and /api/metrics are open
	RequireApproval bool
	OTLPEndpoint    string // OTEL_EXPORTER_OTLP_ENDPOINT; empty: no OTLP export

	// AccountBudgetUSD is one account's share of the day's LLM budget (its budget_usd setting, BUDGET_USD),
	// binding only when HasAccountBudget; the day's DAILY_OPENAI_LIMIT_USD still binds the whole fleet.
	// Never set from the environment.
	AccountBudgetUSD float64
	HasAccountBudget bool
}

// Error is a configuration error: one bad variable and what is allowed.
type Error struct {
	Name    string
	Value   string
	Allowed string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s=%s: %s", e.Name, e.Value, e.Allowed)
}

// Defaults are the context-dependent defaults; xbot dev flips some of them.
type Defaults struct {
	PostingDisabled bool
	LogFormat       string
}

// secretNames are never echoed back, not even in an error.
var secretNames = map[string]bool{
	"OPENAI_API_KEY": true, "X_API_KEY": true, "X_API_SECRET": true, "X_ACCESS_TOKEN": true,
	"X_ACCESS_TOKEN_SECRET": true, "X_BEARER_TOKEN": true, "X_OAUTH2_CLIENT_ID": true,
	"X_OAUTH2_ACCESS_TOKEN": true, "X_OAUTH2_REFRESH_TOKEN": true, "RIVERUI_PASSWORD": true, "METRICS_TOKEN": true,
	"XBOT_SECRET_KEY": true,
}

// IsSecret reports whether the variable's value must never be shown.
func IsSecret(name string) bool { return secretNames[name] }

// Secrets returns the configured secret values (non-empty), for redaction checks.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.OpenAIAPIKey, c.XAPIKey, c.XAPISecret, c.XAccessToken, c.XAccessTokenSecret,
		c.XBearerToken, c.XOAuth2AccessToken, c.XOAuth2RefreshToken, c.RiverUIPassword, c.MetricsToken, databasePassword(c.DatabaseURL),
		c.SecretKey} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// FromEnv parses the process environment.
func FromEnv(d Defaults) (*Config, error) { return Parse(os.LookupEnv, d) }

// Parse reads every variable through lookup. The first bad value is returned as *Error.
func Parse(lookup func(string) (string, bool), d Defaults) (*Config, error) {
	p := &parser{lookup: lookup}
	c := &Config{}
	c.DatabaseURL = p.str("DATABASE_URL", DefaultDatabaseURL)
	p.check("DATABASE_URL", c.DatabaseURL, func(v string) bool {
		u, err := url.Parse(v)
		return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
	}, "a postgres:// URL")
	c.Mode = Mode(p.enum("MODE", "shadow", "live", "shadow"))
	c.PostingDisabled = p.boolean("POSTING_DISABLED", d.PostingDisabled)
	c.LivePosts = p.boolean("LIVE_POSTS", false)
	c.RealMetricsEnabled = p.boolean("REAL_METRICS_ENABLED", false)
	if c.LivePosts && c.Mode != ModeLive {
		p.fail("LIVE_POSTS", "true", "only allowed with MODE=live")
	}

	c.AIQuotaCircuitOpen = p.boolean("AI_QUOTA_CIRCUIT_OPEN", false)
	c.OpenAIAPIKey = p.str("OPENAI_API_KEY", "")
	c.OpenAIBaseURL = p.str("OPENAI_BASE_URL", "")
	if c.OpenAIBaseURL != "" {
		p.check("OPENAI_BASE_URL", c.OpenAIBaseURL, isHTTPURL, "an http(s) URL")
	}
	c.OpenAIModel = p.str("OPENAI_MODEL", "gpt-4o-mini")
	c.OpenAITemperature = p.float("OPENAI_TEMPERATURE", 0.8, 0, 2)
	c.OpenAITopP = p.float("OPENAI_TOP_P", 1.0, 0, 1)
	c.OpenAIMaxTokens = p.integer("OPENAI_MAX_TOKENS", 300, 1, 100000)
	c.OpenAIResponseFormat = p.enum("OPENAI_RESPONSE_FORMAT", "json_schema", "json_schema", "json_object")
	c.DailyOpenAILimitUSD = p.float("DAILY_OPENAI_LIMIT_USD", 5, 0, 1e6)
	c.BudgetTZ = p.location("BUDGET_TZ", "Etc/UTC")
	c.OpenAIPurposeLimits = p.purposeLimits("OPENAI_PURPOSE_LIMITS")
	c.LLMCircuitCooldown = p.duration("LLM_CIRCUIT_COOLDOWN", time.Hour, time.Second)
	c.OpenAIPrice = p.price(c.OpenAIModel)

	c.XAPIBaseURL = p.str("X_API_BASE_URL", "https://api.x.com")
	p.check("X_API_BASE_URL", c.XAPIBaseURL, isHTTPURL, "an http(s) URL")
	c.XAPIKey = p.str("X_API_KEY", "")
	c.XAPISecret = p.str("X_API_SECRET", "")
	c.XAccessToken = p.str("X_ACCESS_TOKEN", "")
	c.XAccessTokenSecret = p.str("X_ACCESS_TOKEN_SECRET", "")
	c.XBearerToken = p.str("X_BEARER_TOKEN", "")
	c.XOAuth2ClientID = p.str("X_OAUTH2_CLIENT_ID", "")
	c.XOAuth2AccessToken = p.str("X_OAUTH2_ACCESS_TOKEN", "")
	c.XOAuth2RefreshToken = p.str("X_OAUTH2_REFRESH_TOKEN", "")
	c.SecretKey = p.str("XBOT_SECRET_KEY", "")
	if c.SecretKey != "" {
		p.check("XBOT_SECRET_KEY", c.SecretKey, func(v string) bool { return len(secretKeyBytes(v)) == 32 },
			"32 random bytes, base64 (openssl rand -base64 32)")
	}
	c.XCallTimeout = p.duration("X_CALL_TIMEOUT", 20*time.Second, time.Millisecond)
	c.XReconcileGrace = p.duration("X_RECONCILE_GRACE", 30*time.Second, 0)
	c.XCircuitCooldown = p.duration("X_CIRCUIT_COOLDOWN", 15*time.Minute, time.Second)
	c.XUserID = p.str("X_USER_ID", "")
	if c.XUserID != "" {
		p.check("X_USER_ID", c.XUserID, isDigits, "a numeric X user id")
	}
	c.XHandle = strings.TrimPrefix(p.str("X_HANDLE", ""), "@")
	if c.XHandle != "" {
		p.check("X_HANDLE", c.XHandle, regexp.MustCompile(`^[A-Za-z0-9_]{1,15}$`).MatchString, "an X handle (1-15 letters, digits or _)")
	}

	c.AccountTZ = p.location("ACCOUNT_TZ", "Etc/UTC")
	c.QuietHours = p.quietHours("QUIET_HOURS", QuietHours{})

	c.PlanInterval = p.duration("PLAN_INTERVAL", time.Hour, time.Second)
	c.PostsPerPlan = p.integer("POSTS_PER_PLAN", 3, 1, 20)
	// A day by default, so every hour of the day is a choice the learner can make (README "Learning": with a
	// window of one PLAN_INTERVAL the day's cap fills in its first hours); longer intervals keep their own.
	c.PlanWindow = p.duration("PLAN_WINDOW", max(DefaultPlanWindow, c.PlanInterval), 0)

	c.ContentTopics = p.list("CONTENT_TOPICS", nil)
	c.ContentFormats = p.list("CONTENT_FORMATS", nil)
	c.ContentHooks = p.list("CONTENT_HOOKS", nil)
	c.VoicePrompt = p.str("VOICE_PROMPT", "")
	c.ContentConfig = p.str("CONTENT_CONFIG", "")
	if c.ContentConfig != "" {
		if err := c.loadContentConfig(); err != nil {
			p.fail("CONTENT_CONFIG", c.ContentConfig, err.Error())
		}
	}
	c.ContentTopics = cmpSlice(c.ContentTopics, DefaultTopics)
	c.ContentFormats = cmpSlice(c.ContentFormats, DefaultFormats)
	c.ContentHooks = cmpSlice(c.ContentHooks, DefaultHooks)
	c.VoicePrompt = cmp.Or(c.VoicePrompt, DefaultVoice)

	c.MaxPostsPerDay = p.integer("MAX_POSTS_PER_DAY", 12, 1, 1000)
	c.MinPostSpacing = p.duration("MIN_POST_SPACING", 20*time.Minute, 0)
	c.QueuedMaxAge = p.duration("QUEUED_MAX_AGE", 24*time.Hour, time.Minute)

	c.ReplyInterval = p.duration("REPLY_INTERVAL", 30*time.Minute, time.Second)
	c.RepliesPerHour = p.integer("REPLIES_PER_HOUR", 4, 0, 1000)
	c.RepliesPerDay = p.integer("REPLIES_PER_DAY", 50, 0, 10000)
	c.ReplyQueries = p.list("REPLY_QUERIES", nil)

	c.MinQualityScore = p.float("MIN_QUALITY_SCORE", 0.6, 0, 1)
	c.UniquenessThreshold = p.float("UNIQUENESS_THRESHOLD", 0.8, 0, 1)
	c.RotationMaxShare = p.float("ROTATION_MAX_SHARE", 0.35, 0, 1)
	c.RotationMinPosts = p.integer("ROTATION_MIN_POSTS", 10, 0, 100000)

	c.AnalyticsDelay = p.duration("ANALYTICS_DELAY", 4*time.Hour, 0)
	c.AnalyticsFollowups = p.durations("ANALYTICS_FOLLOWUPS", []time.Duration{24 * time.Hour, 72 * time.Hour})

	c.LearnMinOutcomes = p.integer("LEARN_MIN_OUTCOMES", 5, 1, 1000000)
	c.LearnPeriod = p.duration("LEARN_PERIOD", time.Minute, time.Second)
	c.LearnHalfLife = p.halfLife("LEARN_HALF_LIFE", 14*24*time.Hour, time.Minute)
	if v, ok := p.raw("LEARN_DISCOUNT"); ok {
		// Forgetting per run was replaced by forgetting by age: refuse rather than silently ignore it.
		p.fail("LEARN_DISCOUNT", v, "no longer used; set LEARN_HALF_LIFE (e.g. 14d) instead")
	}

	c.PostingSnooze = p.duration("POSTING_SNOOZE", 5*time.Minute, time.Second)
	c.PostMaxAttempts = p.integer("POST_MAX_ATTEMPTS", 4, 1, 25)
	c.SweepInterval = p.duration("SWEEP_INTERVAL", time.Minute, time.Second)

	// 360: one simulated hour every 10 s, so a newcomer sees posts, analytics and learning within two minutes.
	c.DevSpeed = p.float("DEV_SPEED", 360, 1, 100000)

	c.WorkerConcurrency = p.integer("WORKER_CONCURRENCY", 10, 1, 10000)
	c.PostConcurrency = p.integer("POST_CONCURRENCY", 5, 1, 10000)
	// One connection per worker slot plus five for River's leader election, notifier and maintenance and
	// the process's own reads, at most 20 unless set (the web server has a small pool of its own): a few
	// replicas with high concurrency must not take a stock server's 100 connections by default.
	c.DatabaseMaxConns = p.integer("DATABASE_MAX_CONNS", min(c.WorkerConcurrency+c.PostConcurrency+5, 20), 0, 10000)
	c.DatabasePooler = p.enum("DATABASE_POOLER", PoolerNone, PoolerNone, PoolerPgBouncer)

	c.Port = p.integer("PORT", 8080, 0, 65535)
	c.LogFormat = p.enum("LOG_FORMAT", cmp.Or(d.LogFormat, "json"), "json", "console")
	c.LogLevel = p.enum("LOG_LEVEL", "info", "debug", "info", "warn", "error")

	c.RiverUIUser = p.str("RIVERUI_USER", "admin")
	c.RiverUIPassword = p.str("RIVERUI_PASSWORD", "")
	c.MetricsToken = p.str("METRICS_TOKEN", "")
	c.RequireApproval = p.boolean("REQUIRE_APPROVAL", false)
	c.OTLPEndpoint = p.str("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	if c.OTLPEndpoint != "" {
		p.check("OTEL_EXPORTER_OTLP_ENDPOINT", c.OTLPEndpoint, isHTTPURL, "an http(s) URL such as http://otel-collector:4318")
	}

	if p.err != nil {
		return nil, p.err
	}
	return c, nil
}

func cmpSlice(v, def []string) []string {
	if len(v) > 0 {
		return v
	}
	return append([]string(nil), def...)
}

func isHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isDigits(v string) bool {
	_, err := strconv.ParseUint(v, 10, 64)
	return err == nil
}

// parser keeps the first error; later reads still return defaults so Parse reads linearly.
type parser struct {
	lookup func(string) (string, bool)
	err    error
}

func (p *parser) fail(name, value, allowed string) {
	if p.err != nil {
		return
	}
	if IsSecret(name) {
		value = "[redacted]"
	}
	if name == "DATABASE_URL" {
		value = RedactDatabaseURL(value)
	}
	p.err = &Error{Name: name, Value: value, Allowed: allowed}
}

// multiLine are the variables whose value may span lines (a prompt); every other value is one line.
var multiLine = map[string]bool{"VOICE_PROMPT": true}

// raw is the variable's trimmed value. Control characters are refused everywhere (a newline only in a
// prompt), and a secret is one token: whitespace inside one is a paste error that would otherwise
// surface later as a confusing 401.
func (p *parser) raw(name string) (string, bool) {
	v, ok := p.lookup(name)
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	v = strings.TrimSpace(v)
	if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) && !(multiLine[name] && (r == '\n' || r == '\t')) }) {
		p.fail(name, v, "printable text without control characters")
		return "", false
	}
	if IsSecret(name) && strings.ContainsFunc(v, unicode.IsSpace) {
		p.fail(name, v, "one token without spaces")
		return "", false
	}
	return v, true
}

func (p *parser) str(name, def string) string {
	if v, ok := p.raw(name); ok {
		return v
	}
	return def
}

func (p *parser) check(name, v string, ok func(string) bool, allowed string) {
	if !ok(v) {
		p.fail(name, v, allowed)
	}
}

func (p *parser) enum(name, def string, allowed ...string) string {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, v, "one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(name, v, "true or false")
	return def
}

func (p *parser) integer(name string, def, lo, hi int) int {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (p *parser) float(name string, def, lo, hi float64) float64 {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f || f < lo || f > hi {
		p.fail(name, v, fmt.Sprintf("a number from %g to %g", lo, hi))
		return def
	}
	return f
}

func (p *parser) duration(name string, def, min time.Duration) time.Duration {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < min {
		p.fail(name, v, fmt.Sprintf("a duration such as 90s or 4h, at least %s", min))
		return def
	}
	return d
}

// halfLife is a duration that also takes whole or decimal days with a d suffix ("14d", "1.5d"), since
// Go durations stop at hours.
func (p *parser) halfLife(name string, def, min time.Duration) time.Duration {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if days, found := strings.CutSuffix(v, "d"); found {
		var n float64
		n, err = strconv.ParseFloat(days, 64)
		d = time.Duration(n * float64(24*time.Hour))
		if err == nil && (math.IsNaN(n) || math.IsInf(n, 0) || n > 100000) {
			err = strconv.ErrRange
		}
	}
	if err != nil || d < min {
		p.fail(name, v, fmt.Sprintf("a duration such as 336h, or days such as 14d, at least %s", min))
		return def
	}
	return d
}

func (p *parser) durations(name string, def []time.Duration) []time.Duration {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	var out []time.Duration
	for _, part := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			p.fail(name, v, "a comma-separated list of positive durations such as 24h,72h")
			return def
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) list(name string, def []string) []string {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		if s := strings.TrimSpace(part); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) location(name, def string) *time.Location {
	v := p.str(name, def)
	loc, err := time.LoadLocation(v)
	if err != nil {
		p.fail(name, v, "an IANA time zone such as Etc/UTC or Europe/Berlin")
		loc, _ = time.LoadLocation(def)
	}
	return loc
}

func (p *parser) purposeLimits(name string) map[string]float64 {
	out := map[string]float64{}
	v, ok := p.raw(name)
	if !ok {
		return out
	}
	for _, part := range strings.Split(v, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !found || strings.TrimSpace(k) == "" || err != nil || f < 0 || f != f {
			p.fail(name, v, "a comma-separated list of purpose=usd such as reply_generation=1.5")
			return out
		}
		out[strings.TrimSpace(k)] = f
	}
	return out
}

// PriceEnvName is the env prefix for a model's price: OPENAI_PRICE_GPT_4O_MINI.
func PriceEnvName(model string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return "OPENAI_PRICE_" + strings.ToUpper(r.Replace(model))
}

func (p *parser) price(model string) Price {
	base := PriceEnvName(model)
	known, isKnown := knownPrices[model]
	in := p.float(base+"_INPUT", known.InputPerM, 0, 1e6)
	out := p.float(base+"_OUTPUT", known.OutputPerM, 0, 1e6)
	_, inSet := p.raw(base + "_INPUT")
	_, outSet := p.raw(base + "_OUTPUT")
	if !isKnown && (!inSet || !outSet) {
		p.fail("OPENAI_MODEL", model, fmt.Sprintf("a model with a known price (gpt-4o-mini, gpt-4o) or set %s_INPUT and %s_OUTPUT", base, base))
	}
	return Price{InputPerM: in, OutputPerM: out}
}

// passwordInURL matches a URL's user-info password (scheme://user:PASSWORD@); passwordParam a password
// given as a key=value DSN or query parameter.
var (
	passwordInURL = regexp.MustCompile(`(://[^/@:]*:).*@`)
	passwordParam = regexp.MustCompile(`(?i)(password=)('[^']*'|[^&\s]*)`)
)

// RedactDatabaseURL replaces the password in a connection string (URL or key=value form) with [redacted].
func RedactDatabaseURL(v string) string {
	v = passwordInURL.ReplaceAllString(v, "${1}[redacted]@")
	return passwordParam.ReplaceAllString(v, "${1}[redacted]")
}

// databasePassword is the password in a postgres:// URL, if any.
func databasePassword(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// secretKeyBytes decodes XBOT_SECRET_KEY (nil when it is not base64 of some bytes).
func secretKeyBytes(v string) []byte {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	return b
}

// SecretKeyBytes is the decoded XBOT_SECRET_KEY, or nil when none is set.
func (c *Config) SecretKeyBytes() []byte {
	if c.SecretKey == "" {
		return nil
	}
	return secretKeyBytes(c.SecretKey)
}
