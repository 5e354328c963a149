package config

import (
	"encoding/json"
	"fmt"
	"os"
)

// Default content dimensions; CONTENT_* or CONTENT_CONFIG replace them.
var (
	DefaultTopics  = []string{"go_programming", "postgres", "distributed_systems", "developer_productivity", "observability"}
	DefaultFormats = []string{"tip", "question", "story", "hot_take", "list"}
	DefaultHooks   = []string{"bold_claim", "question", "number", "contrarian", "none"}
	DefaultVoice   = "You write for a senior software engineer's X account: plain, specific, practical, no hype, no hashtags unless asked, at most one emoji."
)

// contentFile is the shape of the CONTENT_CONFIG JSON file.
type contentFile struct {
	Topics  []string `json:"topics"`
	Formats []string `json:"formats"`
	Hooks   []string `json:"hooks"`
	Voice   string   `json:"voice"`
}

// loadContentConfig fills what the environment left empty from the CONTENT_CONFIG file.
func (c *Config) loadContentConfig() error {
	b, err := os.ReadFile(c.ContentConfig)
	if err != nil {
		return fmt.Errorf("a readable JSON file (%v)", err)
	}
	var f contentFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf(`a JSON file {"topics":[],"formats":[],"hooks":[],"voice":""} (%v)`, err)
	}
	if len(c.ContentTopics) == 0 {
		c.ContentTopics = f.Topics
	}
	if len(c.ContentFormats) == 0 {
		c.ContentFormats = f.Formats
	}
	if len(c.ContentHooks) == 0 {
		c.ContentHooks = f.Hooks
	}
	if c.VoicePrompt == "" {
		c.VoicePrompt = f.Voice
	}
	return nil
}
