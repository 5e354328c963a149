package bandit

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Feature is one arm of one dimension, a one-hot column of the model.
type Feature struct {
	Scope string `json:"scope"`
	Arm   string `json:"arm"`
}

// Observation is one learnable outcome: the arms the post had, its log engagement rate at the first
// reading (LogRate) and when it was posted (its age is measured from then).
type Observation struct {
	Arms    []Feature
	LogRate float64
	At      time.Time
}

// LogRate is the model's response: log((engagements+0.5)/(impressions+1)), finite even at zero engagements.
func LogRate(engagements, impressions float64) float64 {
	return math.Log((engagements + 0.5) / (impressions + 1))
}

// Prior is the model's prior: effects ~ N(0, EffectSD²) (log scale, so 0.3 is a lift between ×0.74 and
// ×1.35 at one sd), intercept ~ N(InterceptMean, InterceptSD²), noise sd NoiseSD with the weight of
// NoiseWeight observations.
type Prior struct {
	EffectSD      float64
	InterceptMean float64
	InterceptSD   float64
	NoiseSD       float64
	NoiseWeight   float64
}

// DefaultPrior is calibrated on engagement rates of a few percent with lifts up to about ×2 per arm
// (in `xbot sim-eval`, effect sd 0.3 measured a median regret ratio of 0.256, 0.5 measured 0.284).
var DefaultPrior = Prior{EffectSD: 0.3, InterceptMean: math.Log(0.02), InterceptSD: 3, NoiseSD: 0.5, NoiseWeight: 4}

// FitOptions are one fit's settings.
type FitOptions struct {
	Now      time.Time
	HalfLife time.Duration // an observation's weight is 2^(-age/HalfLife); 0: no forgetting
	Prior    Prior         // zero: DefaultPrior
	// Arms are included even without evidence (the configured arms), in this order, before any other.
	Arms []Feature
	// ChangeZ is the change test's threshold on an arm's residual shift (in standard errors); 0: no test.
	ChangeZ float64
	// ChangeMinPosts is how many posts each side of a change point needs at least (default 8).
	ChangeMinPosts int
}

// Posterior is the joint normal posterior of the effects: Mean[0] is the intercept, Mean[i+1] the effect
// of Features[i]; Chol is the lower Cholesky factor of the covariance, packed row-major (n×n, n =
// len(Mean)). Since holds the start of an arm's current regime when the change test found one.
type Posterior struct {
	Features []Feature            `json:"features"`
	Mean     []float64            `json:"mean"`
	Chol     []float64            `json:"chol"`
	NoiseSD  float64              `json:"noise_sd"`
	Since    map[string]time.Time `json:"since,omitempty"` // key: Scope + ":" + Arm
	EffectSD float64              `json:"effect_sd"`       // the prior's, for arms the model has not seen
}

// ArmSummary is what bandit_arms shows a person about one arm.
type ArmSummary struct {
	Feature
	Lift        float64    // exp(effect - the dimension's evidence-weighted mean effect): ×1.18 is 18% above the account's usual
	Uncertainty float64    // posterior sd of log(Lift)
	LiftLow     float64    // 90% credible interval of Lift
	LiftHigh    float64    //
	Evidence    float64    // age-weighted number of posts with this arm
	Since       *time.Time // start of the current regime after a detected change; nil: none
	ProbAbove   float64    // posterior probability that Lift > 1
}

// Fit is the Bayesian linear regression of LogRate on one-hot arms with normal priors, every observation
// weighted by its age. It is a pure function of its inputs: the same observations and Now give the same
// posterior however many times, and in whatever batches, they were learned.
//
// With ChangeZ > 0 each arm gets a change test: its posts' residuals under a first fit, in time order,
// split where the mean shift is largest; a shift above ChangeZ standard errors (with ChangeMinPosts posts
// each side) makes the arm's earlier posts a separate nuisance column, so its effect is learned from the
// current regime only while those posts still inform the other arms.
func Fit(obs []Observation, opt FitOptions) (*Posterior, []ArmSummary, error) {
	return FitStats(nil, obs, opt)
}

