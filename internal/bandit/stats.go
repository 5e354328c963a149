package bandit

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Stats are the age-weighted sufficient statistics of a set of observations over one-hot columns:
// A = Σ w x x', B = Σ w x y, C = Σ w y² and W = Σ w, where x's column 0 is the intercept and column i+1
// is Features[i], y the observation's LogRate and w its weight at At, 2^(-(At - its time)/HalfLife).
// With exponential forgetting they roll forward exactly (every weight times 2^(-dt/HalfLife)) and add
// up, so a learner can keep them in place of the observations they summarise.
type Stats struct {
	At       time.Time
	HalfLife time.Duration // 0: no forgetting
	Features []Feature
	A        []float64 // (len(Features)+1)², row-major
	B        []float64 // len(Features)+1
	C, W     float64
	index    map[string]int
}

// NewStats are the statistics of no observations at at.
func NewStats(at time.Time, halfLife time.Duration) *Stats {
	return &Stats{At: at, HalfLife: halfLife, A: []float64{0}, B: []float64{0}}
}

// Validate checks that the arrays fit the features (statistics read back from storage).
func (s *Stats) Validate() error {
	n := len(s.Features) + 1
	if len(s.A) != n*n || len(s.B) != n {
		return fmt.Errorf("bandit: statistics of %d features have %d and %d entries", len(s.Features), len(s.A), len(s.B))
	}
	if s.HalfLife < 0 {
		return fmt.Errorf("bandit: negative half-life %v", s.HalfLife)
	}
	return nil
}

// weight is 2^(-age/halfLife); 1 without forgetting. Ages below zero (an observation after the reference
// time) weigh more than 1, so that rolling forward stays exact.
func weight(age, halfLife time.Duration) float64 {
	if halfLife <= 0 {
		return 1
	}
	return math.Exp2(-float64(age) / float64(halfLife))
}

// column is f's column, added (with zero statistics) if it is new.
func (s *Stats) column(f Feature) int {
	if s.index == nil {
		s.index = make(map[string]int, len(s.Features))
		for i, g := range s.Features {
			s.index[key(g)] = i + 1
		}
	}
	if c, ok := s.index[key(f)]; ok {
		return c
	}
	n := len(s.Features) + 1
	a := make([]float64, (n+1)*(n+1))
	for p := range n {
		copy(a[p*(n+1):p*(n+1)+n], s.A[p*n:(p+1)*n])
	}
	s.A, s.B = a, append(s.B, 0)
	s.Features = append(s.Features, f)
	s.index[key(f)] = n
	return n
}

// Add counts one observation at its weight at s.At.
func (s *Stats) Add(o Observation) {
	w := weight(s.At.Sub(o.At), s.HalfLife)
	cols := []int{0}
	for _, f := range o.Arms {
		cols = append(cols, s.column(f))
	}
	n := len(s.Features) + 1
	for _, p := range cols {
		s.B[p] += w * o.LogRate
		for _, q := range cols {
			s.A[p*n+q] += w
		}
	}
	s.C += w * o.LogRate * o.LogRate
	s.W += w
}

// RollTo moves the reference time to at: every weight is multiplied by 2^(-(at - s.At)/HalfLife).
func (s *Stats) RollTo(at time.Time) {
	f := weight(at.Sub(s.At), s.HalfLife)
	s.At = at
	if f == 1 {
		return
	}
	for i := range s.A {
		s.A[i] *= f
	}
	for i := range s.B {
		s.B[i] *= f
	}
	s.C *= f
	s.W *= f
}

// Merge adds o's statistics (rolled to s.At; o is not changed). Both must forget at the same half-life.
func (s *Stats) Merge(o *Stats) error {
	if o.HalfLife != s.HalfLife {
		return fmt.Errorf("bandit: merge statistics of half-life %v into %v", o.HalfLife, s.HalfLife)
	}
	f := weight(s.At.Sub(o.At), s.HalfLife)
	cols := make([]int, len(o.Features)+1)
	for i, g := range o.Features {
		cols[i+1] = s.column(g)
	}
	n, m := len(s.Features)+1, len(o.Features)+1
	for p := range m {
		s.B[cols[p]] += f * o.B[p]
		for q := range m {
			s.A[cols[p]*n+cols[q]] += f * o.A[p*m+q]
		}
	}
	s.C += f * o.C
	s.W += f * o.W
	return nil
}

// Clone is a deep copy.
func (s *Stats) Clone() *Stats {
	return &Stats{At: s.At, HalfLife: s.HalfLife, Features: slices.Clone(s.Features), A: slices.Clone(s.A),
		B: slices.Clone(s.B), C: s.C, W: s.W}
}
