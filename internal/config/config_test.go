package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/config"
)

func parse(env map[string]string) (*config.Config, error) {
	return config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Defaults{PostingDisabled: true})
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := parse(nil)
	require.NoError(t, err)
	require.Equal(t, config.ModeShadow, c.Mode)
	require.True(t, c.PostingDisabled)
	require.Equal(t, 4*time.Hour, c.AnalyticsDelay)
	require.Equal(t, []time.Duration{24 * time.Hour, 72 * time.Hour}, c.AnalyticsFollowups)
	require.Equal(t, 24*time.Hour, c.PlanWindow, "a day: every hour is a choice")
	require.Equal(t, config.Price{InputPerM: 0.15, OutputPerM: 0.60}, c.OpenAIPrice)
	require.Equal(t, "json", c.LogFormat)
	require.NotEmpty(t, c.ContentTopics)
}

// PLAN_WINDOW defaults to a day, or to PLAN_INTERVAL when that is longer (so no day goes unplanned).
func TestPlanWindowDefault(t *testing.T) {
	t.Parallel()
	for interval, want := range map[string]time.Duration{"2h": 24 * time.Hour, "24h": 24 * time.Hour, "48h": 48 * time.Hour} {
		c, err := parse(map[string]string{"PLAN_INTERVAL": interval})
		require.NoError(t, err)
		require.Equal(t, want, c.PlanWindow, interval)
	}
	c, err := parse(map[string]string{"PLAN_INTERVAL": "48h", "PLAN_WINDOW": "0s"})
	require.NoError(t, err)
	require.Zero(t, c.PlanWindow, "set: as given")
}

func TestBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"MODE", "prod", "config: MODE=prod: one of live, shadow"},
		{"ANALYTICS_DELAY", "soon", "config: ANALYTICS_DELAY=soon: a duration such as 90s or 4h, at least 0s"},
		{"OPENAI_TEMPERATURE", "3", "config: OPENAI_TEMPERATURE=3: a number from 0 to 2"},
		{"OPENAI_TOP_P", "-0.1", "config: OPENAI_TOP_P=-0.1: a number from 0 to 1"},
		{"MIN_QUALITY_SCORE", "NaN", "config: MIN_QUALITY_SCORE=NaN: a number from 0 to 1"},
		{"BUDGET_TZ", "Mars/Olympus", "config: BUDGET_TZ=Mars/Olympus: an IANA time zone such as Etc/UTC or Europe/Berlin"},
		{"OPENAI_PURPOSE_LIMITS", "reply=x", "config: OPENAI_PURPOSE_LIMITS=reply=x: a comma-separated list of purpose=usd such as reply_generation=1.5"},
		{"ANALYTICS_FOLLOWUPS", "24h,never", "config: ANALYTICS_FOLLOWUPS=24h,never: a comma-separated list of positive durations such as 24h,72h"},
		{"LIVE_POSTS", "true", "config: LIVE_POSTS=true: only allowed with MODE=live"},
		{"OPENAI_MODEL", "gpt-9", "config: OPENAI_MODEL=gpt-9: a model with a known price (gpt-4o-mini, gpt-4o) or set OPENAI_PRICE_GPT_9_INPUT and OPENAI_PRICE_GPT_9_OUTPUT"},
	} {
		_, err := parse(map[string]string{tc.name: tc.value})
		var ce *config.Error
		require.True(t, errors.As(err, &ce), tc.name)
		require.Equal(t, tc.want, err.Error())
	}
}

func TestUnknownModelWithPrices(t *testing.T) {
	t.Parallel()
	c, err := parse(map[string]string{"OPENAI_MODEL": "my-model.v2", "OPENAI_PRICE_MY_MODEL_V2_INPUT": "1", "OPENAI_PRICE_MY_MODEL_V2_OUTPUT": "2"})
	require.NoError(t, err)
	require.Equal(t, config.Price{InputPerM: 1, OutputPerM: 2}, c.OpenAIPrice)
}

