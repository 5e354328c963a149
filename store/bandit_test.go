package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

func TestRecordPullsAndPosteriorBeforeLearning(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	require.NoError(t, f.st.RecordPulls(f.ctx, tx, f.acct, []string{"topic", "topic", "hour"}, []string{"pg", "pg", "7"}))
	require.NoError(t, f.st.RecordPulls(f.ctx, tx, f.acct, []string{"topic"}, []string{"pg"}))
	require.Error(t, f.st.RecordPulls(f.ctx, tx, f.acct, []string{"topic"}, nil))
	pg := f.arms(t, "topic")["pg"]
	require.Equal(t, int64(3), pg.Pulls)
	require.Equal(t, 1.0, pg.Lift, "an arm never learned reads ×1")
	require.Zero(t, pg.Evidence)
	require.Equal(t, int64(1), f.arms(t, "hour")["7"].Pulls)

	post, version, err := f.st.LatestPosterior(f.ctx, tx, f.acct, store.ModelPost)
	require.NoError(t, err)
	require.Nil(t, post, "before the first run the plan samples the prior")
	require.Zero(t, version)

	// Learning keeps the pulls.
	for range 5 {
		f.post(t, "pg", "tip", 7, 0.03, false)
	}
	f.learn(t, store.LearnLive, 5)
	require.Equal(t, int64(3), f.arms(t, "topic")["pg"].Pulls)
}
