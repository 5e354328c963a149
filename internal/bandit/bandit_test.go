package bandit_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/bandit"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// world is a planted truth: log-rate effects per arm, additive.
type world map[bandit.Feature]float64

func (w world) observe(rng *rand.Rand, arms []bandit.Feature, at time.Time) bandit.Observation {
	y := math.Log(0.02) + rng.NormFloat64()*0.3
	for _, a := range arms {
		y += w[a]
	}
	return bandit.Observation{Arms: arms, LogRate: y, At: at}
}

func randomArms(rng *rand.Rand, dims map[string][]string) []bandit.Feature {
	var out []bandit.Feature
	for _, scope := range []string{"topic", "format"} {
		names := dims[scope]
		out = append(out, bandit.Feature{Scope: scope, Arm: names[rng.IntN(len(names))]})
	}
	return out
}

func summary(t *testing.T, s []bandit.ArmSummary, scope, arm string) bandit.ArmSummary {
	t.Helper()
	for _, a := range s {
		if a.Scope == scope && a.Arm == arm {
			return a
		}
	}
	t.Fatalf("no summary for %s/%s", scope, arm)
	return bandit.ArmSummary{}
}

func TestFitRecoversPlantedEffects(t *testing.T) {
	t.Parallel()
	dims := map[string][]string{"topic": {"a", "b", "c"}, "format": {"x", "y"}}
	w := world{{"topic", "a"}: 0.4, {"topic", "b"}: 0, {"topic", "c"}: -0.4, {"format", "x"}: 0.2, {"format", "y"}: -0.2}
	rng := rand.New(rand.NewPCG(1, 2))
	var obs []bandit.Observation
	for i := range 400 {
		obs = append(obs, w.observe(rng, randomArms(rng, dims), t0.Add(time.Duration(i)*time.Hour)))
	}
	post, arms, err := bandit.Fit(obs, bandit.FitOptions{Now: t0.Add(400 * time.Hour), HalfLife: 0,
		Arms: []bandit.Feature{{"topic", "d"}}})
	require.NoError(t, err)
	require.Len(t, arms, 6, "the configured arm without evidence is summarised too")
	a, c := summary(t, arms, "topic", "a"), summary(t, arms, "topic", "c")
	require.InDelta(t, math.Exp(0.4), a.Lift, 0.1, "lift against the dimension's evidence-weighted mean")
	require.InDelta(t, math.Exp(-0.4), c.Lift, 0.1)
	require.Less(t, a.LiftLow, a.Lift)
	require.Greater(t, a.LiftHigh, a.Lift)
	require.Greater(t, a.ProbAbove, 0.99)
	require.InDelta(t, 0.3, post.NoiseSD, 0.05)
	d := summary(t, arms, "topic", "d")
	require.Zero(t, d.Evidence)
	require.Greater(t, d.Uncertainty, 3*a.Uncertainty, "no evidence: wide")
	x := summary(t, arms, "format", "x")
	require.InDelta(t, 0.2, math.Log(x.Lift), 0.06)
	require.InDelta(t, 400.0/3, a.Evidence, 30)
}

