package workers

import (
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// A periodic round fans out to every active account in one batch, each job unique by account and period;
// on the built-in simulator only the environment's account is served.
func TestFanoutOneJobPerActiveAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	added, err := b.st.AddAccount(ctx, b.pool, "brand_two", "1590000000000002002")
	require.NoError(t, err)
	off, err := b.st.AddAccount(ctx, b.pool, "brand_off", "1590000000000002003")
	require.NoError(t, err)
	require.NoError(t, b.st.SetAccountStatus(ctx, b.pool, off.ID, store.AccountDisabled))
	accounts := func(kind, period string) []int64 {
		rows, err := b.pool.Query(ctx, `SELECT (args->>'account_id')::bigint FROM river_job WHERE kind = $1 AND args->>'period' = $2 ORDER BY 1`, kind, period)
		require.NoError(t, err)
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		return ids
	}

	_, err = work(t, b, &FanoutWorker{d: b.deps}, jobs.FanoutArgs{Of: "plan", Period: "p1"}, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{b.acct.ID}, accounts("plan", "p1"), "the simulator serves the environment's account only")

	// With a real client (as a leader's), a re-run inserts nothing twice: each job is unique by account
	// and period. (The client River gives a rivertest worker does not enforce uniqueness.)
	b.deps.Config.Backend = "x"
	rctx := rivertest.WorkContext(ctx, b.insertClient(t))
	for range 2 {
		job := &river.Job[jobs.FanoutArgs]{JobRow: &rivertype.JobRow{}, Args: jobs.FanoutArgs{Of: "reply", Period: "p2"}}
		require.NoError(t, (&FanoutWorker{d: b.deps}).Work(rctx, job))
	}
	require.Equal(t, []int64{b.acct.ID, added.ID}, accounts("reply", "p2"), "every active account once; the disabled one none")
	require.Empty(t, accounts("plan", "p2"))
}
