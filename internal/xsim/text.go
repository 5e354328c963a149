package xsim

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	mentionRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_])@([A-Za-z0-9_]{1,15})`)
	// urlRE finds what X turns into links: with a scheme, or a bare domain of a common top-level domain not
	// preceded by '@' (an e-mail address) or part of a longer word. Trailing punctuation is not part of a
	// link (see linkSpans).
	urlRE = regexp.MustCompile(`(?i)https?://[^\s<>"]+|(?:^|[^\w@.\-/#$])((?:[a-z0-9-]+\.)+(?:com|org|net|io|co|ly|dev|ai|app)\b(?:/[^\s<>"]*)?)`)
)

// linkSpans are the byte ranges of the links in s, trailing punctuation excluded, as X's autolinker does.
func linkSpans(s string) [][2]int {
	var out [][2]int
	for _, m := range urlRE.FindAllStringSubmatchIndex(s, -1) {
		start, end := m[0], m[1]
		if m[2] >= 0 {
			start, end = m[2], m[3]
		}
		u := strings.TrimRight(s[start:end], ".,:;!?'\"")
		for strings.HasSuffix(u, ")") && strings.Count(u, "(") < strings.Count(u, ")") {
			u = strings.TrimRight(strings.TrimSuffix(u, ")"), ".,:;!?'\"")
		}
		if u != "" {
			out = append(out, [2]int{start, start + len(u)})
		}
	}
	return out
}

// xText is a post's text as X returns it, before entity escaping: a reply starts with the replied-to
// author's "@handle " (unless the text already starts with it), and every link is a t.co link. It
// returns the text, where the displayed part starts (in code points) and the link entities.
func xText(p Post, replyToHandle string) (string, int, []map[string]any) {
	prefix := ""
	if replyToHandle != "" && !strings.HasPrefix(strings.ToLower(p.Text), "@"+strings.ToLower(replyToHandle)+" ") {
		prefix = "@" + replyToHandle + " "
	}
	var sb strings.Builder
	sb.WriteString(prefix)
	var links []map[string]any
	last := 0
	for i, sp := range linkSpans(p.Text) {
		sb.WriteString(p.Text[last:sp[0]])
		orig := p.Text[sp[0]:sp[1]]
		short := tcoLink(p.ID, i)
		start := utf8.RuneCountInString(sb.String())
		sb.WriteString(short)
		expanded := orig
		if !strings.Contains(orig, "://") {
			expanded = "http://" + orig
		}
		display := strings.TrimPrefix(strings.TrimPrefix(expanded, "https://"), "http://")
		if utf8.RuneCountInString(display) > 26 {
			display = string([]rune(display)[:25]) + "…"
		}
		links = append(links, map[string]any{"start": start, "end": start + utf8.RuneCountInString(short),
			"url": short, "expanded_url": expanded, "display_url": display})
		last = sp[1]
	}
	sb.WriteString(p.Text[last:])
	return sb.String(), utf8.RuneCountInString(prefix), links
}

// tcoLink is the t.co link X gives the i-th link of post id: 23 characters, stable for the post.
func tcoLink(id int64, i int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%d/%d", id, i)
	n := h.Sum64()
	b := make([]byte, 10)
	for j := range b {
		b[j] = alphabet[n%62]
		n /= 62
	}
	return "https://t.co/" + string(b)
}

// escapeEntities is what X does to "&", "<" and ">" in the text it returns.
var escapeEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

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
	for _, loc := range linkSpans(s) {
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
