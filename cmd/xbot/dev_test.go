package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/config"
)

// Under xbot dev every interval is simulated time; outside services keep theirs.
func TestAccelerate(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"DEV_SPEED": "360", "ANALYTICS_FOLLOWUPS": "24h,72h"}[k]
		return v, ok
	}, config.Defaults{})
	require.NoError(t, err)
	c := accelerate(cfg)
	require.Equal(t, 10*time.Second, c.PlanInterval)
	require.Equal(t, 4*time.Minute, c.PlanWindow, "a simulated day")
	require.Equal(t, 40*time.Second, c.AnalyticsDelay)
	require.Equal(t, []time.Duration{4 * time.Minute, 12 * time.Minute}, c.AnalyticsFollowups)
	require.Equal(t, 12*360, c.MaxPostsPerDay)
	require.Equal(t, cfg.LearnHalfLife/360, c.LearnHalfLife)
	require.Equal(t, cfg.XCallTimeout, c.XCallTimeout)
	require.Equal(t, time.Hour, cfg.PlanInterval, "the parsed configuration is left alone")
}
