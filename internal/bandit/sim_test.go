package bandit_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/bandit"
)

// The simulation: a hidden engagement rate per arm combination (topic x format x hook x hour), 300 posts,
// learning in batches as the learn job does, and the cumulative regret (best combination's ER minus the
// chosen one's, summed) of the baseline against uniform random. Deterministic: every world is seeded.

const (
	simPosts    = 300
	simBatch    = 5    // LEARN_MIN_OUTCOMES: a learn run folds in this many outcomes at a time
	simLag      = 3    // outcomes arrive a few posts after the post (ANALYTICS_DELAY)
	simDiscount = 0.97 // LEARN_DISCOUNT
	simWorlds   = 40
)

var simDims = []int{5, 5, 5, 24} // topics, formats, hooks, hours

// simWorld is one hidden taste: log-ER effects per arm of each dimension plus a small interaction term.
type simWorld struct {
	effects [][]float64
	inter   map[[4]int]float64
	base    float64
	rng     *rand.Rand
}

func newSimWorld(seed uint64) *simWorld {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := &simWorld{base: math.Log(0.03), inter: map[[4]int]float64{}, rng: rng}
	spread := []float64{0.35, 0.25, 0.25, 0.2}
	for d, n := range simDims {
		e := make([]float64, n)
		for i := range e {
			e[i] = rng.NormFloat64() * spread[d]
		}
		w.effects = append(w.effects, e)
	}
	return w
}

// er is the hidden expected engagement rate of a combination.
func (w *simWorld) er(c [4]int) float64 {
	x := w.base
	for d, i := range c {
		x += w.effects[d][i]
	}
	v, ok := w.inter[c]
	if !ok {
		v = w.rng.NormFloat64() * 0.05
		w.inter[c] = v
	}
	return math.Min(math.Exp(x+v), 0.5)
}

// observe is one post's first-reading ER: binomial engagements over ~1000 impressions, with virality noise.
func (w *simWorld) observe(c [4]int, rng *rand.Rand) float64 {
	p := math.Min(w.er(c)*math.Exp(rng.NormFloat64()*0.3), 1)
	impressions := 500 + rng.IntN(1000)
	eng := 0
	for range impressions {
		if rng.Float64() < p {
			eng++
		}
	}
	return float64(eng) / float64(impressions)
}

func (w *simWorld) bestER() float64 {
	best := 0.0
	var c [4]int
	var rec func(d int)
	rec = func(d int) {
		if d == len(simDims) {
			best = math.Max(best, w.er(c))
			return
		}
		for i := range simDims[d] {
			c[d] = i
			rec(d + 1)
		}
	}
	rec(0)
	return best
}

type simPolicy interface {
	choose(rng *rand.Rand) [4]int
	learn(batch []simOutcome)
}

type simOutcome struct {
	combo [4]int
	er    float64
}

type randomPolicy struct{}

func (randomPolicy) choose(rng *rand.Rand) [4]int {
	var c [4]int
	for d, n := range simDims {
		c[d] = rng.IntN(n)
	}
	return c
}
func (randomPolicy) learn([]simOutcome) {}

// baselinePolicy is DESIGN.md section 7's baseline exactly as the learn job runs it: one Beta bandit per
// dimension, reward 1 when the ER beats the median of every ER seen so far (the trailing 30 days).
type baselinePolicy struct {
	arms     [][]bandit.Arm
	seen     []float64
	discount float64
}

func newBaseline(discount float64) *baselinePolicy {
	p := &baselinePolicy{discount: discount}
	for _, n := range simDims {
		arms := make([]bandit.Arm, n)
		for i := range arms {
			arms[i] = bandit.NewArm(string(rune('a' + i)))
		}
		p.arms = append(p.arms, arms)
	}
	return p
}

func (p *baselinePolicy) choose(rng *rand.Rand) [4]int {
	var c [4]int
	for d := range simDims {
		c[d] = bandit.Thompson(p.arms[d], rng)
	}
	return c
}

func (p *baselinePolicy) learn(batch []simOutcome) {
	for _, o := range batch {
		p.seen = append(p.seen, o.er)
	}
	median := simMedian(p.seen)
	for d := range simDims {
		ev := map[string]bandit.Evidence{}
		for _, o := range batch {
			name := p.arms[d][o.combo[d]].Name
			e := ev[name]
			if bandit.Reward(o.er, true, median) {
				e.Successes++
			} else {
				e.Failures++
			}
			ev[name] = e
		}
		arms, err := bandit.Update(p.arms[d], ev, p.discount)
		if err != nil {
			panic(err)
		}
		p.arms[d] = arms
	}
}

func simMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// simRegret runs one policy in one world and returns its cumulative regret over simPosts posts.
func simRegret(w *simWorld, p simPolicy, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 0xacc7))
	best := w.bestER()
	var regret float64
	var pending, ready []simOutcome
	for post := range simPosts {
		c := p.choose(rng)
		regret += best - w.er(c)
		pending = append(pending, simOutcome{combo: c, er: w.observe(c, rng)})
		if post >= simLag {
			ready = append(ready, pending[0])
			pending = pending[1:]
		}
		if len(ready) >= simBatch {
			p.learn(ready)
			ready = nil
		}
	}
	return regret
}

func simRatio(newPolicy func() simPolicy) float64 {
	var ours, random float64
	for world := range uint64(simWorlds) {
		w := newSimWorld(world + 1)
		ours += simRegret(w, newPolicy(), world+100)
		random += simRegret(w, randomPolicy{}, world+100)
	}
	return ours / random
}

func TestSimulationBaselineBeatsRandom(t *testing.T) {
	t.Parallel()
	ratio := simRatio(func() simPolicy { return newBaseline(simDiscount) })
	t.Logf("baseline cumulative regret over %d posts = %.3f of uniform random's (%d worlds)", simPosts, ratio, simWorlds)
	// Measured: 0.551. The world is stationary, so forgetting only costs here: without the discount
	// the same baseline measures 0.479.
	require.Less(t, ratio, 0.6, "the baseline must learn")
	noDiscount := simRatio(func() simPolicy { return newBaseline(1) })
	t.Logf("baseline without discount = %.3f of uniform random's", noDiscount)
	require.Less(t, noDiscount, ratio, "in a stationary world the discount only forgets")
	// Deterministic: the same seeds give the same number.
	require.Equal(t, ratio, simRatio(func() simPolicy { return newBaseline(simDiscount) }))
}
