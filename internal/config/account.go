package config

import (
	"fmt"
	"sort"
	"strings"
)

// accountSettings are the variables one account may override (xbot accounts set), with the short keys an
// operator may type instead. An account's value is parsed by the same rules as the variable's.
var accountSettings = map[string]string{
	"topics": "CONTENT_TOPICS", "formats": "CONTENT_FORMATS", "hooks": "CONTENT_HOOKS", "voice": "VOICE_PROMPT",
	"reply_queries": "REPLY_QUERIES", "posts_per_day": "MAX_POSTS_PER_DAY", "posts_per_plan": "POSTS_PER_PLAN",
	"spacing": "MIN_POST_SPACING", "replies_per_day": "REPLIES_PER_DAY", "replies_per_hour": "REPLIES_PER_HOUR",
	"timezone": "ACCOUNT_TZ", "budget_usd": "BUDGET_USD", "quiet_hours": "QUIET_HOURS",
}

// AccountSettingName returns the variable an account setting key names (a short key such as posts_per_day,
// or the variable itself), or false when an account cannot override it.
func AccountSettingName(key string) (string, bool) {
	k := strings.TrimSpace(key)
	if name, ok := accountSettings[strings.ToLower(k)]; ok {
		return name, true
	}
	for _, name := range accountSettings {
		if strings.EqualFold(k, name) {
			return name, true
		}
	}
	return "", false
}

// AccountSettingKeys lists the short keys, sorted (for usage messages).
func AccountSettingKeys() []string {
	out := make([]string, 0, len(accountSettings))
	for k := range accountSettings {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ValidateAccountSetting checks one setting as `xbot accounts set` receives it and returns its variable name.
// An empty value is valid: it removes the account's override.
func ValidateAccountSetting(key, value string) (string, error) {
	name, ok := AccountSettingName(key)
	if !ok {
		return "", &Error{Name: key, Value: value, Allowed: "not an account setting; one of " + strings.Join(AccountSettingKeys(), ", ")}
	}
	base, err := Parse(func(string) (string, bool) { return "", false }, Defaults{})
	if err != nil {
		return "", err
	}
	if _, err := base.ForAccount(map[string]string{name: value}); err != nil {
		return "", err
	}
	return name, nil
}

// ForAccount returns the configuration one account runs with: its settings (variable name → value, as
// stored) on top of c. A stored value that no longer parses is an error naming the variable.
func (c *Config) ForAccount(settings map[string]string) (*Config, error) {
	p := &parser{lookup: func(name string) (string, bool) { v, ok := settings[name]; return v, ok }}
	out := *c
	out.ContentTopics = p.list("CONTENT_TOPICS", c.ContentTopics)
	out.ContentFormats = p.list("CONTENT_FORMATS", c.ContentFormats)
	out.ContentHooks = p.list("CONTENT_HOOKS", c.ContentHooks)
	out.VoicePrompt = p.str("VOICE_PROMPT", c.VoicePrompt)
	out.ReplyQueries = p.list("REPLY_QUERIES", c.ReplyQueries)
	out.MaxPostsPerDay = p.integer("MAX_POSTS_PER_DAY", c.MaxPostsPerDay, 1, 1000)
	out.PostsPerPlan = p.integer("POSTS_PER_PLAN", c.PostsPerPlan, 1, 20)
	out.MinPostSpacing = p.duration("MIN_POST_SPACING", c.MinPostSpacing, 0)
	out.RepliesPerDay = p.integer("REPLIES_PER_DAY", c.RepliesPerDay, 0, 10000)
	out.RepliesPerHour = p.integer("REPLIES_PER_HOUR", c.RepliesPerHour, 0, 1000)
	if _, ok := settings["ACCOUNT_TZ"]; ok {
		out.AccountTZ = p.location("ACCOUNT_TZ", c.AccountTZ.String())
	}
	out.QuietHours = p.quietHours("QUIET_HOURS", c.QuietHours)
	out.AccountBudgetUSD, out.HasAccountBudget = 0, false
	if _, ok := p.raw("BUDGET_USD"); ok {
		out.AccountBudgetUSD, out.HasAccountBudget = p.float("BUDGET_USD", 0, 0, 1e6), true
	}
	if p.err != nil {
		return nil, p.err
	}
	if len(out.ContentTopics) == 0 || len(out.ContentFormats) == 0 || len(out.ContentHooks) == 0 {
		return nil, fmt.Errorf("config: an account's topics, formats and hooks must not be empty")
	}
	return &out, nil
}
