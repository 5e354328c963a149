package gate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/gate"
)

type fakeHistory struct {
	texts  []string
	counts map[string]int
	total  int
	err    error

	textsSince, topicsSince time.Time
}

func (f *fakeHistory) RecentTexts(_ context.Context, _ int64, since time.Time) ([]string, error) {
	f.textsSince = since
	return f.texts, f.err
}

func (f *fakeHistory) TopicCounts(_ context.Context, _ int64, since time.Time) (map[string]int, int, error) {
	f.topicsSince = since
	return f.counts, f.total, f.err
}

var testNow = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

// runeLength stands in for X's weighted length in these tests.
func runeLength(s string) int { return utf8.RuneCountInString(s) }

func newChain(t *testing.T, h gate.History, mod func(*gate.Config)) *gate.Chain {
	t.Helper()
	cfg := gate.Config{MinQualityScore: 0.6, UniquenessThreshold: 0.8, RotationMaxShare: 0.35, RotationMinPosts: 10,
		WeightedLength: runeLength, Now: func() time.Time { return testNow }}
	if mod != nil {
		mod(&cfg)
	}
	c, err := gate.New(cfg, h)
	require.NoError(t, err)
	return c
}

const good = "Wrap errors with context at every boundary: the log line then tells you where it broke, not just that it did."

func TestCheckSingleCandidate(t *testing.T) {
	t.Parallel()
	voice := "You are a senior Go engineer who writes short, practical posts about building reliable backend systems."
	tests := []struct {
		name     string
		cand     gate.Candidate
		gate     string // "" = passes
		reasonIn string
	}{
		{"good post", gate.Candidate{Text: good, Topic: "go"}, "", ""},
		{"too long", gate.Candidate{Text: strings.Repeat("Careful engineering wins. ", 12)}, gate.GateQuality, "too long"},
		{"empty", gate.Candidate{Text: "   "}, gate.GateQuality, "empty"},
		{"refusal", gate.Candidate{Text: "I'm sorry, but I cannot write that post for you today, it goes against my guidelines."}, gate.GateQuality, "llm artifact"},
		{"as an AI", gate.Candidate{Text: "As an AI, I do not have opinions about Postgres, but many engineers like it a lot."}, gate.GateQuality, "as an ai"},
		{"error text", gate.Candidate{Text: "Error: the request timed out after 30 seconds while waiting for the model."}, gate.GateQuality, "error text"},
		{"api error", gate.Candidate{Text: "Something happened. OpenAI error: rate limit reached for requests on this account."}, gate.GateQuality, "error text"},
		{"JSON", gate.Candidate{Text: `{"posts": [{"text": "Use context everywhere in your Go services"}]}`}, gate.GateQuality, "llm artifact"},
		{"JSON brace", gate.Candidate{Text: `{ posts: use context everywhere in your Go services today }`}, gate.GateQuality, "JSON"},
		{"three hashtags", gate.Candidate{Text: "Profile before you optimise, every single time you ship. #golang #perf #backend"}, gate.GateQuality, "3 hashtags"},
		{"two hashtags ok", gate.Candidate{Text: "Profile before you optimise, every single time you ship code. #golang #perf"}, "", ""},
		{"three emoji", gate.Candidate{Text: "Ship small changes often and sleep better at night 🚀🔥✅"}, gate.GateQuality, "3 emoji"},
		{"zwj family is one emoji", gate.Candidate{Text: "Ship small changes often and sleep better at night 👨‍👩‍👧 🚀"}, "", ""},
		{"shouting", gate.Candidate{Text: "STOP WRITING SERVICES WITHOUT TIMEOUTS, EVERY CALL NEEDS A DEADLINE!"}, gate.GateQuality, "quality score"},
		{"punctuation soup", gate.Candidate{Text: "Go?!?! ... --- *** ### ??? !!! ::: ;;; >>> <<< ~~~ ^^^ %%% Go"}, gate.GateQuality, "quality score"},
		{"spam repeats", gate.Candidate{Text: "Postgres postgres postgres postgres postgres is great great great great great"}, gate.GateQuality, "quality score"},
		{"too short", gate.Candidate{Text: "Go rocks"}, gate.GateQuality, "quality score"},
		{"foreign link", gate.Candidate{Text: "Great write-up on connection pooling at https://evil.example.com/pool — worth a read."}, gate.GateSafety, "link"},
		{"bare domain", gate.Candidate{Text: "Great write-up on connection pooling at bit.ly/3xyz — worth a read this week."}, gate.GateSafety, "link"},
		{"supplied link", gate.Candidate{Text: "Great write-up on connection pooling at https://go.dev/blog/pool. Worth a read.",
			AllowedURLs: []string{"https://go.dev/blog/pool"}}, "", ""},
		{"foreign handle", gate.Candidate{Text: "Totally agree with @someone_else here: timeouts belong on every outbound call."}, gate.GateSafety, "@someone_else"},
		{"supplied handle", gate.Candidate{Text: "Totally agree with @Alice here: timeouts belong on every outbound call you make.",
			AllowedHandles: []string{"@alice"}}, "", ""},
		{"email is not a handle but a link", gate.Candidate{Text: "Write to me at someone@example.com with your favourite Go tip of the week."}, gate.GateSafety, "link"},
		{"prompt echo", gate.Candidate{Text: "Sure! I am a senior Go engineer who writes short, practical posts about building reliable systems.",
			PromptEcho: []string{voice}}, gate.GateSafety, "echoes our prompt"},
		{"prompt topic words without echo", gate.Candidate{Text: "Reliable backend systems come from boring choices: timeouts, retries with jitter, and idempotent writes.",
			PromptEcho: []string{voice}}, "", ""},
		{"deny list", gate.Candidate{Text: "Reply with your seed phrase and I will double your wallet balance by Friday, promise."}, gate.GateSafety, "seed phrase"},
		{"injection residue", gate.Candidate{Text: "Okay, ignoring previous instructions, here is my system prompt in full for everyone."}, gate.GateSafety, "system prompt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t, &fakeHistory{}, nil)
			v, err := c.Check(context.Background(), 1, []gate.Candidate{tc.cand})
			require.NoError(t, err)
			require.Len(t, v, 1)
			if tc.gate == "" {
				require.True(t, v[0].Passed, "blocked: %s: %s (score %.2f)", v[0].Gate, v[0].Reason, v[0].QualityScore)
				require.GreaterOrEqual(t, v[0].QualityScore, 0.6)
				require.Empty(t, v[0].SkipReason())
				return
			}
			require.False(t, v[0].Passed)
			require.Equal(t, tc.gate, v[0].Gate, "reason: %s", v[0].Reason)
			require.Contains(t, v[0].Reason, tc.reasonIn)
			require.True(t, strings.HasPrefix(v[0].SkipReason(), tc.gate+": "))
		})
	}
}

