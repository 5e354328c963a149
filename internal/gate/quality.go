package gate

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
)

// llmArtifacts are phrases that mean the model refused, apologised, talked about itself, or leaked an
// error, JSON or a template instead of writing a post. Matched case-insensitively anywhere in the text.
var llmArtifacts = []string{
	"i'm sorry", "i’m sorry", "i am sorry", "as an ai", "as a language model", "as an assistant",
	"i cannot", "i can't help", "i can’t help", "i can't assist", "i can’t assist", "i'm unable to", "i am unable to",
	"i won't be able to", "exception:", "traceback (most recent", "insufficient_quota",
	"```", "{\"", "\":", "[insert", "{topic}", "{hook}", "<topic>", "lorem ipsum", "here is a tweet", "here's a tweet",
	"here is your", "here's your",
}

// errorTextRE is error text: a text that starts with "error", or "error:" after a word that names a
// failing system ("API error:", "request error:").
var errorTextRE = regexp.MustCompile(`(?i)^\s*error\b|\b(?:api|request|internal|server|http|status|json|parse|model|openai|llm)\s+error:`)

// quality is the first gate: weighted length within the limit, no LLM artifact, hashtag and emoji
// limits, and a local score of at least MinQualityScore. It returns the score and, when blocking, a reason.
func (c *Chain) quality(cand Candidate) (float64, string) {
	text := strings.TrimSpace(cand.Text)
	score := Score(text)
	if text == "" {
		return 0, "empty text"
	}
	if n := c.cfg.WeightedLength(text); n > c.cfg.MaxLength {
		return score, fmt.Sprintf("too long: weighted length %d > %d", n, c.cfg.MaxLength)
	} else if n <= 0 {
		return score, "empty text"
	}
	lower := strings.ToLower(text)
	for _, a := range llmArtifacts {
		if strings.Contains(lower, a) {
			return score, fmt.Sprintf("llm artifact %q", a)
		}
	}
	if m := errorTextRE.FindString(text); m != "" {
		return score, fmt.Sprintf("error text %q", strings.TrimSpace(m))
	}
	if strings.HasPrefix(text, "{") || strings.HasPrefix(text, "[") || strings.HasSuffix(text, "}") {
		return score, "looks like JSON"
	}
	if n := len(hashtagRE.FindAllString(text, -1)); n > c.cfg.MaxHashtags {
		return score, fmt.Sprintf("%d hashtags > %d", n, c.cfg.MaxHashtags)
	}
	if n := countEmoji(text); n > c.cfg.MaxEmoji {
		return score, fmt.Sprintf("%d emoji > %d", n, c.cfg.MaxEmoji)
	}
	if score < c.cfg.MinQualityScore {
		return score, fmt.Sprintf("quality score %.2f < %.2f", score, c.cfg.MinQualityScore)
	}
	return score, ""
}

// Score is the local quality score in [0, 1]: the product of five factors, each 1 for a normal post.
//
//   - length: 1 for 60..240 characters (runes); below 60 it falls linearly to 0.3 at 10 and 0 for
//     shorter texts; above 240 it falls to 0.8 at 280.
//   - shouting: 1 when at most half of the letters (of a text with 12+ letters) are capitals, else 0.4.
//   - noise: 1 when at most 25% of the non-space characters are punctuation or symbols (emoji excluded),
//     falling linearly to 0 at 60%; a run of 4+ identical punctuation marks ("!!!!") costs a further 0.2.
//   - repetition: 1 when the most frequent word of length 3+ appears at most twice and at least 60% of
//     the words are distinct; else 0.5 (spam such as "buy buy buy now").
//   - structure: 1 for 4+ words including one of 4+ letters; 3 words 0.7; fewer 0.4.
func Score(text string) float64 {
	text = strings.TrimSpace(text)
	if text == "" {
		return 0
	}
	return lengthFactor(text) * shoutFactor(text) * noiseFactor(text) * repetitionFactor(text) * structureFactor(text)
}

func lengthFactor(text string) float64 {
	n := float64(len([]rune(text)))
	switch {
	case n < 10:
		return 0
	case n < 60:
		return 0.3 + 0.7*(n-10)/50
	case n <= 240:
		return 1
	default:
		return math.Max(0.8, 1-0.2*(n-240)/40)
	}
}

func shoutFactor(text string) float64 {
	letters, upper := 0, 0
	for _, r := range text {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	if letters >= 12 && float64(upper) > 0.5*float64(letters) {
		return 0.4
	}
	return 1
}

func noiseFactor(text string) float64 {
	total, noise := 0, 0
	run, prev := 0, rune(0)
	penalty := 1.0
	for _, r := range text {
		if unicode.IsSpace(r) {
			run, prev = 0, 0
			continue
		}
		total++
		if (unicode.IsPunct(r) || unicode.IsSymbol(r)) && !isEmoji(r) && r != 0xFE0F {
			noise++
			if r == prev {
				run++
			} else {
				run = 1
			}
			if run == 4 {
				penalty = 0.8
			}
		} else {
			run = 0
		}
		prev = r
	}
	share := float64(noise) / float64(max(total, 1))
	switch {
	case share <= 0.25:
		return penalty
	case share >= 0.6:
		return 0
	default:
		return penalty * (1 - (share-0.25)/0.35)
	}
}

func repetitionFactor(text string) float64 {
	ws := contentWords(text)
	if len(ws) == 0 {
		return 1
	}
	freq := map[string]int{}
	top := 0
	for _, w := range ws {
		freq[w]++
		if len([]rune(w)) >= 3 {
			top = max(top, freq[w])
		}
	}
	if top > 2 || (len(ws) >= 5 && float64(len(freq)) < 0.6*float64(len(ws))) {
		return 0.5
	}
	return 1
}

func structureFactor(text string) float64 {
	ws := contentWords(text)
	long := false
	for _, w := range ws {
		if len([]rune(w)) >= 4 {
			long = true
		}
	}
	switch {
	case len(ws) >= 4 && long:
		return 1
	case len(ws) >= 3:
		return 0.7
	default:
		return 0.4
	}
}
