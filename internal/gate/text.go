package gate

import (
	"regexp"
	"strings"
	"unicode"
)

var (
	urlRE     = regexp.MustCompile(`(?i)\b(?:https?://|www\.)[^\s<>"]+|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|ly|co|dev|ai|app|gg|me|xyz|info|biz|link|site|tv|us|uk|de|ru|cn|to)\b(?:/[^\s<>"]*)?`)
	handleRE  = regexp.MustCompile(`(?:^|[^\p{L}\p{N}_@])@([A-Za-z0-9_]{1,15})`)
	hashtagRE = regexp.MustCompile(`(?:^|[^\p{L}\p{N}_&])[#＃][\p{L}\p{N}_]+`)
)

// words splits s into lower-cased words of letters, digits and inner apostrophes, the unit every text
// comparison in the chain uses.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '’')
	})
}

// contentWords are the words of s with its URLs and @handles removed.
func contentWords(s string) []string {
	s = urlRE.ReplaceAllString(s, " ")
	s = handleRE.ReplaceAllString(s, " ")
	var out []string
	for _, w := range words(s) {
		if w = strings.Trim(w, "'’"); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// isEmoji reports whether r is a pictographic emoji (not a modifier, joiner or variation selector).
func isEmoji(r rune) bool {
	switch {
	case r >= 0x1F300 && r <= 0x1FAFF, // pictographs, emoticons, transport, supplemental symbols
		r >= 0x1F000 && r <= 0x1F2FF, // mahjong, cards, enclosed alphanumerics and ideographs
		r >= 0x2600 && r <= 0x27BF,   // miscellaneous symbols, dingbats
		r >= 0x2B00 && r <= 0x2BFF,   // arrows and stars such as ⭐
		r == 0x203C || r == 0x2049 || r == 0x2122 || r == 0x2139 || r == 0x3030 || r == 0x303D:
		return !(r >= 0x1F3FB && r <= 0x1F3FF) // skin tone modifiers belong to the emoji before them
	}
	return false
}

// countEmoji counts emoji as a reader sees them: a ZWJ sequence or a regional-indicator flag is one.
func countEmoji(s string) int {
	n := 0
	prevJoiner, pendingFlag := false, false
	for _, r := range s {
		switch {
		case r == 0x200D:
			prevJoiner = true
			continue
		case r >= 0x1F1E6 && r <= 0x1F1FF: // regional indicators pair into one flag
			if !pendingFlag {
				n++
			}
			pendingFlag = !pendingFlag
		case isEmoji(r):
			if !prevJoiner {
				n++
			}
			pendingFlag = false
		default:
			pendingFlag = false
		}
		prevJoiner = false
	}
	return n
}
