package store_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
	// window and halfLife are the runs' LearnParams.Window (0: the default) and HalfLife (0: 14 days).
	window   int
	halfLife time.Duration
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
	engagements := int64(math.Round(max(er, 0) * float64(impressions)))
	_, err := f.db.Exec(f.ctx, `INSERT INTO outcomes (decision_id, account_id, tweet_id, simulated, impressions,
			engagement_rate, first_engagement_rate, status, collected_at, first_impressions, first_engagements)
		VALUES ($1::uuid, $2, $8, $3, $4, $5, $5, $6, $7, $4, $9)`, decisionID, f.acct, simulated, impressions, rate, status, f.now,
		"tw-"+decisionID, engagements)
	require.NoError(t, err)
}

// post inserts a posted single with arms and its outcome, posted an hour before f.now.
func (f *armsFixture) post(t *testing.T, topic, format string, hour int, er float64, simulated bool) string {
	t.Helper()
	id := f.decision(t, fixtureDecision{topic: topic, format: format, hook: "none", hour: &hour})
	f.outcome(t, id, er, simulated)
	return id
}

// params are a learn run's settings at f.now.
func (f *armsFixture) params(mode string, minOutcomes int) store.LearnParams {
	return store.LearnParams{Mode: mode, MinOutcomes: minOutcomes, HalfLife: cmp.Or(f.halfLife, 14*24*time.Hour), Now: f.now,
		PostArms: []bandit.Feature{{Scope: "topic", Arm: "go"}, {Scope: "topic", Arm: "pg"}, {Scope: "format", Arm: "tip"}},
		Window:   f.window}
}

func (f *armsFixture) learn(t *testing.T, mode string, minOutcomes int) *store.LearnResult {
	t.Helper()
	tx, ok := f.db.(pgx.Tx)
	require.True(t, ok, "learn runs in a transaction")
	res, err := f.st.LearnRun(f.ctx, tx, f.acct, f.params(mode, minOutcomes))
	require.NoError(t, err)
	return res
}

