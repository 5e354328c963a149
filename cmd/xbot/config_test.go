package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
	"github.com/xbot/xbot/workers"
)

// badValues has one bad value for every variable the configuration reads.
var badValues = map[string]string{
	"DATABASE_URL": "mysql://db/xbot", "MODE": "prod", "POSTING_DISABLED": "yes", "LIVE_POSTS": "1",
	"REAL_METRICS_ENABLED": "on", "AI_QUOTA_CIRCUIT_OPEN": "maybe",
	"OPENAI_API_KEY": "sk-half sk-other-half", "OPENAI_BASE_URL": "ftp://llm", "OPENAI_MODEL": "gpt-9",
	"OPENAI_TEMPERATURE": "3", "OPENAI_TOP_P": "-0.1", "OPENAI_MAX_TOKENS": "0", "OPENAI_RESPONSE_FORMAT": "xml",
	"DAILY_OPENAI_LIMIT_USD": "-1", "BUDGET_TZ": "Mars/Olympus", "OPENAI_PURPOSE_LIMITS": "reply=x",
	"LLM_CIRCUIT_COOLDOWN": "0s", "OPENAI_PRICE_GPT_4O_MINI_INPUT": "-1", "OPENAI_PRICE_GPT_4O_MINI_OUTPUT": "free",
	"X_API_BASE_URL": "api.x.com", "X_API_KEY": "a b", "X_API_SECRET": "a b", "X_ACCESS_TOKEN": "a b",
	"X_ACCESS_TOKEN_SECRET": "a b", "X_BEARER_TOKEN": "a b", "X_OAUTH2_CLIENT_ID": "a b",
	"X_OAUTH2_ACCESS_TOKEN": "a b", "X_OAUTH2_REFRESH_TOKEN": "a b",
	"X_CALL_TIMEOUT": "0s", "X_RECONCILE_GRACE": "-1s", "X_CIRCUIT_COOLDOWN": "10ms", "X_USER_ID": "me",
	"X_HANDLE": "a_handle_far_too_long", "ACCOUNT_TZ": "Nowhere/Town",
	"PLAN_INTERVAL": "0s", "POSTS_PER_PLAN": "0", "PLAN_WINDOW": "-1m",
	"CONTENT_TOPICS": "go,\x01", "CONTENT_FORMATS": "tip,\x02", "CONTENT_HOOKS": "none,\x03", "VOICE_PROMPT": "calm\x00",
	"CONTENT_CONFIG":    "/nonexistent/content.json",
	"MAX_POSTS_PER_DAY": "0", "MIN_POST_SPACING": "-1s", "QUEUED_MAX_AGE": "1s",
	"REPLY_INTERVAL": "0s", "REPLIES_PER_HOUR": "-1", "REPLIES_PER_DAY": "many", "REPLY_QUERIES": "go\x7f",
	"MIN_QUALITY_SCORE": "NaN", "UNIQUENESS_THRESHOLD": "1.5", "ROTATION_MAX_SHARE": "2", "ROTATION_MIN_POSTS": "-1",
	"ANALYTICS_DELAY": "soon", "ANALYTICS_FOLLOWUPS": "24h,never",
	"LEARN_MIN_OUTCOMES": "0", "LEARN_PERIOD": "0s", "LEARN_HALF_LIFE": "0s", "LEARN_DISCOUNT": "0.97",
	"XBOT_SECRET_KEY": "c2hvcnQ=",
	"POSTING_SNOOZE":  "0s", "POST_MAX_ATTEMPTS": "0", "SWEEP_INTERVAL": "1ms",
	"PORT": "70000", "LOG_FORMAT": "xml", "LOG_LEVEL": "trace",
	"RIVERUI_USER": "admin\x01", "RIVERUI_PASSWORD": "two words", "METRICS_TOKEN": "two words",
	"REQUIRE_APPROVAL": "yes", "WORKER_CONCURRENCY": "0", "POST_CONCURRENCY": "x", "DATABASE_MAX_CONNS": "-1",
	"DATABASE_POOLER": "pgpool", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "DEV_SPEED": "0",
}

