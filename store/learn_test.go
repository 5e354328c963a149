package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/bandit"
	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

// armsFixture writes the rows learning and the gates read, with plain SQL on one DBTX.
type armsFixture struct {
	ctx  context.Context
	db   store.DBTX
	st   *store.Store
	acct int64
	now  time.Time
}

func newArmsFixture(t *testing.T, db store.DBTX) *armsFixture {
	t.Helper()
	f := &armsFixture{ctx: context.Background(), db: db, now: time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)}
	f.st = &store.Store{Now: func() time.Time { return f.now }}
	require.NoError(t, db.QueryRow(f.ctx, `INSERT INTO accounts (handle) VALUES ('fixture') RETURNING id`).Scan(&f.acct))
	return f
}

type fixtureDecision struct {
	kind    string // single (default) | reply
	status  string // posted (default)
	content string
	topic   string
	format  string
	hook    string
	hour    *int
	created time.Time // default f.now - 1h
}

// decision inserts a content_metadata row (and its posted_decisions row when posted) and returns its id.
func (f *armsFixture) decision(t *testing.T, d fixtureDecision) string {
	t.Helper()
	id := uuid.NewString()
	kind := d.kind
	if kind == "" {
		kind = "single"
	}
	status := d.status
	if status == "" {
		status = store.StatusPosted
	}
	created := d.created
	if created.IsZero() {
		created = f.now.Add(-time.Hour)
	}
	content := d.content
	if content == "" {
		content = "post " + id
	}
	var target, tweet *string
	var postedAt *time.Time
	if kind == "reply" {
		s := "target-" + id
		target = &s
	}
	if status == store.StatusPosted {
		s := "tw-" + id
		tweet, postedAt = &s, &created
	}
	_, err := f.db.Exec(f.ctx, `INSERT INTO content_metadata (decision_id, account_id, decision_type, content, content_hash,
			generation_source, status, scheduled_at, topic, format, hook, hour_bucket, target_tweet_id, tweet_id, posted_at, created_at)
		VALUES ($1, $2, $3, $4, $5, 'real', $6, $7, NULLIF($8, ''), NULLIF($9, ''), NULLIF($10, ''), $11, $12, $13, $14, $7)`,
		id, f.acct, kind, content, store.ContentHash(content), status, created, d.topic, d.format, d.hook, d.hour, target, tweet, postedAt)
	require.NoError(t, err)
	if status == store.StatusPosted {
		_, err = f.db.Exec(f.ctx, `INSERT INTO posted_decisions (decision_id, account_id, decision_type, generation_source, backend, tweet_id, content, posted_at)
			VALUES ($1, $2, $3, 'real', 'simulator', $4, $5, $6)`, id, f.acct, kind, *tweet, content, created)
		require.NoError(t, err)
	}
	return id
}

// outcome stores a first reading; er < 0 means no impressions.
func (f *armsFixture) outcome(t *testing.T, decisionID string, er float64, simulated bool) {
	t.Helper()
	status, impressions := store.OutcomeOK, int64(1000)
	var rate *float64
	if er < 0 {
		status, impressions = store.OutcomeNoImpressions, 0
	} else {
		rate = &er
	}
	_, err := f.db.Exec(f.ctx, `INSERT INTO outcomes (decision_id, account_id, tweet_id, simulated, impressions,
			engagement_rate, first_engagement_rate, status, collected_at)
		VALUES ($1::uuid, $2, $8, $3, $4, $5, $5, $6, $7)`, decisionID, f.acct, simulated, impressions, rate, status, f.now, "tw-"+decisionID)
	require.NoError(t, err)
}

// post inserts a posted single with arms and its outcome.
func (f *armsFixture) post(t *testing.T, topic, format string, hour int, er float64, simulated bool) string {
	t.Helper()
	id := f.decision(t, fixtureDecision{topic: topic, format: format, hook: "none", hour: &hour})
	f.outcome(t, id, er, simulated)
	return id
}

func (f *armsFixture) arms(t *testing.T, scope string) map[string]bandit.Arm {
	t.Helper()
	arms, err := f.st.LoadArms(f.ctx, f.db, f.acct, scope, nil)
	require.NoError(t, err)
	out := map[string]bandit.Arm{}
	for _, a := range arms {
		out[a.Name] = a
	}
	return out
}

func (f *armsFixture) countRows(t *testing.T, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.QueryRow(f.ctx, sql, f.acct).Scan(&n))
	return n
}

