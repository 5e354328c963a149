package store_test

import (
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/store"
)

func TestGateHistory(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	other := newArmsFixture(t, tx)
	recent := f.now.Add(-2 * 24 * time.Hour)
	for _, d := range []fixtureDecision{
		{status: store.StatusPosted, content: "posted go", topic: "go", created: recent},
		{status: store.StatusQueued, content: "queued go", topic: "go", created: recent},
		{status: store.StatusPosting, content: "posting pg", topic: "pg", created: recent},
		{status: store.StatusPendingApproval, content: "draft pg", topic: "pg", created: recent},
		{status: store.StatusSkipped, content: "skipped go", topic: "go", created: recent},
		{status: store.StatusFailed, content: "failed go", topic: "go", created: recent},
		{status: store.StatusQueued, content: "queued no topic", created: recent},
		{kind: "reply", status: store.StatusPosted, content: "reply go", topic: "go", created: recent},
		{status: store.StatusPosted, content: "ten days ago", topic: "go", created: f.now.Add(-10 * 24 * time.Hour)},
		{status: store.StatusPosted, content: "forty days ago", topic: "go", created: f.now.Add(-40 * 24 * time.Hour)},
	} {
		f.decision(t, d)
	}
	other.decision(t, fixtureDecision{content: "another account", topic: "go", created: recent})

	h := f.st.GateHistory(tx)
	texts, err := h.RecentTexts(f.ctx, f.acct, f.now.Add(-30*24*time.Hour))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"posted go", "queued go", "posting pg", "draft pg", "queued no topic", "reply go", "ten days ago"}, texts)

	counts, total, err := h.TopicCounts(f.ctx, f.acct, f.now.Add(-7*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, map[string]int{"go": 2, "pg": 1}, counts, "replies, drafts, skipped and old posts do not count")
	require.Equal(t, 4, total, "a post without a topic counts in the total")
}

func TestGateChainOverStore(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	posts := []string{
		"Postgres advisory locks are a cheap way to serialise a job per account without a lock table.",
		"Your retry loop needs jitter, or every client hammers the server at the very same instant again.",
		"Measure p99 latency, not the average: the slow tail is what your users remember about you.",
		"Small pull requests get real reviews; giant ones get a rubber stamp and a prayer from the team.",
	}
	for i, p := range posts {
		f.decision(t, fixtureDecision{content: p, topic: []string{"pg", "dist", "obs", "prod"}[i], created: f.now.Add(-time.Duration(i+1) * time.Hour)})
	}
	chain, err := gate.New(gate.Config{MinQualityScore: 0.6, UniquenessThreshold: 0.8, RotationMaxShare: 0.35, RotationMinPosts: 4,
		WeightedLength: utf8.RuneCountInString, Now: func() time.Time { return f.now }}, f.st.GateHistory(tx))
	require.NoError(t, err)
	v, err := chain.Check(f.ctx, f.acct, []gate.Candidate{
		{Text: "Postgres advisory locks are a cheap way to serialise jobs per account without a lock table!", Topic: "go"},
		{Text: "Context cancellation is a contract: every blocking call you write should honour ctx.Done().", Topic: "go"},
		{Text: "Table-driven tests keep a Go package honest: one slice of cases, one loop, and clear failures.", Topic: "go"},
	})
	require.NoError(t, err)
	require.Equal(t, gate.GateUniqueness, v[0].Gate, "a near-copy of a stored post")
	require.True(t, v[1].Passed, "%s: %s", v[1].Gate, v[1].Reason)
	// History 4 + 1 passed "go" = 5 posts; a second "go" would be 2 of 6 (33%) — allowed; the
	// rotation check counts the passed candidate.
	require.True(t, v[2].Passed, "%s: %s", v[2].Gate, v[2].Reason)
}
