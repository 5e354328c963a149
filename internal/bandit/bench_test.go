package bandit_test

import (
	"math/rand/v2"
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