func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	require.True(t, config.IsSecret("X_ACCESS_TOKEN_SECRET"))
	c, err := parse(map[string]string{"OPENAI_API_KEY": "sk-1", "X_API_SECRET": "s2"})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"sk-1", "s2"}, c.Secrets())

	// A secret with a space pasted into it is refused without showing it.
	_, err = parse(map[string]string{"X_API_SECRET": "half-of-it other-half"})
	require.EqualError(t, err, "config: X_API_SECRET=[redacted]: one token without spaces")
	_, err = parse(map[string]string{"OPENAI_API_KEY": "sk-abc\x00def"})
	require.EqualError(t, err, "config: OPENAI_API_KEY=[redacted]: printable text without control characters")
}

func TestPurposeLimitsAndLists(t *testing.T) {
	t.Parallel()
	c, err := parse(map[string]string{"OPENAI_PURPOSE_LIMITS": "reply_generation=1.5, gate=0.2", "CONTENT_TOPICS": "a, b,,c", "X_HANDLE": "@demo"})
	require.NoError(t, err)
	require.Equal(t, map[string]float64{"reply_generation": 1.5, "gate": 0.2}, c.OpenAIPurposeLimits)
	require.Equal(t, []string{"a", "b", "c"}, c.ContentTopics)
	require.Equal(t, "demo", c.XHandle)
}

func TestDatabaseURLPasswordRedactedInError(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"mysql://app:hunter2pw@db:5432/xbot",
		"postgres://app:hunter2pw@db:5432/xbot\x7f",
		"host=db user=app password=hunter2pw dbname=xbot",
		"postgres://app:p@ss hunter2pw@db/xbot?sslmode=x\x7f",
	} {
		_, err := parse(map[string]string{"DATABASE_URL": bad})
		var ce *config.Error
		require.True(t, errors.As(err, &ce), bad)
		require.NotContains(t, err.Error(), "hunter2pw")
		require.Contains(t, err.Error(), "[redacted]")
		require.Contains(t, err.Error(), "config: DATABASE_URL=")
	}
	require.Equal(t, "postgres://postgres@localhost:5432/xbot", config.RedactDatabaseURL("postgres://postgres@localhost:5432/xbot"))
}

func TestOperatingSettings(t *testing.T) {
	t.Parallel()
	c, err := parse(nil)
	require.NoError(t, err)
	require.Equal(t, "admin", c.RiverUIUser)
	require.Empty(t, c.RiverUIPassword)
	require.False(t, c.RequireApproval)
	c, err = parse(map[string]string{"RIVERUI_PASSWORD": "pw1", "METRICS_TOKEN": "tok1", "DATABASE_URL": "postgres://u:dbpw@h/x",
		"REQUIRE_APPROVAL": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"pw1", "tok1", "dbpw"}, c.Secrets())
	require.True(t, c.RequireApproval)
	require.Equal(t, "http://otel:4318", c.OTLPEndpoint)
}

func TestLearnHalfLife(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{{"", 14 * 24 * time.Hour}, {"336h", 336 * time.Hour}, {"14d", 336 * time.Hour}, {"1.5d", 36 * time.Hour}, {"90m", 90 * time.Minute}} {
		env := map[string]string{}
		if tc.value != "" {
			env["LEARN_HALF_LIFE"] = tc.value
		}
		c, err := parse(env)
		require.NoError(t, err, tc.value)
		require.Equal(t, tc.want, c.LearnHalfLife, tc.value)
	}
	for _, bad := range []string{"0s", "soon", "d", "-1d", "30s"} {
		_, err := parse(map[string]string{"LEARN_HALF_LIFE": bad})
		require.EqualError(t, err, "config: LEARN_HALF_LIFE="+bad+": a duration such as 336h, or days such as 14d, at least 1m0s")
	}
	_, err := parse(map[string]string{"LEARN_DISCOUNT": "0.97"})
	require.EqualError(t, err, "config: LEARN_DISCOUNT=0.97: no longer used; set LEARN_HALF_LIFE (e.g. 14d) instead")
}

