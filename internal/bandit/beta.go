package bandit

import (
	"math"
	"math/rand/v2"
)

// BetaDraw draws from Beta(a, b) as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b).
func BetaDraw(rng *rand.Rand, a, b float64) float64 {
	x := gammaDraw(rng, a)
	y := gammaDraw(rng, b)
	if x+y == 0 {
		// Both shapes tiny enough to underflow: fall back to the mean.
		return a / (a + b)
	}
	return x / (x + y)
}

// gammaDraw draws from Gamma(shape, 1) by Marsaglia and Tsang's squeeze method (ACM TOMS 26(3), 2000);
// shapes below 1 use the boost Gamma(k) = Gamma(k+1) * U^(1/k).
func gammaDraw(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		return gammaDraw(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x {
			return d * v
		}
		if math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
