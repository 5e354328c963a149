package bandit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
)

// Scopes of bandit_arms.scope: one independent bandit per dimension.
const (
	ScopeTopic  = "topic"
	ScopeFormat = "format"
	ScopeHook   = "hook"
	ScopeHour   = "hour"
	ScopeReply  = "reply"
)

// Scopes lists every scope, in the order a plan samples them.
func Scopes() []string { return []string{ScopeTopic, ScopeFormat, ScopeHook, ScopeHour, ScopeReply} }

// ReplyDefaultArm is the reply scope's arm for a reply stored without a topic.
const ReplyDefaultArm = "default"

// PropensityDraws is how many joint posterior draws Sample uses to estimate a pick's propensity. The
// estimate's standard error is at most 0.5/sqrt(PropensityDraws), about 0.008.
const PropensityDraws = 4000

// Arm is one arm of one bandit: a Beta(Alpha, Beta) posterior over its success probability. Alpha-1 and
// Beta-1 are the (discounted) successes and failures seen; Pulls counts the times a plan picked it.
type Arm struct {
	Name  string
	Alpha float64
	Beta  float64
	Pulls int64
}

// NewArm returns an arm at the prior Beta(1, 1).
func NewArm(name string) Arm { return Arm{Name: name, Alpha: 1, Beta: 1} }

// Mean is the posterior mean Alpha/(Alpha+Beta).
func (a Arm) Mean() float64 { return a.Alpha / (a.Alpha + a.Beta) }

// HourArms are the hour scope's arm names, "0".."23" (hours in ACCOUNT_TZ).
func HourArms() []string {
	out := make([]string, 24)
	for h := range out {
		out[h] = strconv.Itoa(h)
	}
	return out
}

// Sample is one Thompson-sampling pick: the arm whose posterior draw is highest. propensity is the
// probability that this arm wins a posterior draw, estimated by Monte Carlo over PropensityDraws joint
// draws from rng, the first of which is the pick itself (so propensity >= 1/PropensityDraws, never 0).
// Ties go to the earlier arm. It panics on no arms: callers always configure at least one per scope.
func Sample(arms []Arm, rng *rand.Rand) (pick string, propensity float64) {
	if len(arms) == 0 {
		panic("bandit: Sample with no arms")
	}
	if len(arms) == 1 {
		return arms[0].Name, 1
	}
	first := Thompson(arms, rng)
	wins := 1
	for range PropensityDraws - 1 {
		if Thompson(arms, rng) == first {
			wins++
		}
	}
	return arms[first].Name, float64(wins) / PropensityDraws
}

// Thompson is one joint posterior draw: the index of the arm whose Beta draw is highest (ties to the
// earlier arm). It panics on no arms.
func Thompson(arms []Arm, rng *rand.Rand) int {
	if len(arms) == 0 {
		panic("bandit: Thompson with no arms")
	}
	best, bestDraw := 0, math.Inf(-1)
	for i, a := range arms {
		if x := BetaDraw(rng, a.Alpha, a.Beta); x > bestDraw {
			best, bestDraw = i, x
		}
	}
	return best
}

// Evidence is what one learning run saw for an arm: rewards of 1 (Successes) and of 0 (Failures).
type Evidence struct {
	Successes float64
	Failures  float64
}

// Reward is the reward rule of DESIGN.md section 7: 1 if the post's engagement rate at the first reading
// beats the account's trailing 30-day median, else 0. A post without a rate (no impressions) earns 0.
func Reward(firstER float64, hasER bool, median float64) bool {
	return hasER && firstER > median
}

// Update is one learning run on one bandit: every arm's (Alpha-1, Beta-1) is multiplied by discount (so
// old evidence fades and drifting tastes are followed), then each arm's new evidence is added. An arm
// with evidence but not in arms is added from the prior. The result is sorted like arms, new arms last in
// name order; arms is not modified.
func Update(arms []Arm, evidence map[string]Evidence, discount float64) ([]Arm, error) {
	if discount < 0 || discount > 1 || math.IsNaN(discount) {
		return nil, fmt.Errorf("bandit: discount %v outside [0, 1]", discount)
	}
	out := make([]Arm, 0, len(arms)+len(evidence))
	seen := make(map[string]bool, len(arms))
	for _, a := range arms {
		a.Alpha = 1 + (a.Alpha-1)*discount
		a.Beta = 1 + (a.Beta-1)*discount
		out = append(out, a)
		seen[a.Name] = true
	}
	var added []string
	for name := range evidence {
		if !seen[name] {
			added = append(added, name)
		}
	}
	sort.Strings(added)
	for _, name := range added {
		out = append(out, NewArm(name))
	}
	for i := range out {
		e := evidence[out[i].Name]
		if e.Successes < 0 || e.Failures < 0 {
			return nil, fmt.Errorf("bandit: negative evidence for arm %q", out[i].Name)
		}
		out[i].Alpha += e.Successes
		out[i].Beta += e.Failures
	}
	return out, nil
}

// Best returns the names of the arms with the highest posterior mean (several when tied).
func Best(arms []Arm) []string {
	var best []string
	top := math.Inf(-1)
	for _, a := range arms {
		switch m := a.Mean(); {
		case m > top:
			top, best = m, []string{a.Name}
		case m == top:
			best = append(best, a.Name)
		}
	}
	return best
}

// ExploreRatio is the share of picks that were not an arm with the highest posterior mean (any of the
// tied best counts as exploiting). Picks of names not among arms count as exploring. No picks: 0.
func ExploreRatio(picks []string, arms []Arm) float64 {
	if len(picks) == 0 {
		return 0
	}
	best := Best(arms)
	explored := 0
	for _, p := range picks {
		if !slices.Contains(best, p) {
			explored++
		}
	}
	return float64(explored) / float64(len(picks))
}
