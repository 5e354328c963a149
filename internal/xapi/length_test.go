package xapi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xapi"
)

func TestWeightedLength(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "Hello, world!", 13},
		{"latin accents weigh 1", "café naïve", 10},
		{"decomposed accent is normalised first", "cafe\u0301", 4},
		{"CJK weighs 2", "你好世界", 8},
		{"japanese mixed", "Go言語", 6},
		{"korean", "안녕", 4},
		{"light punctuation ranges", "\u2014\u2018\u2019\u201c\u201d\u2032", 6},
		{"ellipsis is outside the light ranges", "\u2026", 2},
		{"non-light punctuation", "\u2030", 2},
		{"https url counts 23", "read https://example.com/a/very/long/path?with=query&and=more", 5 + 23},
		{"short url counts 23", "see http://a.co", 4 + 23},
		{"bare domain counts 23", "visit example.com today", 6 + 23 + 6},
		{"bare domain with path", "go.dev/doc/effective_go is good", 23 + 8},
		{"trailing period is not part of the url", "https://x.com/a.", 23 + 1},
		{"url in parentheses", "(https://x.com/a)", 1 + 23 + 1},
		{"two urls", "https://a.com https://b.com", 23 + 1 + 23},
		{"email is not a url", "mail me@example.com", 19},
		{"not a domain", "version 1.2.3 and e.g. this", 27},
		{"simple emoji", "🔥", 2},
		{"emoji with text", "ship it 🚀🚀", 8 + 4},
		{"heart with VS16", "❤️", 2},
		{"heart without VS16", "❤", 2},
		{"skin tone", "👍🏽", 2},
		{"ZWJ family", "👨‍👩‍👧‍👦", 2},
		{"ZWJ profession with tone", "👩🏽‍💻", 2},
		{"flag", "🇫🇷", 2},
		{"two flags", "🇫🇷🇩🇪", 4},
		{"keycap", "1️⃣", 2},
		{"keycap without VS16", "#⃣", 2},
		{"copyright text style", "©", 1},
		{"copyright emoji style", "©️", 2},
		{"subdivision flag tags", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2},
		{"digits stay digits", "2024", 4},
		{"hashtag", "#golang", 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, xapi.WeightedLength(tc.text), "%q", tc.text)
		})
	}
}

func TestFitsInPost(t *testing.T) {
	t.Parallel()
	require.True(t, xapi.FitsInPost(strings.Repeat("a", 280)))
	require.False(t, xapi.FitsInPost(strings.Repeat("a", 281)))
	require.True(t, xapi.FitsInPost(strings.Repeat("字", 140)))
	require.False(t, xapi.FitsInPost(strings.Repeat("字", 141)))
	require.True(t, xapi.FitsInPost(strings.Repeat("a", 256)+" https://example.com/"+strings.Repeat("x", 100)))
	require.False(t, xapi.FitsInPost(strings.Repeat("a", 257)+" https://example.com/"))
}
