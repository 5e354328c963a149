package bandit_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/bandit"
)

func TestBetaDrawMoments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b float64 }{{1, 1}, {0.3, 0.7}, {2, 5}, {40, 3}} {
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 200000
		var sum, sq float64
		for range n {
			x := bandit.BetaDraw(rng, tc.a, tc.b)
			require.True(t, x >= 0 && x <= 1, "draw %v outside [0,1]", x)
			sum += x
			sq += x * x
		}
		mean := sum / n
		variance := sq/n - mean*mean
		wantMean := tc.a / (tc.a + tc.b)
		wantVar := tc.a * tc.b / ((tc.a + tc.b) * (tc.a + tc.b) * (tc.a + tc.b + 1))
		require.InDelta(t, wantMean, mean, 0.005, "mean of Beta(%v,%v)", tc.a, tc.b)
		require.InDelta(t, wantVar, variance, 0.1*wantVar+1e-4, "variance of Beta(%v,%v)", tc.a, tc.b)
	}
}

func TestSamplePropensity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		arms     []bandit.Arm
		wantProb map[string]float64 // exact win probability of each arm
	}{
		{"one arm", []bandit.Arm{bandit.NewArm("a")}, map[string]float64{"a": 1}},
		{"uniform prior", []bandit.Arm{bandit.NewArm("a"), bandit.NewArm("b"), bandit.NewArm("c"), bandit.NewArm("d")},
			map[string]float64{"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}},
		// P(X > Y) for X~Beta(2,1), Y~Beta(1,1) is E[X] = 2/3.
		{"one success", []bandit.Arm{{Name: "win", Alpha: 2, Beta: 1}, bandit.NewArm("new")},
			map[string]float64{"win": 2.0 / 3, "new": 1.0 / 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(7, 11))
			seen := map[string]int{}
			for range 30 {
				pick, p := bandit.Sample(tc.arms, rng)
				seen[pick]++
				require.InDelta(t, tc.wantProb[pick], p, 0.03, "propensity of %s", pick)
			}
			require.NotEmpty(t, seen)
		})
	}
}

func TestSampleIsDeterministicForASeed(t *testing.T) {
	t.Parallel()
	arms := []bandit.Arm{{Name: "a", Alpha: 3, Beta: 4}, {Name: "b", Alpha: 4, Beta: 3}, bandit.NewArm("c")}
	var first []string
	for run := range 2 {
		rng := rand.New(rand.NewPCG(42, 42))
		var picks []string
		for range 20 {
			p, _ := bandit.Sample(arms, rng)
			picks = append(picks, p)
		}
		if run == 0 {
			first = picks
			continue
		}
		require.Equal(t, first, picks)
	}
}

func TestSampleFollowsEvidence(t *testing.T) {
	t.Parallel()
	arms := []bandit.Arm{{Name: "bad", Alpha: 2, Beta: 40}, {Name: "good", Alpha: 40, Beta: 2}}
	rng := rand.New(rand.NewPCG(3, 4))
	pick, p := bandit.Sample(arms, rng)
	require.Equal(t, "good", pick)
	require.Greater(t, p, 0.99)
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	arms := []bandit.Arm{{Name: "a", Alpha: 11, Beta: 5, Pulls: 7}, bandit.NewArm("b")}
	got, err := bandit.Update(arms, map[string]bandit.Evidence{"a": {Successes: 1}, "c": {Failures: 2}}, 0.5)
	require.NoError(t, err)
	require.Equal(t, []bandit.Arm{
		{Name: "a", Alpha: 1 + 10*0.5 + 1, Beta: 1 + 4*0.5, Pulls: 7},
		{Name: "b", Alpha: 1, Beta: 1},
		{Name: "c", Alpha: 1, Beta: 3},
	}, got)
	require.Equal(t, 11.0, arms[0].Alpha, "input untouched")

	_, err = bandit.Update(arms, nil, 1.5)
	require.Error(t, err)
	_, err = bandit.Update(arms, map[string]bandit.Evidence{"a": {Successes: -1}}, 1)
	require.Error(t, err)
}

func TestReward(t *testing.T) {
	t.Parallel()
	require.True(t, bandit.Reward(0.05, true, 0.04))
	require.False(t, bandit.Reward(0.04, true, 0.04), "equal to the median does not beat it")
	require.False(t, bandit.Reward(0, false, 0), "no impressions earns nothing")
}

func TestExploreRatio(t *testing.T) {
	t.Parallel()
	arms := []bandit.Arm{{Name: "a", Alpha: 5, Beta: 1}, {Name: "b", Alpha: 1, Beta: 5}, {Name: "c", Alpha: 5, Beta: 1}}
	require.Equal(t, 0.0, bandit.ExploreRatio(nil, arms))
	require.Equal(t, 0.0, bandit.ExploreRatio([]string{"a", "c", "a"}, arms), "tied best arms are exploiting")
	require.Equal(t, 0.5, bandit.ExploreRatio([]string{"a", "b", "c", "gone"}, arms))
	require.Equal(t, []string{"a", "c"}, bandit.Best(arms))
}

func TestHourArms(t *testing.T) {
	t.Parallel()
	h := bandit.HourArms()
	require.Len(t, h, 24)
	require.Equal(t, "0", h[0])
	require.Equal(t, "23", h[23])
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	require.Equal(t, "7", bandit.HourArm(time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC), ny))
}

func TestNextSlot(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	now := time.Date(2026, 6, 1, 10, 20, 0, 0, time.UTC) // 12:20 in Berlin
	tests := []struct {
		name   string
		pick   string
		window time.Duration
		loc    *time.Location
		want   time.Time
		wantOK bool
	}{
		{"current hour is now", "10", time.Hour, time.UTC, now, true},
		{"later hour in window", "11", time.Hour, time.UTC, time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC), true},
		{"hour past the window", "12", time.Hour, time.UTC, now, false},
		{"window zero", "11", 0, time.UTC, now, false},
		{"window zero in hour", "10", 0, time.UTC, now, true},
		{"tomorrow", "3", 24 * time.Hour, time.UTC, time.Date(2026, 6, 2, 3, 0, 0, 0, time.UTC), true},
		{"account time zone", "13", 2 * time.Hour, berlin, time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC), true},
		{"account time zone current", "12", time.Hour, berlin, now, true},
		{"earlier hour wraps to next day", "9", 48 * time.Hour, time.UTC, time.Date(2026, 6, 2, 9, 0, 0, 0, time.UTC), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := bandit.NextSlot(tc.pick, now, tc.window, tc.loc)
			require.NoError(t, err)
			require.Equal(t, tc.wantOK, ok)
			require.True(t, tc.want.Equal(got), "want %v got %v", tc.want, got)
			require.False(t, got.Before(now))
			require.False(t, got.After(now.Add(max(tc.window, 0))))
		})
	}
	_, _, err = bandit.NextSlot("24", now, time.Hour, time.UTC)
	require.Error(t, err)
	_, _, err = bandit.NextSlot("x", now, time.Hour, time.UTC)
	require.Error(t, err)
}

func TestNextSlotSkipsDSTGap(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	// 29 March 2026: Berlin jumps from 02:00 to 03:00; hour 2 that day does not exist.
	now := time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC) // 00:30 local on the 29th
	got, ok, err := bandit.NextSlot("2", now, 48*time.Hour, berlin)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 3, 30, 2, 0, 0, 0, berlin).UTC(), got.UTC())
	require.Equal(t, 24*time.Hour+30*time.Minute, got.Sub(now))
}
