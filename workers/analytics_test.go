package workers

import (
	"context"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/telemetry"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// postNow queues a decision with text and posts it through the post worker.
func (b *testBundle) postNow(t *testing.T, text string) *store.Decision {
	t.Helper()
	dec := b.queueDecision(t, text, nil)
	res, err := work(t, b, b.postWorker(), jobs.PostArgs{DecisionID: dec.DecisionID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	got := b.decision(t, dec.DecisionID)
	require.Equal(t, store.StatusPosted, got.Status)
	return got
}

type outcomeRow struct {
	Simulated   bool
	Status      string
	Impressions int64
	ER          *float64
	Readings    int
}

func (b *testBundle) outcome(t *testing.T, decisionID string) outcomeRow {
	t.Helper()
	var o outcomeRow
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT simulated, status, impressions, engagement_rate, readings
		FROM outcomes WHERE decision_id = $1`, decisionID).Scan(&o.Simulated, &o.Status, &o.Impressions, &o.ER, &o.Readings))
	return o
}

func TestCollectAnalyticsSimulator(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	dec := b.postNow(t, honestTexts[0])
	b.clock.Advance(4 * time.Hour)

	res, err := work(t, b, b.collectWorker(), jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	o := b.outcome(t, dec.DecisionID)
	require.True(t, o.Simulated)
	require.Equal(t, store.OutcomeOK, o.Status)
	require.Positive(t, o.Impressions)
	require.NotNil(t, o.ER)
	require.Equal(t, 1, o.Readings)
	require.Empty(t, b.linesWithPrefix("[ANALYTICS_COLLECTOR] ✅ Stored real outcome"), "simulated outcomes are not real ones")

	follow := b.requireOneJob(t, jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 2})
	require.Equal(t, dec.PostedAt.UTC().Add(24*time.Hour), follow.ScheduledAt.UTC())
	boundary := b.clock.Now().Truncate(time.Minute).Add(time.Minute)
	learn := rivertest.RequireInserted(ctx, t, b.driver, jobs.LearnArgs{AccountID: b.acct.ID, Period: jobs.Period(boundary, time.Minute)}, nil)
	require.Equal(t, boundary, learn.ScheduledAt.UTC())
}

// A post on X (live, LIVE_POSTS) with REAL_METRICS_ENABLED reads its metrics from X: simulated=false and
// the stored-outcome line. X is a second simulator instance with its own state, playing X itself.
func TestCollectAnalyticsRealMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.Live, c.Backend, c.RealMetricsEnabled = true, "x", true }})
	ctx := context.Background()
	xPool, _ := dbtest.Schema(t)
	realX, err := xsim.NewServer(ctx, xsim.Config{Clock: b.clock, Seed: 11}, store.NewXSim(xPool))
	require.NoError(t, err)
	ts := httptest.NewServer(realX)
	t.Cleanup(ts.Close)
	b.deps.X = newXClient(t, ts.URL, b.deps.Config.XCallTimeout, b.clock)

	dec := b.postNow(t, honestTexts[1])
	posted, err := b.st.GetPosted(ctx, b.pool, dec.DecisionID)
	require.NoError(t, err)
	require.Equal(t, "x", posted.Backend)
	require.Equal(t, 0, b.simPostsWithText(t, honestTexts[1]), "nothing went to the built-in simulator")
	b.clock.Advance(4 * time.Hour)

	res, err := work(t, b, b.collectWorker(), jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	o := b.outcome(t, dec.DecisionID)
	require.False(t, o.Simulated)
	require.Equal(t, store.OutcomeOK, o.Status)
	require.NotNil(t, o.ER)
	line := "[ANALYTICS_COLLECTOR] ✅ Stored real outcome decision_id=" + dec.DecisionID + " ER=" + telemetry.Percent(*o.ER) + "%"
	require.Regexp(t, regexp.MustCompile(`ER=\d+\.\d\d%$`), line)
	b.requireLine(t, line)
}

func TestCollectAnalyticsDeletedPost(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	dec := b.postNow(t, honestTexts[2])
	require.NoError(t, b.x.DeletePost(ctx, dec.TweetID))
	b.clock.Advance(4 * time.Hour)

	res, err := work(t, b, b.collectWorker(), jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 1}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind, "not retried")
	require.Equal(t, store.OutcomeNotFound, b.outcome(t, dec.DecisionID).Status)

	// The follow-up, inserted with the first reading when the post was recorded, reads nothing: X is not asked
	// again and the outcome stays as the first reading stored it.
	follow := b.requireOneJob(t, jobs.CollectAnalyticsArgs{DecisionID: dec.DecisionID, Reading: 2})
	require.Equal(t, dec.PostedAt.UTC().Add(24*time.Hour), follow.ScheduledAt.UTC())
	b.clock.Advance(24 * time.Hour)
	const lookupsSQL = `SELECT COALESCE(sum(count), 0)::int FROM sim_request_counts WHERE bucket LIKE 'get_post%'`
	lookups := b.count(t, lookupsSQL)
	require.Positive(t, lookups, "the first reading asked X")
	res, err = workJob(t, b, b.collectWorker(), follow)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, lookups, b.count(t, lookupsSQL), "the follow-up did not")
	b.requireLine(t, "[ANALYTICS_COLLECTOR] post unavailable at an earlier reading; not read again")
	o := b.outcome(t, dec.DecisionID)
	require.Equal(t, store.OutcomeNotFound, o.Status)
	require.Equal(t, 1, o.Readings)
}

func TestAnalyticsSweep(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	lost := b.postNow(t, honestTexts[0])
	// The post's own collect job is lost; the sweep must notice.
	_, err := b.pool.Exec(ctx, `DELETE FROM river_job WHERE kind = 'collect_analytics'`)
	require.NoError(t, err)
	b.clock.Advance(time.Hour)
	b.postNow(t, honestTexts[1]) // not due yet
	b.clock.Advance(3*time.Hour + time.Minute)

	res, err := work(t, b, b.analyticsSweepWorker(), jobs.AnalyticsSweepArgs{Period: "p"}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	b.requireLine(t, "[ANALYTICS_COLLECTOR] 📋 Found 1 posts needing metrics")
	b.requireOneJob(t, jobs.CollectAnalyticsArgs{DecisionID: lost.DecisionID, Reading: 1})
	require.Len(t, b.jobsOf(t, "collect_analytics"), 2+len(b.deps.Config.AnalyticsFollowups),
		"the sweep inserted only the missing one, beside the second post's own readings")
}