// FitStats is Fit over the observations base summarises and obs together, where base's are older than
// any of obs's: it gives Fit's result on all of them (up to rounding) when the change test finds nothing,
// and otherwise counts base's observations of a changed arm in its earlier regime. Only obs are
// change-tested. base must forget at opt.HalfLife; it is not changed. A nil base is no observations.
func FitStats(base *Stats, obs []Observation, opt FitOptions) (*Posterior, []ArmSummary, error) {
	if opt.HalfLife < 0 {
		return nil, nil, fmt.Errorf("bandit: negative half-life %v", opt.HalfLife)
	}
	if base != nil {
		if err := base.Validate(); err != nil {
			return nil, nil, err
		}
		if base.HalfLife != opt.HalfLife {
			return nil, nil, fmt.Errorf("bandit: statistics forget at %v, the fit at %v", base.HalfLife, opt.HalfLife)
		}
		base = base.Clone()
		base.RollTo(opt.Now)
	}
	if opt.Prior == (Prior{}) {
		opt.Prior = DefaultPrior
	}
	opt.ChangeMinPosts = cmp.Or(opt.ChangeMinPosts, 8)
	d := newDesign(base, obs, opt)
	f, err := d.fit(nil, opt.Prior)
	if err != nil {
		return nil, nil, err
	}
	if opt.ChangeZ > 0 {
		since := d.changePoints(f, opt)
		if len(since) > 0 {
			if f, err = d.fit(since, opt.Prior); err != nil {
				return nil, nil, err
			}
		}
	}
	post, err := f.posterior(len(d.features))
	if err != nil {
		return nil, nil, err
	}
	post.Features = d.features
	post.EffectSD = opt.Prior.EffectSD
	if len(f.since) > 0 {
		post.Since = map[string]time.Time{}
		for c, t := range f.since {
			post.Since[key(d.features[c-1])] = t
		}
	}
	return post, f.summaries(d.features), nil
}

// design is a fit's input in column numbers: column 0 is the intercept, column i+1 features[i].
type design struct {
	features []Feature
	base     *Stats
	baseCols []int // the column of base's column j
	obs      []Observation
	cols     [][]int // each observation's columns (0 first)
	w        []float64
}

func newDesign(base *Stats, obs []Observation, opt FitOptions) *design {
	d := &design{base: base, obs: obs, cols: make([][]int, len(obs)), w: make([]float64, len(obs))}
	index := map[Feature]int{}
	var extra []Feature
	add := func(f Feature, configured bool) {
		if _, ok := index[f]; ok {
			return
		}
		index[f] = -1
		if configured {
			d.features = append(d.features, f)
		} else {
			extra = append(extra, f)
		}
	}
	for _, f := range opt.Arms {
		add(f, true)
	}
	if base != nil {
		for _, f := range base.Features {
			add(f, false)
		}
	}
	for _, o := range obs {
		for _, f := range o.Arms {
			add(f, false)
		}
	}
	slices.SortFunc(extra, func(a, b Feature) int { return cmp.Or(cmp.Compare(a.Scope, b.Scope), cmp.Compare(a.Arm, b.Arm)) })
	d.features = append(d.features, extra...)
	for i, f := range d.features {
		index[f] = i + 1
	}
	if base != nil {
		d.baseCols = make([]int, len(base.Features)+1)
		for j, f := range base.Features {
			d.baseCols[j+1] = index[f]
		}
	}
	for i, o := range obs {
		cols := make([]int, 1, len(o.Arms)+1)
		for _, f := range o.Arms {
			cols = append(cols, index[f])
		}
		d.cols[i] = cols
		d.w[i] = weight(opt.Now.Sub(o.At), opt.HalfLife)
	}
	return d
}

// fit is one regression's result over the full design (current arms, then nuisance columns of arms'
// earlier regimes).
type fit struct {
	old     map[int]int       // a changed arm's column → the column of its earlier regime
	since   map[int]time.Time // a changed arm's column → the start of its current regime
	mean    []float64
	cov     []float64 // n×n
	a       []float64 // n×n: Σ w x x' (its diagonal is each column's weighted evidence)
	n       int
	noiseSD float64
}

func key(f Feature) string { return f.Scope + ":" + f.Arm }

// column is the design column of current column c for an observation at at.
func (f *fit) column(c int, at time.Time) int {
	if t, ok := f.since[c]; ok && at.Before(t) {
		return f.old[c]
	}
	return c
}