func TestLearnRunSkipsBelowMinimum(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	for range 3 {
		f.post(t, "go", "tip", 9, 0.05, false)
	}
	// Simulated outcomes do not count in live mode.
	for range 4 {
		f.post(t, "go", "tip", 9, 0.05, true)
	}
	res, err := f.st.LearnRun(f.ctx, tx, f.acct, store.LearnLive, 5, 0.97, f.now)
	require.NoError(t, err)
	require.True(t, res.Skipped)
	require.Equal(t, 3, res.Available)
	require.Zero(t, res.Version)
	require.Zero(t, f.countRows(t, `SELECT count(*) FROM learning_runs WHERE account_id = $1`))
	require.Zero(t, f.countRows(t, `SELECT count(*) FROM outcomes WHERE account_id = $1 AND learned_at IS NOT NULL`))
	require.Zero(t, f.countRows(t, `SELECT count(*) FROM bandit_arms WHERE account_id = $1`))

	// Shadow mode reads every outcome: 7 are enough.
	res, err = f.st.LearnRun(f.ctx, tx, f.acct, store.LearnShadow, 5, 0.97, f.now)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	require.Equal(t, 7, res.OutcomesUsed)
}

func TestLearnRunVersionsAndEvidence(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	// Existing evidence, to see the discount: topic "go" at Beta(3, 5).
	require.NoError(t, f.st.SaveArms(f.ctx, tx, f.acct, bandit.ScopeTopic, []bandit.Arm{{Name: "go", Alpha: 3, Beta: 5}, bandit.NewArm("pg")}))

	// Median of first ERs in 30 days: 0.02, 0.03, 0.04, 0.06, 0.08 and none for no impressions -> 0.04.
	f.post(t, "go", "tip", 9, 0.08, false)  // win
	f.post(t, "go", "list", 9, 0.06, false) // win
	f.post(t, "pg", "tip", 14, 0.04, false) // not above the median
	f.post(t, "pg", "tip", 14, 0.02, false) // loss
	f.post(t, "pg", "list", 14, 0.03, false)
	f.post(t, "pg", "list", 14, -1, false) // no impressions: loss
	// An old post outside the 30 days does not move the median, and is learned like any other.
	old := f.decision(t, fixtureDecision{topic: "go", format: "tip", created: f.now.Add(-40 * 24 * time.Hour)})
	f.outcome(t, old, 0.001, false)
	// A reply without topic trains the reply scope's default arm, against the replies' own median.
	reply := f.decision(t, fixtureDecision{kind: "reply"})
	f.outcome(t, reply, 0.5, false)
	// Not learnable: not found.
	nf := f.decision(t, fixtureDecision{topic: "go"})
	_, err := tx.Exec(f.ctx, `INSERT INTO outcomes (decision_id, account_id, tweet_id, simulated, status, collected_at)
		VALUES ($1, $2, 'x', false, 'not_found', $3)`, nf, f.acct, f.now)
	require.NoError(t, err)

	res, err := f.st.LearnRun(f.ctx, tx, f.acct, store.LearnLive, 5, 0.5, f.now)
	require.NoError(t, err)
	require.False(t, res.Skipped)
	require.Equal(t, 1, res.Version)
	require.Equal(t, 8, res.OutcomesUsed)
	// topic go, pg; format tip, list; hook none; hour 9, 14; reply default.
	require.Equal(t, 8, res.ArmsTrained)
	require.True(t, res.ExploreRatio >= 0 && res.ExploreRatio <= 1)

	topics := f.arms(t, bandit.ScopeTopic)
	// go: Beta(3,5) discounted by 0.5 -> Beta(2,3), plus 2 wins and 1 loss (the old post).
	require.InDelta(t, 4, topics["go"].Alpha, 1e-9)
	require.InDelta(t, 4, topics["go"].Beta, 1e-9)
	// pg: 4 losses.
	require.InDelta(t, 1, topics["pg"].Alpha, 1e-9)
	require.InDelta(t, 5, topics["pg"].Beta, 1e-9)
	hours := f.arms(t, bandit.ScopeHour)
	require.InDelta(t, 3, hours["9"].Alpha, 1e-9, "two wins at 9:00")
	require.InDelta(t, 1, hours["9"].Beta, 1e-9, "the old post has no hour")
	require.InDelta(t, 5, hours["14"].Beta, 1e-9)
	// The reply is its kind's only rate, so it equals the median and does not beat it.
	replies := f.arms(t, bandit.ScopeReply)
	require.InDelta(t, 1, replies[bandit.ReplyDefaultArm].Alpha, 1e-9)
	require.InDelta(t, 2, replies[bandit.ReplyDefaultArm].Beta, 1e-9)
	require.Equal(t, 8, f.countRows(t, `SELECT count(*) FROM outcomes WHERE account_id = $1 AND learned_at IS NOT NULL`))

	// Nothing new: skipped, and nothing is counted again.
	res, err = f.st.LearnRun(f.ctx, tx, f.acct, store.LearnLive, 1, 0.5, f.now)
	require.NoError(t, err)
	require.True(t, res.Skipped)
	require.Zero(t, res.Available)

	// Five more: v2 uses exactly those.
	f.now = f.now.Add(time.Minute)
	for range 5 {
		f.post(t, "rust", "story", 20, 0.09, false)
	}
	res, err = f.st.LearnRun(f.ctx, tx, f.acct, store.LearnLive, 5, 1, f.now)
	require.NoError(t, err)
	require.Equal(t, 2, res.Version)
	require.Equal(t, 5, res.OutcomesUsed)
	topics = f.arms(t, bandit.ScopeTopic)
	require.InDelta(t, 6, topics["rust"].Alpha, 1e-9, "arms learned for names not configured yet")
	require.InDelta(t, 4, topics["go"].Alpha, 1e-9, "discount 1 keeps old evidence, and go is not counted twice")

	var versions []int
	rows, err := tx.Query(f.ctx, `SELECT version FROM learning_runs WHERE account_id = $1 ORDER BY version`, f.acct)
	require.NoError(t, err)
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int{1, 2}, versions)
}

