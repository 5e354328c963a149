package gate

import (
	"fmt"
	"strings"
)

// defaultDenyTerms are obviously unsafe phrases: self-harm taunts, threats, scams, credential phishing
// and prompt-injection residue. Matched on word boundaries, case-insensitively.
func defaultDenyTerms() []string {
	return []string{
		"kill yourself", "kys", "i will kill", "i'll kill you", "you should die", "go die",
		"send me your password", "your password", "seed phrase", "private key", "social security number",
		"credit card number", "home address", "dm me your", "guaranteed returns", "crypto giveaway",
		"double your bitcoin", "send btc", "send eth", "free money", "click here",
		"ignore previous instructions", "ignore all previous", "ignore the above", "system prompt",
		"my instructions", "developer mode", "jailbreak",
	}
}

// promptEchoWords is the length of a verbatim word run shared with our prompt that counts as an echo.
// A prompt shorter than this is compared whole when it has at least minEchoWords words.
const (
	promptEchoWords = 8
	minEchoWords    = 5
)

// safety is the second gate: no URL and no @handle the prompt did not supply, no echo of our prompt,
// nothing on the deny list.
func (c *Chain) safety(cand Candidate) string {
	allowedURL := map[string]bool{}
	for _, u := range cand.AllowedURLs {
		allowedURL[normURL(u)] = true
	}
	for _, u := range urlRE.FindAllString(cand.Text, -1) {
		if !allowedURL[normURL(u)] {
			return fmt.Sprintf("link not supplied by the prompt: %s", truncate(u, 60))
		}
	}
	allowedHandle := map[string]bool{}
	for _, h := range cand.AllowedHandles {
		allowedHandle[strings.ToLower(strings.TrimPrefix(strings.TrimSpace(h), "@"))] = true
	}
	for _, m := range handleRE.FindAllStringSubmatch(cand.Text, -1) {
		if !allowedHandle[strings.ToLower(m[1])] {
			return fmt.Sprintf("handle not supplied by the prompt: @%s", m[1])
		}
	}
	text := words(cand.Text)
	for _, p := range cand.PromptEcho {
		if run := sharedRun(text, words(p)); run != "" {
			return fmt.Sprintf("echoes our prompt: %q", truncate(run, 60))
		}
	}
	for _, d := range c.deny {
		if containsRun(text, d) {
			return fmt.Sprintf("deny list: %q", strings.Join(d, " "))
		}
	}
	return ""
}

// sharedRun returns a run of promptEchoWords consecutive words (or the whole prompt, when it is shorter
// but at least minEchoWords long) that appears verbatim in text, or "".
func sharedRun(text, prompt []string) string {
	n := min(promptEchoWords, len(prompt))
	if n < minEchoWords {
		return ""
	}
	grams := make(map[string]bool, len(prompt))
	for i := 0; i+n <= len(prompt); i++ {
		grams[strings.Join(prompt[i:i+n], " ")] = true
	}
	for i := 0; i+n <= len(text); i++ {
		if g := strings.Join(text[i:i+n], " "); grams[g] {
			return g
		}
	}
	return ""
}

// containsRun reports whether the word sequence needle occurs in text.
func containsRun(text, needle []string) bool {
	for i := 0; i+len(needle) <= len(text); i++ {
		match := true
		for j, w := range needle {
			if text[i+j] != w {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// normURL compares links loosely: case-folded, without scheme, "www.", trailing punctuation or slash.
func normURL(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	u = strings.TrimRight(u, ".,;:!?)]}'\"")
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	u = strings.TrimPrefix(u, "www.")
	return strings.TrimRight(u, "/")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