func TestFitWeighsByAgeNotByCall(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var obs []bandit.Observation
	dims := map[string][]string{"topic": {"a", "b"}, "format": {"x"}}
	// a was better long ago, b is better now.
	for i := range 200 {
		at := t0.Add(time.Duration(i) * 6 * time.Hour)
		w := world{{"topic", "a"}: 0.3, {"topic", "b"}: -0.3}
		if i >= 100 {
			w = world{{"topic", "a"}: -0.3, {"topic", "b"}: 0.3}
		}
		obs = append(obs, w.observe(rng, randomArms(rng, dims), at))
	}
	now := t0.Add(200 * 6 * time.Hour)
	opts := bandit.FitOptions{Now: now, HalfLife: 7 * 24 * time.Hour}
	_, arms, err := bandit.Fit(obs, opts)
	require.NoError(t, err)
	require.Greater(t, summary(t, arms, "topic", "b").Lift, summary(t, arms, "topic", "a").Lift, "recent evidence weighs more")
	// Same outcomes and time, shuffled: the same posterior (it depends on the outcomes, not on their order
	// or on how many runs saw them).
	shuffled := append([]bandit.Observation(nil), obs...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	_, again, err := bandit.Fit(shuffled, opts)
	require.NoError(t, err)
	for i := range arms {
		require.InDelta(t, arms[i].Lift, again[i].Lift, 1e-9)
		require.InDelta(t, arms[i].Uncertainty, again[i].Uncertainty, 1e-9)
	}
	// Without forgetting the two regimes cancel out.
	_, flat, err := bandit.Fit(obs, bandit.FitOptions{Now: now})
	require.NoError(t, err)
	require.InDelta(t, 1, summary(t, flat, "topic", "b").Lift, 0.1)
}

// changedWorld is 360 hourly posts where topic a is best until hour 300 (change) and c after it.
func changedWorld() (obs []bandit.Observation, change time.Time) {
	rng := rand.New(rand.NewPCG(5, 6))
	dims := map[string][]string{"topic": {"a", "b", "c"}, "format": {"x"}}
	change = t0.Add(300 * time.Hour)
	for i := range 360 {
		at := t0.Add(time.Duration(i) * time.Hour)
		w := world{{"topic", "a"}: 0.5, {"topic", "b"}: 0, {"topic", "c"}: 0}
		if !at.Before(change) {
			w = world{{"topic", "a"}: -0.5, {"topic", "b"}: 0, {"topic", "c"}: 0.5}
		}
		obs = append(obs, w.observe(rng, randomArms(rng, dims), at))
	}
	return obs, change
}

// requireFollowsChange checks that topic c is learned as the new best and a's change is found near change.
func requireFollowsChange(t *testing.T, post *bandit.Posterior, arms []bandit.ArmSummary, change time.Time) {
	t.Helper()
	a, c := summary(t, arms, "topic", "a"), summary(t, arms, "topic", "c")
	require.NotNil(t, a.Since)
	require.WithinDuration(t, change, *a.Since, 40*time.Hour)
	require.Greater(t, c.Lift, a.Lift)
	require.Less(t, math.Log(a.Lift), -0.4)
	require.Contains(t, post.Since, "topic:a")
}

func TestFitChangeTestFollowsANewBestArm(t *testing.T) {
	t.Parallel()
	obs, change := changedWorld()
	now := t0.Add(360 * time.Hour)
	_, plain, err := bandit.Fit(obs, bandit.FitOptions{Now: now, HalfLife: 14 * 24 * time.Hour})
	require.NoError(t, err)
	require.Greater(t, summary(t, plain, "topic", "a").Lift, summary(t, plain, "topic", "c").Lift,
		"half-life alone still trusts the old best arm")

	post, arms, err := bandit.Fit(obs, bandit.FitOptions{Now: now, HalfLife: 14 * 24 * time.Hour, ChangeZ: 4})
	require.NoError(t, err)
	requireFollowsChange(t, post, arms, change)
}

func TestPickSamplesAllowedArmsWithPropensities(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	// No posterior: the prior, every allowed arm equally likely.
	pick, err := (*bandit.Posterior)(nil).Pick([]bandit.Dimension{{Scope: "topic", Arms: []string{"a", "b", "c", "d"}},
		{Scope: "hour", Arms: []string{"9"}}}, rng)
	require.NoError(t, err)
	require.Equal(t, "9", pick.Arms[1])
	require.Equal(t, 1.0, pick.Props[1]["9"])
	sum := 0.0
	for _, p := range pick.Props[0] {
		require.InDelta(t, 0.25, p, 0.04)
		sum += p
	}
	require.InDelta(t, 1, sum, 1e-9)

	// A posterior where hour 10 is clearly best, 12 second: with 10 not allowed, 12 wins nearly always.
	var obs []bandit.Observation
	for i := range 300 {
		h := []string{"10", "11", "12"}[i%3]
		y := map[string]float64{"10": 0.8, "11": -0.5, "12": 0.3}[h] + math.Log(0.02) + rng.NormFloat64()*0.1
		obs = append(obs, bandit.Observation{Arms: []bandit.Feature{{"hour", h}}, LogRate: y, At: t0})
	}
	post, _, err := bandit.Fit(obs, bandit.FitOptions{Now: t0})
	require.NoError(t, err)
	pick, err = post.Pick([]bandit.Dimension{{Scope: "hour", Arms: []string{"11", "12"}}, {Scope: "topic", Arms: []string{"new", "newer"}}}, rng)
	require.NoError(t, err)
	require.Equal(t, "12", pick.Arms[0])
	require.Greater(t, pick.Props[0]["12"], 0.99)
	require.NotContains(t, pick.Props[0], "10")
	require.InDelta(t, 0.5, pick.Props[1]["new"], 0.05, "arms the model never saw are drawn from the prior")

	_, err = post.Pick([]bandit.Dimension{{Scope: "hour"}}, rng)
	require.Error(t, err)
}

func TestSamplerSharesReferenceDrawsBetweenPicks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	// Topic a clearly best; formats configured without evidence (the prior, exchangeable);
	// hooks the posterior does not know.
	var obs []bandit.Observation
	for i := range 300 {
		tp := []string{"a", "b", "c"}[i%3]
		y := map[string]float64{"a": 0.8, "b": 0, "c": -0.3}[tp] + math.Log(0.02) + rng.NormFloat64()*0.1
		obs = append(obs, bandit.Observation{Arms: []bandit.Feature{{"topic", tp}}, LogRate: y, At: t0})
	}
	formats := []string{"w", "x", "y", "z"}
	var configured []bandit.Feature
	for _, f := range formats {
		configured = append(configured, bandit.Feature{Scope: "format", Arm: f})
	}
	post, _, err := bandit.Fit(obs, bandit.FitOptions{Now: t0, Arms: configured})
	require.NoError(t, err)
	// Two plans' worth of allowed arms alternating, as rotation closes and reopens the best topic.
	variants := [][]bandit.Dimension{
		{{Scope: "topic", Arms: []string{"a", "b", "c"}}, {Scope: "format", Arms: formats}, {Scope: "hook", Arms: []string{"new", "newer"}}},
		{{Scope: "topic", Arms: []string{"b", "c"}}, {Scope: "format", Arms: formats[:3]}, {Scope: "hook", Arms: []string{"new", "newer"}}},
	}
	s := post.Sampler(rng)
	first := make([]*bandit.Pick, len(variants))
	for i := range 20 {
		dims := variants[i%2]
		pick, err := s.Pick(dims)
		require.NoError(t, err)
		oneShot, err := post.Pick(dims, rand.New(rand.NewPCG(uint64(i), 99)))
		require.NoError(t, err)
		for d, dim := range dims {
			require.Greater(t, pick.Props[d][pick.Arms[d]], 0.0, "a picked arm's propensity is never 0")
			for _, a := range dim.Arms {
				require.InDelta(t, oneShot.Props[d][a], pick.Props[d][a], 0.06, "pick %d %s:%s against a one-shot estimate", i, dim.Scope, a)
			}
		}
		if f := first[i%2]; f == nil {
			first[i%2] = &pick
		} else {
			// Same allowed arms: the reference draws' wins are the same, the picks' own draws differ.
			for d, dim := range dims {
				for _, a := range dim.Arms {
					require.Equal(t, refWins(f, d, a), refWins(&pick, d, a), "pick %d %s:%s", i, dim.Scope, a)
				}
			}
		}
	}
	p := first[0].Props
	require.Greater(t, p[0]["a"], 0.98)
	for _, f := range formats {
		require.InDelta(t, 0.25, p[1][f], 0.04, "arms of equal posteriors are equally likely")
	}
	for _, h := range []string{"new", "newer"} {
		require.InDelta(t, 0.5, p[2][h], 0.04, "arms the model never saw are drawn from the prior")
	}
}

