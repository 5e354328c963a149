package workers

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

func TestLearnSkippedUnderMinOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})

	res, err := work(t, b, b.learnWorker(), jobs.LearnArgs{AccountID: b.acct.ID, Period: "p"}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	b.requireLine(t, "[LEARN_JOB] ⚠️ Training skipped: insufficient real outcomes (need 5)")
	require.Zero(t, b.count(t, `SELECT count(*) FROM learning_runs`))
}

func TestLearnRun(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	var ids []string
	for _, text := range honestTexts[:5] {
		ids = append(ids, b.postNow(t, text).DecisionID)
		b.clock.Advance(time.Minute)
	}
	b.clock.Advance(4 * time.Hour)
	for _, id := range ids {
		_, err := work(t, b, b.collectWorker(), jobs.CollectAnalyticsArgs{DecisionID: id, Reading: 1}, nil)
		require.NoError(t, err)
	}

	res, err := work(t, b, b.learnWorker(), jobs.LearnArgs{AccountID: b.acct.ID, Period: "p"}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	lines := b.linesWithPrefix("[LEARN_JOB] ✅")
	require.Len(t, lines, 1)
	require.Regexp(t, `^\[LEARN_JOB\] ✅ arms_trained=[1-9]\d* explore_ratio=0\.\d{3} coeffs_updated=v1$`, lines[0])
	require.Equal(t, 5, b.count(t, `SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL`))

	// Nothing new to learn: the next run skips and writes no version.
	_, err = work(t, b, b.learnWorker(), jobs.LearnArgs{AccountID: b.acct.ID, Period: "q"}, nil)
	require.NoError(t, err)
	b.requireLine(t, "[LEARN_JOB] ⚠️ Training skipped: insufficient real outcomes (need 5)")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM learning_runs`))
}

// Learning rewards the first reading (ANALYTICS_DELAY after posting), never a follow-up: here every
// topic's follow-up rate is the reverse of its first one, so learning from the latest reading would rank
// the topics the other way round.
func TestLearnUsesTheFirstReadingNotTheLatest(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	rates := map[string][2]float64{"go": {0.08, 0.01}, "pg": {0.01, 0.08}} // first, follow-up
	for i, text := range honestTexts[:6] {
		topic := []string{"go", "pg"}[i%2]
		dec := b.queueDecision(t, text, func(d *store.Decision) { d.Topic = topic })
		res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
		require.NoError(t, err)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		posted := b.decision(t, dec.DecisionID)
		for n, rate := range rates[topic] {
			imp := int64(2000 * (n + 1))
			require.NoError(t, b.st.StoreReading(ctx, b.pool, store.Reading{DecisionID: dec.DecisionID, AccountID: b.acct.ID,
				TweetID: posted.TweetID, Simulated: true, Status: store.OutcomeOK, Impressions: imp,
				Likes: int64(rate * float64(imp)), Number: n + 1, CollectedAt: b.clock.Now()}))
		}
		b.clock.Advance(time.Minute)
	}
	var latest float64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT engagement_rate FROM outcomes o JOIN content_metadata cm USING (decision_id)
		WHERE cm.topic = 'go' LIMIT 1`).Scan(&latest))
	require.InDelta(t, 0.01, latest, 1e-9, "the outcome row shows the follow-up")

	res, err := work(t, b, b.learnWorker(), jobs.LearnArgs{AccountID: b.acct.ID, Period: "p"}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Len(t, b.linesWithPrefix("[LEARN_JOB] ✅"), 1)
	arms, err := b.st.Arms(ctx, b.pool, b.acct.ID)
	require.NoError(t, err)
	lift := map[string]float64{}
	for _, a := range arms {
		if a.Scope == "topic" {
			lift[a.Name] = a.Lift
		}
	}
	require.Greater(t, lift["go"], 1.5, "go's first readings were 8x pg's")
	require.Less(t, lift["pg"], 0.7)
}
