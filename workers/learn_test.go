package workers

import (
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
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