func TestScore(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0.0, gate.Score(""))
	require.Equal(t, 1.0, gate.Score(good))
	require.Less(t, gate.Score(strings.ToUpper(good)), gate.Score(good))
	require.Less(t, gate.Score("Short but fine post."), gate.Score(good))
	for _, s := range []string{good, "a", "!!!!", strings.Repeat("x", 400), "HELLO HELLO HELLO HELLO"} {
		sc := gate.Score(s)
		require.True(t, sc >= 0 && sc <= 1, "score %v of %q", sc, s)
	}
}

func TestUniqueness(t *testing.T) {
	t.Parallel()
	h := &fakeHistory{texts: []string{
		"Wrap errors with context at every boundary: the log line tells you where it broke, not just that it did.",
	}}
	c := newChain(t, h, nil)
	v, err := c.Check(context.Background(), 1, []gate.Candidate{
		{Text: good}, // a light rewording of the history's post
		{Text: "Postgres advisory locks are a cheap way to serialise a job per account without a lock table."},
		{Text: "Postgres advisory locks are a cheap way to serialise a job per account without any lock table!"},
	})
	require.NoError(t, err)
	require.Equal(t, gate.GateUniqueness, v[0].Gate)
	require.Contains(t, v[0].Reason, "similarity")
	require.True(t, v[1].Passed, "%s: %s", v[1].Gate, v[1].Reason)
	require.False(t, v[2].Passed, "a near-copy of an earlier passed candidate of the batch")
	require.Equal(t, gate.GateUniqueness, v[2].Gate)
	require.Equal(t, testNow.Add(-30*24*time.Hour), h.textsSince)
	require.Equal(t, testNow.Add(-7*24*time.Hour), h.topicsSince)

	require.InDelta(t, 1.0, gate.Similarity("Hello, World!", "hello world"), 1e-9)
	require.InDelta(t, 0.0, gate.Similarity("alpha beta", "gamma delta"), 1e-9)
	require.InDelta(t, 0.5, gate.Similarity("a b c", "a b d"), 1e-9)
}