// arms are the account's bandit_arms rows of one scope by name.
func (f *armsFixture) arms(t *testing.T, scope string) map[string]store.ArmRow {
	t.Helper()
	rows, err := f.st.Arms(f.ctx, f.db, f.acct)
	require.NoError(t, err)
	out := map[string]store.ArmRow{}
	for _, a := range rows {
		if a.Scope == scope {
			out[a.Name] = a
		}
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
	res := f.learn(t, store.LearnLive, 5)
	require.True(t, res.Skipped)
	require.Equal(t, 3, res.Available)
	require.Zero(t, res.Version)
	require.Zero(t, f.countRows(t, `SELECT count(*) FROM learning_runs WHERE account_id = $1`))
	require.Zero(t, f.countRows(t, `SELECT count(*) FROM outcomes WHERE account_id = $1 AND learned_at IS NOT NULL`))
	require.Zero(t, f.countRows(t, `SELECT count(*) FROM bandit_arms WHERE account_id = $1`))

	// Shadow mode reads every outcome: 7 are enough.
	res = f.learn(t, store.LearnShadow, 5)
	require.False(t, res.Skipped)
	require.Equal(t, 7, res.OutcomesUsed)
}

func TestLearnRunWritesArmsAndPosterior(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	for i := range 12 {
		f.post(t, "go", "tip", 9, 0.06+float64(i%3)*0.002, false)
		f.post(t, "pg", "tip", 14, 0.02+float64(i%3)*0.002, false)
	}
	f.post(t, "pg", "list", 14, -1, false) // no impressions: marked learned, not fitted
	reply := f.decision(t, fixtureDecision{kind: "reply"})
	f.outcome(t, reply, 0.1, false)
	nf := f.decision(t, fixtureDecision{topic: "go"})
	_, err := tx.Exec(f.ctx, `INSERT INTO outcomes (decision_id, account_id, tweet_id, simulated, status, collected_at)
		VALUES ($1, $2, 'x', false, 'not_found', $3)`, nf, f.acct, f.now)
	require.NoError(t, err)

	res := f.learn(t, store.LearnLive, 5)
	require.False(t, res.Skipped)
	require.Equal(t, 1, res.Version)
	require.Equal(t, 26, res.OutcomesUsed, "24 posts, the one without impressions and the reply; not the not_found")
	// topic go, pg; format tip; hook none; hours 9, 14; reply default (list has no fitted outcome).
	require.Equal(t, 7, res.ArmsTrained)

	topics := f.arms(t, "topic")
	goArm, pgArm := topics["go"], topics["pg"]
	require.Greater(t, goArm.Lift, 1.2)
	require.Less(t, pgArm.Lift, 0.85)
	require.Greater(t, goArm.Alpha, goArm.Beta, "alpha/beta: the probability of beating the usual rate")
	require.InDelta(t, 12, goArm.Evidence, 0.1, "a day-old post weighs almost 1")
	require.NotNil(t, goArm.Uncertainty)
	require.Less(t, *goArm.LiftLow, goArm.Lift)
	require.Greater(t, *goArm.LiftHigh, goArm.Lift)
	require.Equal(t, 1, *goArm.LearnedVersion)
	require.Contains(t, f.arms(t, "reply"), bandit.ReplyDefaultArm)
	require.Contains(t, f.arms(t, "hour"), "9")

	post, version, err := f.st.LatestPosterior(f.ctx, tx, f.acct, store.ModelPost)
	require.NoError(t, err)
	require.Equal(t, 1, version)
	require.Contains(t, post.Features, bandit.Feature{Scope: "topic", Arm: "go"})
	require.Len(t, post.Mean, len(post.Features)+1)
	require.Len(t, post.Chol, len(post.Mean)*len(post.Mean))
	replies, _, err := f.st.LatestPosterior(f.ctx, tx, f.acct, store.ModelReply)
	require.NoError(t, err)
	require.Equal(t, []bandit.Feature{{Scope: "reply", Arm: bandit.ReplyDefaultArm}}, replies.Features)

	// Nothing new: skipped, nothing written.
	res = f.learn(t, store.LearnLive, 1)
	require.True(t, res.Skipped)
	require.Zero(t, res.Available)
	require.Equal(t, 1, f.countRows(t, `SELECT count(*) FROM learning_runs WHERE account_id = $1`))

	// Outcomes whose learned_at is cleared by hand are learned again without counting twice.
	window := f.countRows(t, `SELECT count(*) FROM learn_window WHERE account_id = $1`)
	require.Equal(t, 25, window, "the 24 posts and the reply with a first reading")
	_, err = tx.Exec(f.ctx, `UPDATE outcomes SET learned_at = NULL WHERE account_id = $1`, f.acct)
	require.NoError(t, err)
	res = f.learn(t, store.LearnLive, 1)
	require.Equal(t, 26, res.OutcomesUsed)
	require.Equal(t, window, f.countRows(t, `SELECT count(*) FROM learn_window WHERE account_id = $1`))
	again := f.arms(t, "topic")
	require.InDelta(t, goArm.Lift, again["go"].Lift, 1e-9)
	require.InDelta(t, goArm.Evidence, again["go"].Evidence, 1e-9)
}

// Forgetting is by age: the arms after learning a set of outcomes are the same whether one run saw them
// all or a run followed every few of them, and replies (which trigger runs too) leave the post model alone.
// With a window of 10 most outcomes pass into the statistics, at every run a few, so their rolling and
// adding is what is compared; a state rebuilt from the learned outcomes gives the same arms too.
func TestLearnRunSameArmsWhateverTheRuns(t *testing.T) {
	t.Parallel()
	for _, window := range []int{0, 10} {
		t.Run(fmt.Sprintf("window=%d", window), func(t *testing.T) {
			t.Parallel()
			sameArmsWhateverTheRuns(t, window)
		})
	}
}

func sameArmsWhateverTheRuns(t *testing.T, window int) {
	tx := dbtest.Tx(t)
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	once, often, replies, rebuilt := newArmsFixture(t, tx), newArmsFixture(t, tx), newArmsFixture(t, tx), newArmsFixture(t, tx)
	at7 := newArmsFixture(t, tx) // learns once, at a half-life of 7 days
	at7.halfLife = 7 * 24 * time.Hour
	all := []*armsFixture{once, often, replies, rebuilt, at7}
	for _, f := range all {
		f.window = window
	}
	topics := []string{"go", "pg", "rust"}
	for i := range 60 {
		at := start.Add(time.Duration(i) * 5 * time.Hour)
		hour := at.Hour()
		er := []float64{0.05, 0.03, 0.02}[i%3] * (1 + 0.1*float64(i%4))
		for _, f := range all {
			f.now = at.Add(4 * time.Hour)
			id := f.decision(t, fixtureDecision{topic: topics[i%3], format: "tip", hook: "none", hour: &hour, created: at})
			f.outcome(t, id, er, false)
		}
		if i%5 == 4 {
			often.learn(t, store.LearnLive, 5)
			rebuilt.learn(t, store.LearnLive, 5)
		}
		// A reply-heavy account: more replies than posts, each learn-triggering.
		for j := range 3 {
			r := replies.decision(t, fixtureDecision{kind: "reply", created: at.Add(time.Duration(j) * time.Minute)})
			replies.outcome(t, r, 0.2, false)
			replies.learn(t, store.LearnLive, 1)
		}
	}
	// The rebuilt account loses its statistics: its next run reads every learned outcome again.
	_, err := tx.Exec(rebuilt.ctx, `DELETE FROM learn_stats WHERE account_id = $1`, rebuilt.acct)
	require.NoError(t, err)
	// One last post, then every account learns at the same time.
	end := start.Add(60 * 5 * time.Hour)
	for _, f := range all {
		f.now = end
		hour := 3
		f.outcome(t, f.decision(t, fixtureDecision{topic: "go", format: "tip", hook: "none", hour: &hour, created: end.Add(-time.Hour)}), 0.04, false)
		res := f.learn(t, store.LearnLive, 1)
		require.False(t, res.Skipped)
		switch f {
		case rebuilt:
			require.Equal(t, 61, res.Rebuilt, "every learned post and the new one")
		case once, at7:
			require.Equal(t, 61, res.Rebuilt, "an account's first run builds its state")
		default:
			require.Zero(t, res.Rebuilt)
		}
	}
	require.Greater(t, often.countRows(t, `SELECT count(*) FROM learning_runs WHERE account_id = $1`), 10)
	requireSameArms(t, once, often, replies, rebuilt)
	require.Greater(t, once.arms(t, "topic")["go"].Lift, once.arms(t, "topic")["rust"].Lift)
	require.NotEmpty(t, replies.arms(t, "reply"))
	require.Empty(t, once.arms(t, "reply"))
	if window > 0 {
		for _, f := range all {
			require.Equal(t, window, f.countRows(t, `SELECT count(*) FROM learn_window WHERE account_id = $1 AND model = 'post'`))
		}
		require.Equal(t, window, replies.countRows(t, `SELECT count(*) FROM learn_window WHERE account_id = $1 AND model = 'reply'`))
	}

	// Another half-life: the state kept at 14 days cannot be rolled at 7, so the next run rebuilds it,
	// and gives what an account learning at 7 days from the start has.
	// Both learn one more outcome at 7 days: once's state is rebuilt from its 61 learned outcomes and the new one.
	once.halfLife = at7.halfLife
	at7.outcome(t, at7.decision(t, fixtureDecision{topic: "pg", format: "tip", hook: "none", created: end.Add(-time.Minute)}), 0.03, false)
	once.outcome(t, once.decision(t, fixtureDecision{topic: "pg", format: "tip", hook: "none", created: end.Add(-time.Minute)}), 0.03, false)
	require.Zero(t, at7.learn(t, store.LearnLive, 1).Rebuilt)
	require.Equal(t, 62, once.learn(t, store.LearnLive, 1).Rebuilt)
	requireSameArms(t, at7, once)
}

// requireSameArms checks that every fixture's post arms equal want's.
func requireSameArms(t *testing.T, want *armsFixture, others ...*armsFixture) {
	t.Helper()
	for _, scope := range bandit.PostScopes() {
		arms := want.arms(t, scope)
		require.NotEmpty(t, arms)
		for _, f := range others {
			got := f.arms(t, scope)
			require.Len(t, got, len(arms), scope)
			for name, a := range arms {
				b := got[name]
				require.InDelta(t, a.Lift, b.Lift, 1e-9, "%s/%s", scope, name)
				require.InDelta(t, *a.Uncertainty, *b.Uncertainty, 1e-9, "%s/%s", scope, name)
				require.InDelta(t, a.Evidence, b.Evidence, 1e-9, "%s/%s", scope, name)
				require.InDelta(t, a.Alpha, b.Alpha, 1e-9, "%s/%s", scope, name)
				require.Equal(t, a.Since, b.Since, "%s/%s", scope, name)
			}
		}
	}
}

func TestLearnRunRejectsBadInput(t *testing.T) {
	t.Parallel()
	tx := dbtest.Tx(t)
	f := newArmsFixture(t, tx)
	_, err := f.st.LearnRun(f.ctx, tx, f.acct, f.params("prod", 1))
	require.Error(t, err)
	p := f.params(store.LearnLive, 1)
	p.HalfLife = 0
	_, err = f.st.LearnRun(f.ctx, tx, f.acct, p)
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
			res, err := f.st.LearnRun(f.ctx, tx, f.acct, f.params(store.LearnLive, 1))
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
	require.Equal(t, 1, f.countRows(t, `SELECT count(*) FROM learning_runs WHERE account_id = $1`))
}