func TestSamplerPropensitiesMatchPickFrequencies(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	// Topic a was posted mostly at hour 1 and b at hour 2, so their contrast is confounded with the hours'
	// (the posterior correlates them): each topic has a middling chance. Propensities come from the shared
	// reference draws, picks from fresh draws.
	var obs []bandit.Observation
	for i := range 20 {
		tp, h := "a", "1"
		if i%2 == 1 {
			tp, h = "b", "2"
		}
		if i%10 < 1 {
			h = map[string]string{"1": "2", "2": "1"}[h]
		}
		y := map[string]float64{"a": 0.04, "b": 0}[tp] + math.Log(0.02)
		obs = append(obs, bandit.Observation{Arms: []bandit.Feature{{"topic", tp}, {"hour", h}}, LogRate: y, At: t0})
	}
	post, _, err := bandit.Fit(obs, bandit.FitOptions{Now: t0})
	require.NoError(t, err)
	dims := []bandit.Dimension{{Scope: "topic", Arms: []string{"a", "b"}}}
	s := post.Sampler(rng)
	const picks = 4000
	count := map[string]float64{}
	var props map[string]float64
	for range picks {
		pick, err := s.Pick(dims)
		require.NoError(t, err)
		count[pick.Arms[0]]++
		props = pick.Props[0]
	}
	for _, a := range dims[0].Arms {
		require.Greater(t, props[a], 0.1, "%s has a middling chance", a)
		require.InDelta(t, count[a]/picks, props[a], 0.04, "topic %s", a)
	}
}