// Each variable's bad value stops the program with exit code 2 and one line naming it; a secret's value
// is shown as [redacted].
func TestEveryVariableBadValueExitsTwoNamingIt(t *testing.T) {
	t.Parallel()
	for name, value := range badValues {
		b := &testBundle{stdout: &syncBuffer{}, stderr: &syncBuffer{}, env: map[string]string{name: value}}
		if name == "LIVE_POSTS" {
			b.env["MODE"] = "live"
		}
		err := b.main().Run(context.Background(), []string{"status"})
		var ee *ExitError
		require.True(t, errors.As(err, &ee), "%s=%q: %v", name, value, err)
		var stderr bytes.Buffer
		require.Equal(t, 2, exitCode(&stderr, err), name)
		line := stderr.String()
		want := "config: " + name + "="
		if config.IsSecret(name) {
			want += "[redacted]: "
			require.NotContains(t, line, value)
		}
		require.True(t, strings.HasPrefix(line, want), "%s=%q: %q", name, value, line)
		require.Equal(t, 1, strings.Count(line, "\n"), "one line: %q", line)
	}
}

// Every variable set to a valid value that is not its default (each allowed zero included) reaches the
// configuration of the part it controls, unchanged: no package below config re-applies a default.
func TestEveryVariableReachesItsConsumer(t *testing.T) {
	t.Parallel()
	content := filepath.Join(t.TempDir(), "content.json")
	require.NoError(t, os.WriteFile(content, []byte(`{"voice":"from the file"}`), 0o600))
	env := map[string]string{
		"DATABASE_URL": "postgres://u@db:5433/other?sslmode=disable", "MODE": "live", "POSTING_DISABLED": "false",
		"LIVE_POSTS": "true", "REAL_METRICS_ENABLED": "true", "AI_QUOTA_CIRCUIT_OPEN": "true",
		"OPENAI_API_KEY": "sk-reach", "OPENAI_BASE_URL": "http://llm.internal/v1", "OPENAI_MODEL": "gpt-4o",
		"OPENAI_TEMPERATURE": "0", "OPENAI_TOP_P": "0", "OPENAI_MAX_TOKENS": "123", "OPENAI_RESPONSE_FORMAT": "json_object",
		"DAILY_OPENAI_LIMIT_USD": "0", "BUDGET_TZ": "America/New_York", "OPENAI_PURPOSE_LIMITS": "reply_generation=1.5",
		"LLM_CIRCUIT_COOLDOWN": "7m", "OPENAI_PRICE_GPT_4O_INPUT": "3", "OPENAI_PRICE_GPT_4O_OUTPUT": "11",
		"X_API_BASE_URL": "http://x.internal", "X_API_KEY": "ck", "X_API_SECRET": "cs", "X_ACCESS_TOKEN": "at",
		"X_ACCESS_TOKEN_SECRET": "as", "X_BEARER_TOKEN": "bt",
		"X_CALL_TIMEOUT": "45s", "X_RECONCILE_GRACE": "0s", "X_CIRCUIT_COOLDOWN": "3m", "X_USER_ID": "42", "X_HANDLE": "@someone",
		"ACCOUNT_TZ": "Europe/Berlin", "PLAN_INTERVAL": "3h", "POSTS_PER_PLAN": "5", "PLAN_WINDOW": "0s",
		"CONTENT_TOPICS": "a,b", "CONTENT_FORMATS": "f", "CONTENT_HOOKS": "h", "CONTENT_CONFIG": content,
		"MAX_POSTS_PER_DAY": "7", "MIN_POST_SPACING": "0s", "QUEUED_MAX_AGE": "2h",
		"REPLY_INTERVAL": "10m", "REPLIES_PER_HOUR": "0", "REPLIES_PER_DAY": "0", "REPLY_QUERIES": "go queues,postgres",
		"MIN_QUALITY_SCORE": "0", "UNIQUENESS_THRESHOLD": "0.5", "ROTATION_MAX_SHARE": "1", "ROTATION_MIN_POSTS": "0",
		"ANALYTICS_DELAY": "0s", "ANALYTICS_FOLLOWUPS": "1h", "LEARN_MIN_OUTCOMES": "1", "LEARN_PERIOD": "5m",
		"LEARN_HALF_LIFE": "1.5d", "POSTING_SNOOZE": "9s", "POST_MAX_ATTEMPTS": "1", "SWEEP_INTERVAL": "2s",
		"PORT": "0", "LOG_FORMAT": "console", "LOG_LEVEL": "debug",
		"WORKER_CONCURRENCY": "33", "POST_CONCURRENCY": "7", "DATABASE_MAX_CONNS": "9", "DATABASE_POOLER": "pgbouncer",
		"REQUIRE_APPROVAL": "true",
	}
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Defaults{PostingDisabled: true, LogFormat: "json"})
	require.NoError(t, err)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)

	require.Equal(t, workers.Config{
		Live: true, PostingDisabled: false, Backend: "x", RealMetricsEnabled: true, RequireApproval: true,
		PostsPerPlan: 5, PlanInterval: 3 * time.Hour, PlanWindow: 0, MaxPostsPerDay: 7, MinPostSpacing: 0,
		QueuedMaxAge: 2 * time.Hour, AccountTZ: berlin, Topics: []string{"a", "b"}, Formats: []string{"f"}, Hooks: []string{"h"},
		Voice: "from the file", MaxTokensPerPost: 123,
		ReplyInterval: 10 * time.Minute, RepliesPerHour: 0, RepliesPerDay: 0, ReplyQueries: []string{"go queues", "postgres"},
		AnalyticsDelay: 0, AnalyticsFollowups: []time.Duration{time.Hour},
		LearnMinOutcomes: 1, LearnPeriod: 5 * time.Minute, LearnHalfLife: 36 * time.Hour,
		PostingSnooze: 9 * time.Second, PostMaxAttempts: 1, SweepInterval: 2 * time.Second,
		XCallTimeout: 45 * time.Second, XReconcileGrace: 0, XCircuitCooldown: 3 * time.Minute,
	}, workerConfig(cfg, backend(cfg)))

	lc := llm.FromConfig(cfg, zap.NewNop())
	lc.Logger = nil
	require.Equal(t, llm.Config{
		APIKey: "sk-reach", BaseURL: "http://llm.internal/v1", Model: "gpt-4o", Temperature: 0, TopP: 0,
		ResponseFormat: "json_object", DefaultMaxTokens: 123, Price: llm.Price{InputPerM: 3, OutputPerM: 11},
		DailyCapUSD: 0, PurposeCapsUSD: map[string]float64{"reply_generation": 1.5}, BudgetTZ: ny,
		CircuitCooldown: 7 * time.Minute, ForceCircuitOpen: true,
	}, lc)

	g := gateConfig(cfg)
	require.Equal(t, [4]float64{0, 0.5, 1, 0}, [4]float64{g.MinQualityScore, g.UniquenessThreshold, g.RotationMaxShare, float64(g.RotationMinPosts)})
	// A post job may run X_CALL_TIMEOUT + 30 s; the rescuer must wait longer than that.
	rcfg := riverConfig(zap.NewNop(), nil, nil, cfg)
	require.Equal(t, 45*time.Second+30*time.Second+rescueMargin, rcfg.RescueStuckJobsAfter)
	require.Equal(t, map[string]river.QueueConfig{jobs.QueueDefault: {MaxWorkers: 33}, jobs.QueuePost: {MaxWorkers: 7}}, rcfg.Queues)
	require.True(t, rcfg.PollOnly, "behind PgBouncer River polls")
	pool, err := store.OpenWith(context.Background(), "postgres://u@127.0.0.1:1/x", poolOptions(cfg))
	require.NoError(t, err)
	defer pool.Close()
	require.Equal(t, int32(9), pool.Config().MaxConns)
	require.Equal(t, pgx.QueryExecModeCacheDescribe, pool.Config().ConnConfig.DefaultQueryExecMode)
	require.Equal(t, "42", cfg.XUserID)
	require.Equal(t, "someone", cfg.XHandle)
	require.Equal(t, []string{"sk-reach", "ck", "cs", "at", "as", "bt"}, cfg.Secrets())
	require.Equal(t, "postgres://u@db:5433/other?sslmode=disable", cfg.DatabaseURL)
	require.Equal(t, [2]string{"console", "debug"}, [2]string{cfg.LogFormat, cfg.LogLevel})
}