func (d *design) fit(since map[int]time.Time, prior Prior) (*fit, error) {
	n := len(d.features) + 1
	f := &fit{old: map[int]int{}, since: since}
	changed := slices.Sorted(maps.Keys(since))
	for _, c := range changed {
		f.old[c] = n
		n++
	}
	f.n = n
	// Weighted sufficient statistics: A = Σ w x x', b = Σ w x y, c = Σ w y², sw = Σ w.
	A := make([]float64, n*n)
	b := make([]float64, n)
	var c, sw float64
	if base := d.base; base != nil {
		// base's observations are older than any change point: a changed arm's go to its earlier regime.
		cols := make([]int, len(d.baseCols))
		for j, col := range d.baseCols {
			cols[j] = col
			if old, ok := f.old[col]; ok {
				cols[j] = old
			}
		}
		m := len(cols)
		for p := range m {
			b[cols[p]] += base.B[p]
			for q := range m {
				A[cols[p]*n+cols[q]] += base.A[p*m+q]
			}
		}
		c, sw = base.C, base.W
	}
	var cols []int
	for i, o := range d.obs {
		cols = cols[:0]
		for _, col := range d.cols[i] {
			cols = append(cols, f.column(col, o.At))
		}
		w := d.w[i]
		for _, p := range cols {
			b[p] += w * o.LogRate
			for _, q := range cols {
				A[p*n+q] += w
			}
		}
		c += w * o.LogRate * o.LogRate
		sw += w
	}
	prec0 := make([]float64, n)
	mean0 := make([]float64, n)
	for p := range n {
		prec0[p] = 1 / (prior.EffectSD * prior.EffectSD)
	}
	prec0[0] = 1 / (prior.InterceptSD * prior.InterceptSD)
	mean0[0] = prior.InterceptMean

	sigma2 := prior.NoiseSD * prior.NoiseSD
	L := make([]float64, n*n)
	rhs := make([]float64, n)
	for range 4 {
		for p := range n {
			for q := range n {
				L[p*n+q] = A[p*n+q] / sigma2
			}
			L[p*n+p] += prec0[p]
			rhs[p] = b[p]/sigma2 + prec0[p]*mean0[p]
		}
		if err := cholesky(L, n); err != nil {
			return nil, err
		}
		f.mean = cholSolve(L, n, rhs)
		// Weighted residual sum of squares from the statistics: c - 2μ'b + μ'Aμ.
		rss := c
		for p := range n {
			rss -= 2 * f.mean[p] * b[p]
			for q := range n {
				rss += f.mean[p] * A[p*n+q] * f.mean[q]
			}
		}
		nw := prior.NoiseWeight
		sigma2 = (max(rss, 0) + nw*prior.NoiseSD*prior.NoiseSD) / (sw + nw)
	}
	// Covariance at the final noise: (A/σ² + Λ0)^-1.
	for p := range n {
		for q := range n {
			L[p*n+q] = A[p*n+q] / sigma2
		}
		L[p*n+p] += prec0[p]
		rhs[p] = b[p]/sigma2 + prec0[p]*mean0[p]
	}
	if err := cholesky(L, n); err != nil {
		return nil, err
	}
	f.mean = cholSolve(L, n, rhs)
	f.cov = make([]float64, n*n)
	e := make([]float64, n)
	for q := range n {
		clear(e)
		e[q] = 1
		col := cholSolve(L, n, e)
		for p := range n {
			f.cov[p*n+q] = col[p]
		}
	}
	f.noiseSD = math.Sqrt(sigma2)
	f.a = A
	return f, nil
}

// posterior keeps the intercept and the current arms (the first m+1 columns): their marginal is the
// corresponding block of the covariance.
func (f *fit) posterior(m int) (*Posterior, error) {
	k := m + 1
	block := make([]float64, k*k)
	for p := range k {
		for q := range k {
			block[p*k+q] = f.cov[p*f.n+q]
		}
	}
	if err := cholesky(block, k); err != nil {
		return nil, err
	}
	return &Posterior{Mean: slices.Clone(f.mean[:k]), Chol: block, NoiseSD: f.noiseSD}, nil
}