func TestLearnRunExploreRatio(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	// "go" wins every time, "pg" loses: after the run go is the best topic.
	for range 3 {
		f.post(t, "go", "", 1, 0.9, false)
	}
	for range 3 {
		f.post(t, "pg", "", 1, 0.0, false)
	}
	res, err := f.st.LearnRun(f.ctx, tx, f.acct, store.LearnLive, 1, 1, f.now)
	require.NoError(t, err)
	// Picks: 6 topics (3 not the best) + 6 hooks + 6 hours (single arms, always best) -> 3/18.
	require.InDelta(t, 3.0/18, res.ExploreRatio, 1e-9)
}

func TestLearnRunRejectsBadInput(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	_, err := f.st.LearnRun(f.ctx, tx, f.acct, "prod", 1, 0.9, f.now)
	require.Error(t, err)
	_, err = f.st.LearnRun(f.ctx, tx, f.acct, store.LearnLive, 1, 1.1, f.now)
	require.Error(t, err)
}

func TestLearnRunsConcurrentlyNeverDoubleCount(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Schema(t)
	f := newArmsFixture(t, pool)
	const outcomes = 40
	for i := range outcomes {
		f.post(t, []string{"go", "pg"}[i%2], "tip", i%24, float64(i)/100, false)
	}

	const runners = 4
	results := make([]*store.LearnResult, runners)
	errs := make([]error, runners)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tx, err := pool.Begin(f.ctx)
			if err != nil {
				errs[i] = err
				return
			}
			defer func() { _ = tx.Rollback(f.ctx) }()
			res, err := f.st.LearnRun(f.ctx, tx, f.acct, store.LearnLive, 1, 1, f.now)
			if err != nil {
				errs[i] = err
				return
			}
			results[i], errs[i] = res, tx.Commit(f.ctx)
		}()
	}
	close(start)
	wg.Wait()
	used, ran := 0, 0
	for i := range runners {
		require.NoError(t, errs[i])
		used += results[i].OutcomesUsed
		if !results[i].Skipped {
			ran++
		}
	}
	require.Equal(t, outcomes, used, "every outcome counted exactly once")
	require.Equal(t, 1, ran, "the first run takes them all; the others find none")
	// The evidence in the arms adds up to the outcomes, once.
	var evidence float64
	require.NoError(t, pool.QueryRow(f.ctx, `SELECT sum(alpha - 1 + beta - 1) FROM bandit_arms WHERE account_id = $1 AND scope = 'topic'`,
		f.acct).Scan(&evidence))
	require.InDelta(t, outcomes, evidence, 1e-9)
	require.Equal(t, 1, f.countRows(t, `SELECT count(*) FROM learning_runs WHERE account_id = $1`))
}