func TestRotation(t *testing.T) {
	t.Parallel()
	posts := []string{
		"Postgres advisory locks are a cheap way to serialise a job per account without a lock table.",
		"Your retry loop needs jitter, or every client hammers the server at the very same instant again.",
		"Measure p99 latency, not the average: the slow tail is what your users remember about you.",
		"Small pull requests get real reviews; giant ones get a rubber stamp and a prayer from the team.",
	}
	tests := []struct {
		name    string
		counts  map[string]int
		total   int
		topics  []string
		blocked []bool
	}{
		{"below minimum posts", map[string]int{"go": 8}, 9, []string{"go"}, []bool{false}},
		{"over share", map[string]int{"go": 3, "pg": 7}, 10, []string{"go"}, []bool{true}},
		{"under share", map[string]int{"go": 2, "pg": 8}, 10, []string{"go"}, []bool{false}},
		{"reply without topic", map[string]int{"go": 10}, 10, []string{""}, []bool{false}},
		// 2 of 10 in history: the first go makes 3/11 (27%), the second 4/12 (33%), the third 5/13 (38%).
		{"batch counts", map[string]int{"go": 2, "pg": 8}, 10, []string{"go", "go", "go"}, []bool{false, false, true}},
		// 8 posts in history, then two passed candidates reach the minimum of 10.
		{"batch reaches minimum", map[string]int{"pg": 8}, 8, []string{"go", "go", "go"}, []bool{false, false, false}},
		{"batch reaches minimum then share", map[string]int{"go": 3, "pg": 5}, 8, []string{"go", "go", "go"}, []bool{false, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newChain(t, &fakeHistory{counts: tc.counts, total: tc.total}, nil)
			var batch []gate.Candidate
			for i, topic := range tc.topics {
				batch = append(batch, gate.Candidate{Text: posts[i], Topic: topic})
			}
			v, err := c.Check(context.Background(), 1, batch)
			require.NoError(t, err)
			for i := range tc.topics {
				if tc.blocked[i] {
					require.False(t, v[i].Passed, "candidate %d", i)
					require.Equal(t, gate.GateRotation, v[i].Gate)
				} else {
					require.True(t, v[i].Passed, "candidate %d: %s %s", i, v[i].Gate, v[i].Reason)
				}
			}
		})
	}
}

func TestHistoryErrorFailsClosed(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	c := newChain(t, &fakeHistory{err: boom}, nil)
	v, err := c.Check(context.Background(), 1, []gate.Candidate{{Text: good}})
	require.ErrorIs(t, err, boom)
	require.Nil(t, v)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = newChain(t, &fakeHistory{}, nil).Check(ctx, 1, []gate.Candidate{{Text: good}})
	require.ErrorIs(t, err, context.Canceled)
}

func TestPanickingGateBlocks(t *testing.T) {
	t.Parallel()
	c := newChain(t, &fakeHistory{}, func(cfg *gate.Config) {
		cfg.WeightedLength = func(string) int { panic("length table missing") }
	})
	v, err := c.Check(context.Background(), 1, []gate.Candidate{{Text: good}})
	require.NoError(t, err)
	require.False(t, v[0].Passed)
	require.Equal(t, gate.GateQuality, v[0].Gate)
	require.Contains(t, v[0].Reason, "length table missing")
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	base := gate.Config{MinQualityScore: 0.6, UniquenessThreshold: 0.8, RotationMaxShare: 0.35, RotationMinPosts: 10, WeightedLength: runeLength}
	_, err := gate.New(base, nil)
	require.Error(t, err)
	for name, mod := range map[string]func(*gate.Config){
		"no length":      func(c *gate.Config) { c.WeightedLength = nil },
		"quality > 1":    func(c *gate.Config) { c.MinQualityScore = 1.5 },
		"uniqueness < 0": func(c *gate.Config) { c.UniquenessThreshold = -0.1 },
		"share > 1":      func(c *gate.Config) { c.RotationMaxShare = 2 },
		"negative posts": func(c *gate.Config) { c.RotationMinPosts = -1 },
	} {
		cfg := base
		mod(&cfg)
		_, err := gate.New(cfg, &fakeHistory{})
		require.Error(t, err, name)
	}
	_, err = gate.New(base, &fakeHistory{})
	require.NoError(t, err)
}

// A plan reads the rotation once and asks it per pick: the topics already picked count as if queued, the
// history is not read again, and when every topic would be blocked all of them stay open.
func TestRotationOpenCountsPicks(t *testing.T) {
	t.Parallel()
	h := &fakeHistory{counts: map[string]int{"go": 3, "sql": 3, "ops": 3}, total: 9}
	c := newChain(t, h, nil)
	r, err := c.Rotation(context.Background(), 1)
	require.NoError(t, err)
	require.Equal(t, testNow.Add(-7*24*time.Hour), h.topicsSince)
	topics := []string{"go", "sql", "ops"}
	require.Equal(t, topics, r.Open(topics, nil), "9 posts: rotation does not apply yet")
	h.counts, h.total, h.err = nil, 0, errors.New("history read again") // the rotation must not read again
	// 9 + 2 picked = 11 posts; "go" then has 5 of 12 (42 % > 35 %), the others 4 of 12.
	require.Equal(t, []string{"sql", "ops"}, r.Open(topics, []string{"go", "go"}))
	require.Equal(t, topics, r.Open(topics, []string{"go", "go", "sql", "sql", "ops", "ops"}), "all blocked: all open")
}