// changePoints runs the change test of every arm (by column) on the residuals of a first fit.
func (d *design) changePoints(f *fit, opt FitOptions) map[int]time.Time {
	type res struct {
		at time.Time
		r  float64
	}
	perArm := make([][]res, len(d.features)+1)
	for i, o := range d.obs {
		pred := 0.0
		for _, c := range d.cols[i] {
			pred += f.mean[f.column(c, o.At)]
		}
		for _, c := range d.cols[i][1:] {
			perArm[c] = append(perArm[c], res{o.At, o.LogRate - pred})
		}
	}
	since := map[int]time.Time{}
	m := opt.ChangeMinPosts
	for c, rs := range perArm {
		if len(rs) < 2*m {
			continue
		}
		slices.SortStableFunc(rs, func(a, b res) int { return a.at.Compare(b.at) })
		total := 0.0
		for _, r := range rs {
			total += r.r
		}
		best, bestAt := 0.0, -1
		prefix := 0.0
		for i := range len(rs) - m + 1 {
			if i >= m {
				before, after := float64(i), float64(len(rs)-i)
				shift := (total-prefix)/after - prefix/before
				if z := math.Abs(shift) / (f.noiseSD * math.Sqrt(1/before+1/after)); z > best {
					best, bestAt = z, i
				}
			}
			prefix += rs[i].r
		}
		if bestAt >= 0 && best > opt.ChangeZ {
			since[c] = rs[bestAt].at
		}
	}
	return since
}

// summaries are the arms' lifts against their dimension's mean effect.
func (f *fit) summaries(features []Feature) []ArmSummary {
	// An arm's evidence is the weighted count of its current regime's posts: its column's diagonal.
	evidence := make([]float64, len(features)+1)
	for c := 1; c <= len(features); c++ {
		evidence[c] = f.a[c*f.n+c]
	}
	dims := map[string][]int{}
	var scopes []string
	for i, ft := range features {
		if _, ok := dims[ft.Scope]; !ok {
			scopes = append(scopes, ft.Scope)
		}
		dims[ft.Scope] = append(dims[ft.Scope], i+1)
	}
	out := make([]ArmSummary, 0, len(features))
	for _, scope := range scopes {
		cols := dims[scope]
		// The reference is the dimension's evidence-weighted mean effect (the account's usual mix); with
		// no evidence at all, the plain mean.
		ref := make([]float64, len(cols))
		total := 0.0
		for _, d := range cols {
			total += evidence[d]
		}
		for i, d := range cols {
			if total > 0 {
				ref[i] = evidence[d] / total
			} else {
				ref[i] = 1 / float64(len(cols))
			}
		}
		e := make([]float64, len(cols))
		for i, c := range cols {
			// contrast e = unit(c) - ref: mean e'μ, variance e'Σe.
			for j := range cols {
				e[j] = -ref[j]
			}
			e[i]++
			var mu, v float64
			for j, p := range cols {
				mu += e[j] * f.mean[p]
				for k, q := range cols {
					v += e[j] * e[k] * f.cov[p*f.n+q]
				}
			}
			sd := math.Sqrt(max(v, 0))
			ft := features[c-1]
			s := ArmSummary{Feature: ft, Lift: math.Exp(mu), Uncertainty: sd,
				LiftLow: math.Exp(mu - 1.645*sd), LiftHigh: math.Exp(mu + 1.645*sd), Evidence: evidence[c],
				ProbAbove: 0.5}
			if sd > 0 {
				s.ProbAbove = 0.5 * math.Erfc(-mu/(sd*math.Sqrt2))
			}
			if t, ok := f.since[c]; ok {
				s.Since = &t
			}
			out = append(out, s)
		}
	}
	return out
}

// cholesky factors the symmetric positive definite n×n matrix a in place into its lower factor L
// (a = L L'); the upper triangle is zeroed.
func cholesky(a []float64, n int) error {
	for j := range n {
		d := a[j*n+j]
		for k := range j {
			d -= a[j*n+k] * a[j*n+k]
		}
		if !(d > 0) {
			return errors.New("bandit: posterior precision is not positive definite")
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
		for k := j + 1; k < n; k++ {
			a[j*n+k] = 0
		}
	}
	return nil
}

// cholSolve solves (L L') x = b.
func cholSolve(L []float64, n int, b []float64) []float64 {
	y := make([]float64, n)
	for i := range n {
		s := b[i]
		for k := range i {
			s -= L[i*n+k] * y[k]
		}
		y[i] = s / L[i*n+i]
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < n; k++ {
			s -= L[k*n+i] * x[k]
		}
		x[i] = s / L[i*n+i]
	}
	return x
}
