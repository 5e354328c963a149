package xapi

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxWeightedLength is X's limit for a post's weighted length.
const MaxWeightedLength = 280

// urlWeight is what X counts for any URL: every link is shortened to a t.co link of this length.
const urlWeight = 23

// lightRanges are the code points that weigh 1 (twitter-text configuration v3); all others weigh 2.
var lightRanges = [...][2]rune{{0, 4351}, {8192, 8205}, {8208, 8223}, {8242, 8247}}

// urlPattern finds links as X does, conservatively: with a scheme, or a bare domain ending in a common
// generic top-level domain or any two-letter country domain. Counting a non-link as 23 errs on the safe
// side for a length gate.
var urlPattern = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"]+|` +
	`(?:^|[^\w@.\-/#$])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+` +
	`(?:com|org|net|edu|gov|mil|int|info|biz|name|pro|io|ai|app|dev|co|me|tv|xyz|online|site|tech|store|blog|news|shop|ly|gg|so|[a-z]{2})` +
	`\b(?::\d{1,5})?(?:/[^\s<>"]*)?)`)

// WeightedLength is X's weighted length of text (twitter-text v3): after NFC normalisation every URL
// counts 23, every emoji sequence (flags, keycaps, skin tones, ZWJ families) 2, code points in the
// light ranges (Latin and most punctuation) 1 and everything else (CJK, most symbols) 2.
func WeightedLength(text string) int {
	text = norm.NFC.String(text)
	spans := urlSpans(text)
	n := 0
	for i := 0; i < len(text); {
		if len(spans) > 0 && i == spans[0][0] {
			n += urlWeight
			i = spans[0][1]
			spans = spans[1:]
			continue
		}
		if end := emojiEnd(text, i); end > i {
			n += 2
			i = end
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		n += runeWeight(r)
		i += size
	}
	return n
}

// FitsInPost reports whether text is within X's limit.
func FitsInPost(text string) bool { return WeightedLength(text) <= MaxWeightedLength }

func runeWeight(r rune) int {
	for _, lr := range lightRanges {
		if r >= lr[0] && r <= lr[1] {
			return 1
		}
	}
	return 2
}

// urlSpans returns the byte ranges of the links in text, trailing punctuation excluded.
func urlSpans(text string) [][2]int {
	var out [][2]int
	for _, m := range urlPattern.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[0], m[1]
		if m[2] >= 0 { // bare domain: the group excludes the preceding character
			start, end = m[2], m[3]
		}
		u := strings.TrimRight(text[start:end], ".,:;!?'\"")
		for strings.HasSuffix(u, ")") && strings.Count(u, "(") < strings.Count(u, ")") {
			u = strings.TrimRight(strings.TrimSuffix(u, ")"), ".,:;!?'\"")
		}
		if u == "" {
			continue
		}
		out = append(out, [2]int{start, start + len(u)})
	}
	return out
}

const (
	zwj     = 0x200D
	vs16    = 0xFE0F
	keycap  = 0x20E3
	tagEnd  = 0xE007F
	riFirst = 0x1F1E6
	riLast  = 0x1F1FF
)

func isRegional(r rune) bool { return r >= riFirst && r <= riLast }
func isSkinTone(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }
func isTag(r rune) bool      { return r >= 0xE0020 && r <= 0xE007E }

// isPictographic approximates Extended_Pictographic plus the text-style symbols that become emoji with
// U+FE0F.
func isPictographic(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF && !isRegional(r) && !isSkinTone(r):
		return true
	case r >= 0x2600 && r <= 0x27BF, r >= 0x2300 && r <= 0x23FF, r >= 0x2B00 && r <= 0x2BFF,
		r >= 0x2190 && r <= 0x21FF, r >= 0x25A0 && r <= 0x25FF, r >= 0x2934 && r <= 0x2935:
		return true
	}
	switch r {
	case 0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299:
		return true
	}
	return false
}

// emojiEnd returns the end of an emoji sequence starting at byte i, or i when none starts there. A
// symbol that weighs 1 on its own (©, #) is an emoji only with U+FE0F or as a keycap.
func emojiEnd(s string, i int) int {
	r, size := utf8.DecodeRuneInString(s[i:])
	next := func(at int) (rune, int) {
		if at >= len(s) {
			return utf8.RuneError, 0
		}
		return utf8.DecodeRuneInString(s[at:])
	}
	j := i + size
	switch {
	case r == '#' || r == '*' || (r >= '0' && r <= '9'):
		k := j
		if n, sz := next(k); n == vs16 {
			k += sz
		}
		if n, sz := next(k); n == keycap {
			return k + sz
		}
		return i
	case isRegional(r):
		if n, sz := next(j); isRegional(n) {
			return j + sz
		}
		return j
	case !isPictographic(r):
		return i
	}
	textStyle := runeWeight(r) == 1
	for {
		// modifiers of the element just read
		hasVS := false
		for {
			n, sz := next(j)
			if n == vs16 {
				hasVS = true
			} else if !isSkinTone(n) && !isTag(n) && n != tagEnd {
				break
			}
			j += sz
		}
		if textStyle && !hasVS {
			return i
		}
		textStyle = false
		n, sz := next(j)
		if n != zwj {
			return j
		}
		m, msz := next(j + sz)
		if !isPictographic(m) {
			return j // a trailing ZWJ is not part of the emoji
		}
		j += sz + msz
	}
}
