package bandit

import (
	"slices"
	"strconv"
)

// Scopes of bandit_arms.scope: the post model's dimensions (topic, format, hook, hour) and the reply
// model's one.
const (
	ScopeTopic  = "topic"
	ScopeFormat = "format"
	ScopeHook   = "hook"
	ScopeHour   = "hour"
	ScopeReply  = "reply"
)

// PostScopes are the post model's dimensions, in the order a plan samples them.
func PostScopes() []string { return []string{ScopeTopic, ScopeFormat, ScopeHook, ScopeHour} }

// ReplyDefaultArm is the reply scope's arm for a reply stored without a topic.
const ReplyDefaultArm = "default"

// PropensityDraws is how many joint posterior draws Pick uses to estimate a pick's propensity: the pick's
// own and PropensityDraws-1 reference draws, which a Sampler shares between the picks of a plan (so the
// estimates of one plan's picks err together). The estimate's standard error is at most
// 0.5/sqrt(PropensityDraws), about 0.01.
const PropensityDraws = 2500

// HourArms are the hour scope's arm names, "0".."23" (hours in ACCOUNT_TZ).
func HourArms() []string {
	out := make([]string, 24)
	for h := range out {
		out[h] = strconv.Itoa(h)
	}
	return out
}

// ExploreRatio is the share of picks that were not among best (the arms with the highest lift of their
// scope). No picks: 0.
func ExploreRatio(picks []string, best []string) float64 {
	if len(picks) == 0 {
		return 0
	}
	explored := 0
	for _, p := range picks {
		if !slices.Contains(best, p) {
			explored++
		}
	}
	return float64(explored) / float64(len(picks))
}
