package workers

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// The workers take configuration as given: an allowed zero is used, never replaced by a default of their own.
func TestConfigZeroAnalyticsDelayIsUsed(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.AnalyticsDelay = 0 }})
	d := b.queueDecision(t, honestTexts[0], nil)

	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: d.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, d.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	job := b.requireOneJob(t, jobs.CollectAnalyticsArgs{DecisionID: d.DecisionID, Reading: 1})
	require.Equal(t, got.PostedAt.UTC(), job.ScheduledAt.UTC(), "ANALYTICS_DELAY=0s reads at once")
}

// Impossible values fail Register loudly instead of being replaced.
func TestRegisterRefusesImpossibleConfig(t *testing.T) {
	t.Parallel()
	for name, mut := range map[string]func(*Config){
		"plan interval":      func(c *Config) { c.PlanInterval = 0 },
		"reply interval":     func(c *Config) { c.ReplyInterval = 0 },
		"learn period":       func(c *Config) { c.LearnPeriod = 0 },
		"sweep interval":     func(c *Config) { c.SweepInterval = 0 },
		"posting snooze":     func(c *Config) { c.PostingSnooze = 0 },
		"x call timeout":     func(c *Config) { c.XCallTimeout = 0 },
		"x circuit cooldown": func(c *Config) { c.XCircuitCooldown = 0 },
		"queued max age":     func(c *Config) { c.QueuedMaxAge = 0 },
		"analytics delay":    func(c *Config) { c.AnalyticsDelay = -time.Second },
		"follow-up":          func(c *Config) { c.AnalyticsFollowups = []time.Duration{0} },
		"posts per plan":     func(c *Config) { c.PostsPerPlan = 0 },
		"max posts per day":  func(c *Config) { c.MaxPostsPerDay = 0 },
		"post max attempts":  func(c *Config) { c.PostMaxAttempts = 0 },
		"replies per day":    func(c *Config) { c.RepliesPerDay = -1 },
		"account time zone":  func(c *Config) { c.AccountTZ = nil },
		"backend":            func(c *Config) { c.Backend = "" },
		"learn half-life":    func(c *Config) { c.LearnHalfLife = 0 },
	} {
		cfg := baseConfig()
		mut(&cfg)
		require.Error(t, cfg.validate(), name)
	}
	require.NoError(t, baseConfig().validate())
}
