package xapi

import (
	"regexp"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// X returns a post's text transformed: "&", "<" and ">" entity-escaped, a reply prefixed with the
// replied-to author's "@handle " (display_text_range says where the displayed text starts) and every link
// replaced by a t.co link (the original in entities.urls[].expanded_url). SameText undoes what can be
// undone and compares the rest, so reconciliation recognises our own post.

// unescape decodes exactly the entities X writes, once: a literal "&amp;" we sent comes back "&amp;amp;".
var unescape = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// leadingMentions are "@handle" tokens at the start of a text, as X prefixes replies with them.
var leadingMentions = regexp.MustCompile(`^(?:\s*@[A-Za-z0-9_]{1,15}\b)+\s*`)

// linkToken stands for any link: X turns each into a t.co link of its own choosing.
const linkToken = "\x00link\x00"

// SameText reports whether p, as X returned it, is the post we made with text ours, replying to replyTo
// (empty for a post that is not a reply). It decodes X's entities, drops the mentions X put in front of a
// reply (from display_text_range, and any leading mentions of a reply on both sides), counts every link as
// one link whatever its URL, normalises to NFC and collapses whitespace. A reply must also reference
// replyTo as the post it replies to.
func SameText(ours, replyTo string, p Post) bool {
	if replyTo != "" && p.InReplyTo != replyTo {
		return false
	}
	if replyTo == "" && p.InReplyTo != "" {
		return false
	}
	theirs := displayedText(p)
	a, b := comparable(ours, replyTo != ""), comparable(theirs, replyTo != "")
	return a != "" && a == b
}

// displayedText is p's text with X's entities decoded and the part before display_text_range cut off.
func displayedText(p Post) string {
	text := unescape.Replace(p.Text)
	if p.DisplayStart > 0 {
		runes := []rune(text)
		if p.DisplayStart <= len(runes) {
			text = string(runes[p.DisplayStart:])
		}
	}
	return text
}

// comparable is text in the form both sides are compared in.
func comparable(text string, reply bool) string {
	text = norm.NFC.String(text)
	if reply {
		text = leadingMentions.ReplaceAllString(text, "")
	}
	spans := urlSpans(text)
	if len(spans) > 0 {
		var sb strings.Builder
		last := 0
		for _, s := range spans {
			sb.WriteString(text[last:s[0]])
			sb.WriteString(linkToken)
			last = s[1]
		}
		sb.WriteString(text[last:])
		text = sb.String()
	}
	return strings.Join(strings.Fields(text), " ")
}