// refWins is how many reference draws arm won in pick's dimension d: its count less the pick's own draw.
func refWins(pick *bandit.Pick, d int, arm string) int {
	n := int(math.Round(pick.Props[d][arm] * bandit.PropensityDraws))
	if pick.Arms[d] == arm {
		n--
	}
	return n
}

func TestExploreRatio(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0.0, bandit.ExploreRatio(nil, []string{"a"}))
	require.Equal(t, 0.5, bandit.ExploreRatio([]string{"a", "b", "c", "a"}, []string{"a"}))
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

// Statistics kept in place of old observations give the same fit: built in batches, rolled forward at
// other times and merged out of order, they stand for the observations they summarise.
func TestFitStatsEqualsFitOnAllObservations(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	dims := map[string][]string{"topic": {"a", "b", "c"}, "format": {"x", "y"}}
	w := world{{"topic", "a"}: 0.4, {"topic", "c"}: -0.3, {"format", "x"}: 0.2}
	var obs []bandit.Observation
	for i := range 300 {
		obs = append(obs, w.observe(rng, randomArms(rng, dims), t0.Add(time.Duration(i)*3*time.Hour)))
	}
	half := 5 * 24 * time.Hour
	now := t0.Add(300 * 3 * time.Hour)
	opt := bandit.FitOptions{Now: now, HalfLife: half, Arms: []bandit.Feature{{"topic", "d"}}}
	wantPost, want, err := bandit.Fit(obs, opt)
	require.NoError(t, err)

	// The older 200 in two statistics, each filled in batches with a roll between them; the second
	// merged into the first at another time.
	s1, s2 := bandit.NewStats(t0, half), bandit.NewStats(t0.Add(1000*time.Hour), half)
	for i, o := range obs[:200] {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		s.Add(o)
		if i%37 == 0 {
			s.RollTo(o.At.Add(time.Duration(i) * time.Minute))
		}
	}
	s1.RollTo(t0.Add(500 * time.Hour))
	require.NoError(t, s1.Merge(s2))
	gotPost, got, err := bandit.FitStats(s1, obs[200:], opt)
	require.NoError(t, err)
	require.Equal(t, wantPost.Features, gotPost.Features)
	require.InDeltaSlice(t, wantPost.Mean, gotPost.Mean, 1e-9)
	require.InDelta(t, wantPost.NoiseSD, gotPost.NoiseSD, 1e-9)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Feature, got[i].Feature)
		require.InDelta(t, want[i].Lift, got[i].Lift, 1e-9, "%v", want[i].Feature)
		require.InDelta(t, want[i].Uncertainty, got[i].Uncertainty, 1e-9)
		require.InDelta(t, want[i].Evidence, got[i].Evidence, 1e-9)
	}
	require.Greater(t, summary(t, got, "topic", "a").Evidence, 10.0)
	require.Zero(t, summary(t, got, "topic", "d").Evidence)

	// Misuse is refused: another half-life, or arrays that do not fit the features.
	_, _, err = bandit.FitStats(s1, nil, bandit.FitOptions{Now: now, HalfLife: half / 2})
	require.Error(t, err)
	bad := s1.Clone()
	bad.B = bad.B[1:]
	_, _, err = bandit.FitStats(bad, nil, opt)
	require.Error(t, err)
	require.Error(t, bandit.NewStats(now, half).Merge(bandit.NewStats(now, half/2)))
}

// The change test still follows a new best arm when the old regime's earliest posts are statistics only.
func TestFitStatsChangeTestWithOlderStatistics(t *testing.T) {
	t.Parallel()
	obs, change := changedWorld()
	half := 14 * 24 * time.Hour
	old := bandit.NewStats(t0, half)
	for _, o := range obs[:150] {
		old.Add(o)
	}
	post, arms, err := bandit.FitStats(old, obs[150:], bandit.FitOptions{Now: t0.Add(360 * time.Hour), HalfLife: half, ChangeZ: 4})
	require.NoError(t, err)
	requireFollowsChange(t, post, arms, change)
	// a's evidence is its new regime's only (about 60/3 posts of a day or two), not its 120 earlier ones.
	require.Less(t, summary(t, arms, "topic", "a").Evidence, 40.0)
}
