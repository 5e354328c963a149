package bandit_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/xbot/xbot/internal/bandit"
)

// BenchmarkFitStats is a learn run's arithmetic for the post model: statistics plus a window of 1,000
// posts over 6 topics, 5 formats, 5 hooks and 24 hours, with the change test.
func BenchmarkFitStats(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	dims := []struct {
		scope string
		n     int
	}{{"topic", 6}, {"format", 5}, {"hook", 5}, {"hour", 24}}
	half := 14 * 24 * time.Hour
	base := bandit.NewStats(t0, half)
	var window []bandit.Observation
	for i := range 5000 {
		var arms []bandit.Feature
		for _, d := range dims {
			arms = append(arms, bandit.Feature{Scope: d.scope, Arm: strconv.Itoa(rng.IntN(d.n))})
		}
		o := bandit.Observation{Arms: arms, LogRate: -3.5 + rng.NormFloat64()*0.5, At: t0.Add(time.Duration(i) * 2 * time.Hour)}
		if i < 4000 {
			base.Add(o)
		} else {
			window = append(window, o)
		}
	}
	opt := bandit.FitOptions{Now: t0.Add(5000 * 2 * time.Hour), HalfLife: half, ChangeZ: 3, ChangeMinPosts: 8}
	b.ResetTimer()
	for range b.N {
		if _, _, err := bandit.FitStats(base, window, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanPicks is one plan's sampling: 20 picks (POSTS_PER_PLAN at its maximum) from a posterior fitted
// on 1,000 posts over 8 topics, 4 formats, 4 hooks and 24 hours, each pick closing its hour (its slot is
// taken) and its topic for the next pick (the rotation gate), as the plan worker does. oneshot is a
// Posterior.Pick per pick; sampler shares one Sampler's reference draws between the plan's picks.
func BenchmarkPlanPicks(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	arms := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = prefix + strconv.Itoa(i)
		}
		return out
	}
	topics, formats, hooks, hours := arms("t", 8), arms("f", 4), arms("h", 4), bandit.HourArms()
	var obs []bandit.Observation
	for i := range 1000 {
		o := bandit.Observation{LogRate: -3.5 + rng.NormFloat64()*0.5, At: t0.Add(time.Duration(i) * time.Hour)}
		for d, names := range [][]string{topics, formats, hooks, hours} {
			o.Arms = append(o.Arms, bandit.Feature{Scope: bandit.PostScopes()[d], Arm: names[rng.IntN(len(names))]})
		}
		obs = append(obs, o)
	}
	post, _, err := bandit.Fit(obs, bandit.FitOptions{Now: t0.Add(1000 * time.Hour), HalfLife: 14 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	plan := func(b *testing.B, pick func([]bandit.Dimension) (bandit.Pick, error)) {
		open := slices.Clone(hours)
		last := ""
		for range 20 {
			allowed := slices.DeleteFunc(slices.Clone(topics), func(t string) bool { return t == last })
			pk, err := pick([]bandit.Dimension{{Scope: bandit.ScopeTopic, Arms: allowed}, {Scope: bandit.ScopeFormat, Arms: formats},
				{Scope: bandit.ScopeHook, Arms: hooks}, {Scope: bandit.ScopeHour, Arms: open}})
			if err != nil {
				b.Fatal(err)
			}
			last = pk.Arms[0]
			open = slices.DeleteFunc(open, func(h string) bool { return h == pk.Arms[3] })
		}
	}
	b.Run("oneshot", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		for range b.N {
			plan(b, func(dims []bandit.Dimension) (bandit.Pick, error) { return post.Pick(dims, rng) })
		}
	})
	b.Run("sampler", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		for range b.N {
			plan(b, post.Sampler(rng).Pick)
		}
	})
}
