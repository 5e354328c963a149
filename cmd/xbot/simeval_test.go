package main

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/dbtest"
)

// A reduced sim-eval on a planted world: the real plan and learn workers, on a simulated clock, find the
// planted best arm of every dimension and beat uniform random by a clear margin. A fifth of the LLM fake's
// drafts carry a flaw the gates refuse: the LLM cost per posted decision is the accepted drafts' plus the
// refused ones', nothing more (no draft paid for and then dropped by the cap).
func TestSimEvalRecoversPlantedBestArms(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DATABASE_URL": dbtest.URL(t), "PLAN_WINDOW": "24h"}
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, config.Defaults{PostingDisabled: true})
	require.NoError(t, err)
	world := newSimWorld(7, cfg.ContentTopics, cfg.ContentFormats, cfg.ContentHooks)
	// Plant one clear best arm per dimension: the second arm (hour 13), at least 0.3 above every other.
	for d := range world.effects {
		for i := range world.effects[d] {
			world.effects[d][i] = 0.1 * float64(i%3)
		}
		best := 1
		if d == 3 {
			best = 13
		}
		world.effects[d][best] = 0.5
	}
	res, err := simEvalSeed(context.Background(), &env{cfg: cfg, log: zap.NewNop()}, dbtest.Pool(t), 7, &simEvalOpts{posts: 150, flawed: 0.2}, world)
	require.NoError(t, err)
	t.Log(res.line(7))
	require.Equal(t, 150, res.posted)
	require.Equal(t, [4]string{cfg.ContentTopics[1], cfg.ContentFormats[1], cfg.ContentHooks[1], strconv.Itoa(13)}, res.planted)
	require.Equal(t, res.planted, res.learned, "the learned best arm of each dimension (topic, format, hook, hour)")
	require.Less(t, res.ratio, 0.5, "regret over the oracle at most half uniform random's")
	require.Greater(t, res.bestShare[1], 0.7, "the best format dominates the last posts")
	require.InDelta(t, 0.2, float64(res.rejected)/float64(res.drafts), 0.08, "about a fifth of the drafts refused")
	require.InDelta(t, float64(res.drafts)/float64(res.drafts-res.rejected), res.costRatio, 0.05,
		"cost per posted decision: the accepted drafts' and the refused ones', no cap skip paid for")
}
