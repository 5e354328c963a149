package xsim

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	mentionRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_])@([A-Za-z0-9_]{1,15})`)
	urlRE     = regexp.MustCompile(`https?://[^\s]+|\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|co|ly|dev|ai|app)(?:/[^\s]*)?`)
)

// normalizeText is what the duplicate rule compares: case, whitespace runs and surrounding space ignored.
func normalizeText(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// mentionsIn lists the lower-cased usernames mentioned in s, once each.
func mentionsIn(s string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, m := range mentionRE.FindAllStringSubmatch(s, -1) {
		u := strings.ToLower(m[1])
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// weightedLength approximates X's weighted character count: a URL counts 23, characters outside the
// Latin, general-punctuation and similar low ranges (CJK, emoji) count 2, the rest 1.
func weightedLength(s string) int {
	n := 0
	for _, loc := range urlRE.FindAllStringIndex(s, -1) {
		n += 23
		s = s[:loc[0]] + strings.Repeat("\x00", loc[1]-loc[0]) + s[loc[1]:]
	}
	for _, r := range s {
		switch {
		case r == 0:
			// part of a URL already counted
		case r == utf8.RuneError:
			n++
		case r <= 0x10FF, r >= 0x2000 && r <= 0x200D, r >= 0x2010 && r <= 0x201F, r >= 0x2032 && r <= 0x2037:
			n++
		case unicode.Is(unicode.Mn, r):
			// combining marks and variation selectors ride on the previous character
		default:
			n += 2
		}
	}
	return n
}