// XBOT_SECRET_KEY is an AES-256 key: base64 of exactly 32 bytes, never echoed.
func TestSecretKey(t *testing.T) {
	t.Parallel()
	require.True(t, config.IsSecret("XBOT_SECRET_KEY"))
	c, err := parse(map[string]string{"XBOT_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})
	require.NoError(t, err)
	require.Equal(t, []byte("0123456789abcdef0123456789abcdef"), c.SecretKeyBytes())
	require.Contains(t, c.Secrets(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	_, err = parse(map[string]string{"XBOT_SECRET_KEY": "c2hvcnQta2V5"})
	require.EqualError(t, err, "config: XBOT_SECRET_KEY=[redacted]: 32 random bytes, base64 (openssl rand -base64 32)")
	c, err = parse(map[string]string{})
	require.NoError(t, err)
	require.Nil(t, c.SecretKeyBytes())
}

func TestForAccount(t *testing.T) {
	t.Parallel()
	base, err := parse(map[string]string{"CONTENT_TOPICS": "a,b", "MAX_POSTS_PER_DAY": "12"})
	require.NoError(t, err)
	acct, err := base.ForAccount(map[string]string{"CONTENT_TOPICS": "go, rust", "BUDGET_USD": "0.25", "ACCOUNT_TZ": "Europe/Berlin"})
	require.NoError(t, err)
	require.Equal(t, []string{"go", "rust"}, acct.ContentTopics)
	require.Equal(t, 0.25, acct.AccountBudgetUSD)
	require.True(t, acct.HasAccountBudget)
	zero, err := base.ForAccount(map[string]string{"BUDGET_USD": "0"})
	require.NoError(t, err)
	require.True(t, zero.HasAccountBudget, "budget_usd=0 is a share of nothing, not no share")
	require.False(t, base.HasAccountBudget)
	night, err := base.ForAccount(map[string]string{"QUIET_HOURS": "22-7"})
	require.NoError(t, err)
	require.Equal(t, "22-7", night.QuietHours.String())
	require.False(t, base.QuietHours.Set, "no quiet hours unless set")
	_, err = config.ValidateAccountSetting("quiet_hours", "7-7")
	require.EqualError(t, err, "config: QUIET_HOURS=7-7: START-END in local hours (ACCOUNT_TZ), such as 22-7")
	require.Equal(t, "Europe/Berlin", acct.AccountTZ.String())
	require.Equal(t, 12, acct.MaxPostsPerDay, "not overridden: the environment's")
	require.Equal(t, []string{"a", "b"}, base.ContentTopics, "the base is untouched")

	name, err := config.ValidateAccountSetting("posts_per_day", "7")
	require.NoError(t, err)
	require.Equal(t, "MAX_POSTS_PER_DAY", name)
	name, err = config.ValidateAccountSetting("min_post_spacing", "1m")
	require.NoError(t, err)
	require.Equal(t, "MIN_POST_SPACING", name)
	_, err = config.ValidateAccountSetting("spacing", "-1m")
	require.EqualError(t, err, "config: MIN_POST_SPACING=-1m: a duration such as 90s or 4h, at least 0s")
	_, err = config.ValidateAccountSetting("budget_usd", "lots")
	require.EqualError(t, err, "config: BUDGET_USD=lots: a number from 0 to 1e+06")
	name, err = config.ValidateAccountSetting("budget_usd", "")
	require.NoError(t, err, "an empty value removes the share")
	require.Equal(t, "BUDGET_USD", name)
	_, err = config.ValidateAccountSetting("DATABASE_URL", "postgres://x")
	require.ErrorContains(t, err, "config: DATABASE_URL=postgres://x: not an account setting")
}
