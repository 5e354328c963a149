package xsim

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWeightedLength(t *testing.T) {
	t.Parallel()
	require.Equal(t, 5, weightedLength("hello"))
	require.Equal(t, 4+23, weightedLength("see https://example.com/a/very/long/path/indeed"))
	require.Equal(t, 4, weightedLength("日本"))
	require.Equal(t, 280, weightedLength(strings.Repeat("a", 280)))
}

func TestNormalizeAndMentions(t *testing.T) {
	t.Parallel()
	require.Equal(t, normalizeText("Same  WORDS\n here "), normalizeText("same words here"))
	require.Equal(t, []string{"xbot_sim", "maria_ml"}, mentionsIn("@xbot_sim hi @Maria_ML and @xbot_sim, mail a@b.com"))
}

func TestMatchRatePrefersSpecific(t *testing.T) {
	t.Parallel()
	rates := []Rate{
		{Topic: "*", Format: "*", Hook: "*", Hour: -1, Rate: 0.01},
		{Topic: "go", Format: "*", Hook: "*", Hour: -1, Rate: 0.03},
		{Topic: "go", Format: "thread", Hook: "*", Hour: 9, Rate: 0.09},
	}
	require.Equal(t, 0.09, matchRate(rates, Features{Topic: "go", Format: "thread", Hour: 9}, 0.5))
	require.Equal(t, 0.03, matchRate(rates, Features{Topic: "go", Format: "thread", Hour: 10}, 0.5))
	require.Equal(t, 0.01, matchRate(rates, Features{Topic: "css"}, 0.5))
	require.Equal(t, 0.5, matchRate(nil, Features{Topic: "css"}, 0.5))
}

func TestMetricsGrowMonotonically(t *testing.T) {
	t.Parallel()
	p := Post{Reach: 2000, EngagementRate: 0.05, CreatedAt: time.Unix(0, 0)}
	require.Equal(t, Metrics{}, metricsAt(p, p.CreatedAt))
	prev := Metrics{}
	for h := 1; h <= 72; h++ {
		m := metricsAt(p, p.CreatedAt.Add(time.Duration(h)*time.Hour))
		require.GreaterOrEqual(t, m.Impressions, prev.Impressions)
		require.GreaterOrEqual(t, m.Likes, prev.Likes)
		require.LessOrEqual(t, m.Impressions, int64(2000))
		prev = m
	}
	require.InDelta(t, 0.05, float64(prev.Engagements())/float64(prev.Impressions), 0.005)
}
