package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

type decisionBundle struct {
	ctx  context.Context
	tx   pgx.Tx
	st   *store.Store
	acct *store.Account
	now  time.Time
}

func setupDecisions(t *testing.T) *decisionBundle {
	t.Helper()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	st := store.New(dbtest.Pool(t))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }
	acct, err := st.UpsertDefaultAccount(ctx, tx, "42", "demo")
	require.NoError(t, err)
	return &decisionBundle{ctx: ctx, tx: tx, st: st, acct: acct, now: now}
}

func (b *decisionBundle) insert(t *testing.T, status string, scheduled time.Time) *store.Decision {
	t.Helper()
	d := &store.Decision{
		DecisionID: uuid.NewString(), AccountID: b.acct.ID, DecisionType: "single", Content: "Hello  World " + uuid.NewString()[:6],
		GenerationSource: "real", Status: status, ScheduledAt: scheduled, Topic: "go", ArmPropensities: map[string]float64{"topic": 0.5},
	}
	require.NoError(t, b.st.InsertDecision(b.ctx, b.tx, d))
	return d
}

func TestClaimPostingIsFenced(t *testing.T) {
	t.Parallel()
	b := setupDecisions(t)
	d := b.insert(t, store.StatusQueued, b.now)

	attempt, err := b.st.ClaimPosting(b.ctx, b.tx, d.DecisionID, "simulator", 0)
	require.NoError(t, err)
	require.Equal(t, 1, attempt)
	// A stale run still holding attempt 0 cannot claim again.
	_, err = b.st.ClaimPosting(b.ctx, b.tx, d.DecisionID, "simulator", 0)
	require.ErrorIs(t, err, store.ErrNotFound)
	// Nor record a post or finish the row.
	err = b.st.MarkPosted(b.ctx, b.tx, store.PostedRecord{DecisionID: d.DecisionID, Attempt: 0, Backend: "simulator", TweetID: "1", PostedAt: b.now})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, b.st.Finish(b.ctx, b.tx, d.DecisionID, 0, store.StatusFailed, "x"), store.ErrNotFound)

	require.NoError(t, b.st.MarkPosted(b.ctx, b.tx, store.PostedRecord{DecisionID: d.DecisionID, Attempt: 1, Backend: "simulator", TweetID: "99", PostedAt: b.now}))
	got, err := b.st.GetDecision(b.ctx, b.tx, d.DecisionID)
	require.NoError(t, err)
	require.Equal(t, store.StatusPosted, got.Status)
	require.Equal(t, "99", got.TweetID)
	require.Equal(t, map[string]float64{"topic": 0.5}, got.ArmPropensities)
	p, err := b.st.GetPosted(b.ctx, b.tx, d.DecisionID)
	require.NoError(t, err)
	require.Equal(t, "simulator", p.Backend)
	// Posted is final: no second claim, no second post.
	_, err = b.st.ClaimPosting(b.ctx, b.tx, d.DecisionID, "simulator", 1)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestFinishStatuses(t *testing.T) {
	t.Parallel()
	b := setupDecisions(t)
	d := b.insert(t, store.StatusQueued, b.now)
	require.NoError(t, b.st.Finish(b.ctx, b.tx, d.DecisionID, -1, store.StatusSkipped, "stale"))
	got, err := b.st.GetDecision(b.ctx, b.tx, d.DecisionID)
	require.NoError(t, err)
	require.Equal(t, "stale", got.SkipReason)
	require.ErrorIs(t, b.st.Finish(b.ctx, b.tx, d.DecisionID, -1, store.StatusFailed, "x"), store.ErrNotFound, "skipped is final")
	require.ErrorContains(t, b.st.Finish(b.ctx, b.tx, d.DecisionID, -1, store.StatusPosted, "x"), "not a finishing status")
}

func TestCanonicalQueueAndOrphans(t *testing.T) {
	t.Parallel()
	b := setupDecisions(t)
	// The canonical query uses NOW(), i.e. the transaction's start: schedule relative to the real clock.
	real := time.Now()
	due := b.insert(t, store.StatusQueued, real.Add(-time.Minute))
	b.insert(t, store.StatusQueued, real.Add(time.Hour))
	synthetic := &store.Decision{DecisionID: uuid.NewString(), AccountID: b.acct.ID, DecisionType: "single", Content: "s",
		GenerationSource: "synthetic", Status: store.StatusQueued, ScheduledAt: real.Add(-time.Minute)}
	require.NoError(t, b.st.InsertDecision(b.ctx, b.tx, synthetic))

	q, err := b.st.CanonicalQueue(b.ctx, b.tx, false)
	require.NoError(t, err)
	require.Len(t, q, 1)
	require.Equal(t, due.DecisionID, q[0].DecisionID)
	q, err = b.st.CanonicalQueue(b.ctx, b.tx, true)
	require.NoError(t, err)
	require.Len(t, q, 2)

	orphans, err := b.st.PostOrphans(b.ctx, b.tx, real, real.Add(-time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, orphans, 2, "both due rows lack a post job")
	_, err = b.tx.Exec(b.ctx, `INSERT INTO river_job (kind, args, queue, state, max_attempts, scheduled_at) VALUES ('post', jsonb_build_object('decision_id', $1::text), 'post', 'scheduled', 4, now())`, due.DecisionID)
	require.NoError(t, err)
	orphans, err = b.st.PostOrphans(b.ctx, b.tx, real, real.Add(-time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, orphans, 1)
	require.Equal(t, synthetic.DecisionID, orphans[0].DecisionID)
}

func TestStoreReadingIsIdempotentAndKeepsFirstRate(t *testing.T) {
	t.Parallel()
	b := setupDecisions(t)
	d := b.insert(t, store.StatusQueued, b.now)
	attempt, err := b.st.ClaimPosting(b.ctx, b.tx, d.DecisionID, "simulator", 0)
	require.NoError(t, err)
	require.NoError(t, b.st.MarkPosted(b.ctx, b.tx, store.PostedRecord{DecisionID: d.DecisionID, Attempt: attempt, Backend: "simulator", TweetID: "7", PostedAt: b.now}))

	r := store.Reading{DecisionID: d.DecisionID, AccountID: b.acct.ID, TweetID: "7", Simulated: true, Status: store.OutcomeOK,
		Impressions: 1000, Likes: 30, Retweets: 5, Replies: 3, Quotes: 1, Bookmarks: 1, Number: 1, CollectedAt: b.now}
	require.NoError(t, b.st.StoreReading(b.ctx, b.tx, r))
	require.NoError(t, b.st.StoreReading(b.ctx, b.tx, r)) // a re-run of the same reading
	r2 := r
	r2.Number, r2.Impressions, r2.Likes = 2, 4000, 80
	require.NoError(t, b.st.StoreReading(b.ctx, b.tx, r2))

	var readings int
	var er, first float64
	require.NoError(t, b.tx.QueryRow(b.ctx, `SELECT readings, engagement_rate, first_engagement_rate FROM outcomes WHERE decision_id = $1`, d.DecisionID).Scan(&readings, &er, &first))
	require.Equal(t, 2, readings)
	require.InDelta(t, 0.04, first, 1e-9)
	require.InDelta(t, 90.0/4000, er, 1e-9)

	delays := []time.Duration{4 * time.Hour, 24 * time.Hour, 72 * time.Hour}
	due, err := b.st.DueReadings(b.ctx, b.tx, b.now.Add(100*time.Hour), 72*time.Hour, delays, false, 10)
	require.NoError(t, err)
	require.Equal(t, []store.DueReading{{DecisionID: d.DecisionID, Reading: 3, PostedAt: due[0].PostedAt}}, due)
	// More than the lookback past its reading time: no longer swept.
	due, err = b.st.DueReadings(b.ctx, b.tx, b.now.Add(100*time.Hour), 20*time.Hour, delays, false, 10)
	require.NoError(t, err)
	require.Empty(t, due)
}

func TestNormalizeText(t *testing.T) {
	t.Parallel()
	require.Equal(t, store.NormalizeText("  Hello\n  World  "), store.NormalizeText("hello world"))
	require.NotEqual(t, store.ContentHash("a b"), store.ContentHash("a c"))
}

// Concurrent paced claims of one account's posts, each its own implicit transaction on the pool: the
// account's pace holds across them (one send per spacing, the day's cap), and a claim never waits on or
// blocks the account's row (a concurrent insert referencing it goes through while claims hold the lock).
func TestClaimPacedSerialisesAnAccountsClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.Schema(t)
	st := store.New(pool)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }
	acct, err := st.UpsertDefaultAccount(ctx, pool, "42", "demo")
	require.NoError(t, err)
	day := now.Truncate(24 * time.Hour)
	queue := func(n int) []string {
		var ids []string
		for i := range n {
			d := &store.Decision{DecisionID: uuid.NewString(), AccountID: acct.ID, DecisionType: "single",
				Content: fmt.Sprintf("paced post %d %s", i, uuid.NewString()[:6]), GenerationSource: "real",
				Status: store.StatusQueued, ScheduledAt: now}
			require.NoError(t, st.InsertDecision(ctx, pool, d))
			ids = append(ids, d.DecisionID)
		}
		return ids
	}
	claimAll := func(ids []string, pace store.PostPace) (claimed int, nexts []time.Time) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				attempt, next, err := st.ClaimPaced(ctx, pool, id, acct.ID, "simulator", 0, pace)
				assert.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				if attempt > 0 {
					claimed++
				} else {
					nexts = append(nexts, next)
				}
			})
		}
		wg.Wait()
		return claimed, nexts
	}

	claimed, nexts := claimAll(queue(8), store.PostPace{Spacing: time.Hour, PerDay: 100, DayStart: day, DayEnd: day.Add(24 * time.Hour)})
	require.Equal(t, 1, claimed, "one send per spacing")
	require.Len(t, nexts, 7)
	for _, next := range nexts {
		require.Equal(t, now.Add(time.Hour), next.UTC(), "the next slot is a spacing after the one claim")
	}

	// No spacing, a cap of 5 today (1 already claimed): 4 more, then the day's end.
	claimed, nexts = claimAll(queue(8), store.PostPace{PerDay: 5, DayStart: day, DayEnd: day.Add(24 * time.Hour)})
	require.Equal(t, 4, claimed)
	require.Len(t, nexts, 4)
	for _, next := range nexts {
		require.Equal(t, day.Add(24*time.Hour), next.UTC())
	}
	var posting int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM content_metadata WHERE status = 'posting'`).Scan(&posting))
	require.Equal(t, 5, posting)

	// A row already claimed (attempt moved on) is not found; the account's row is not locked by a claim in
	// flight: an insert referencing the account goes through while another session holds the pace lock.
	_, _, err = st.ClaimPaced(ctx, pool, queue(1)[0], acct.ID, "simulator", 7, store.PostPace{DayStart: day, DayEnd: day.Add(24 * time.Hour)})
	require.ErrorIs(t, err, store.ErrNotFound)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, _, err = st.ClaimPaced(ctx, tx, queue(1)[0], acct.ID, "simulator", 0, store.PostPace{DayStart: day, DayEnd: day.Add(24 * time.Hour)})
	require.NoError(t, err)
	insCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	queued := &store.Decision{DecisionID: uuid.NewString(), AccountID: acct.ID, DecisionType: "single", Content: "inserted meanwhile",
		GenerationSource: "real", Status: store.StatusQueued, ScheduledAt: now}
	require.NoError(t, st.InsertDecision(insCtx, pool, queued), "an insert referencing the account is not blocked by the pace lock")
}

// InsertDecisions stores a batch in one round trip, each row as InsertDecision would (hash and creation
// time filled in); a failing row fails the batch.
func TestInsertDecisionsBatch(t *testing.T) {
	t.Parallel()
	b := setupDecisions(t)
	var ds []*store.Decision
	for i := range 3 {
		ds = append(ds, &store.Decision{DecisionID: uuid.NewString(), AccountID: b.acct.ID, DecisionType: "single",
			Content: fmt.Sprintf("Batch  post %d", i), GenerationSource: "real", Status: store.StatusQueued, ScheduledAt: b.now,
			Topic: "go", ArmPropensities: map[string]float64{"topic": 0.25}})
	}
	require.NoError(t, b.st.InsertDecisions(b.ctx, b.tx, ds))
	for _, d := range ds {
		require.Equal(t, b.now, d.CreatedAt.UTC())
		got, err := b.st.GetDecision(b.ctx, b.tx, d.DecisionID)
		require.NoError(t, err)
		require.Equal(t, d.Content, got.Content)
		require.Equal(t, store.ContentHash(d.Content), got.ContentHash)
		require.Equal(t, 0.25, got.ArmPropensities["topic"])
	}
	// The same ids again: the batch fails as a whole.
	require.Error(t, b.st.InsertDecisions(b.ctx, b.tx, ds))
}

// GetPostView reads the decision with the switch that applies to its account (its own over the fleet's)
// and its X circuit, as EffectivePostingSwitch and GetCircuit would.
func TestGetPostViewMatchesItsParts(t *testing.T) {
	t.Parallel()
	b := setupDecisions(t)
	d := b.insert(t, store.StatusQueued, b.now)
	same := func() *store.PostView {
		t.Helper()
		v, err := b.st.GetPostView(b.ctx, b.tx, d.DecisionID)
		require.NoError(t, err)
		want, err := b.st.GetDecision(b.ctx, b.tx, d.DecisionID)
		require.NoError(t, err)
		require.Equal(t, want, v.Decision)
		sw, err := b.st.EffectivePostingSwitch(b.ctx, b.tx, b.acct.ID)
		require.NoError(t, err)
		require.Equal(t, sw, v.Switch)
		c, err := b.st.GetCircuit(b.ctx, b.tx, store.XCircuitName(b.acct.ID))
		require.NoError(t, err)
		require.Equal(t, c, v.Circuit)
		return v
	}
	v := same()
	require.Nil(t, v.Switch)
	require.False(t, v.Circuit.Open)

	require.NoError(t, b.st.SetPostingSwitch(b.ctx, b.tx, 0, true, "fleet pause"))
	require.True(t, same().Switch.Paused)
	require.NoError(t, b.st.SetPostingSwitch(b.ctx, b.tx, b.acct.ID, false, "this one posts"))
	require.NoError(t, b.st.OpenCircuit(b.ctx, b.tx, store.XCircuitName(b.acct.ID), b.now.Add(time.Hour), "401"))
	v = same()
	require.Equal(t, b.acct.ID, v.Switch.AccountID)
	require.False(t, v.Switch.Paused)
	require.True(t, v.Circuit.Open)
	require.Equal(t, "401", v.Circuit.Reason)

	_, err := b.st.GetPostView(b.ctx, b.tx, uuid.NewString())
	require.ErrorIs(t, err, store.ErrNotFound)
}

// ClaimPacedMany claims an account's posts in order as far as the pace allows, in one statement: the day's
// cap leaves room for some, spacing for one; a row read at a stale attempt is not found, and the others
// still get their slots.
func TestClaimPacedManyTakesTheSlotsInOrder(t *testing.T) {
	t.Parallel()
	b := setupDecisions(t)
	day := b.now.Truncate(24 * time.Hour)
	pace := store.PostPace{PerDay: 6, DayStart: day, DayEnd: day.Add(24 * time.Hour)}
	var claims []store.PaceClaim
	for range 5 {
		claims = append(claims, store.PaceClaim{DecisionID: b.insert(t, store.StatusQueued, b.now).DecisionID})
	}
	claims[1].PrevAttempt = 3 // stale
	res, err := b.st.ClaimPacedMany(b.ctx, b.tx, b.acct.ID, "simulator", claims, pace)
	require.NoError(t, err)
	require.Len(t, res, 5)
	require.ErrorIs(t, res[1].Err, store.ErrNotFound)
	for _, i := range []int{0, 2, 3, 4} {
		require.Equal(t, store.PaceResult{Attempt: 1}, res[i], "claim %d", i)
	}
	// 4 of the day's 6 are taken: of three more, two are claimed in order and the third waits for tomorrow.
	more := []store.PaceClaim{{DecisionID: b.insert(t, store.StatusQueued, b.now).DecisionID},
		{DecisionID: b.insert(t, store.StatusQueued, b.now).DecisionID}, {DecisionID: b.insert(t, store.StatusQueued, b.now).DecisionID}}
	res, err = b.st.ClaimPacedMany(b.ctx, b.tx, b.acct.ID, "simulator", more, pace)
	require.NoError(t, err)
	require.Equal(t, []store.PaceResult{{Attempt: 1}, {Attempt: 1}, {Next: day.Add(24 * time.Hour)}}, res)

	// With spacing, one post per slot: the next opens a spacing after this claim.
	spaced := []store.PaceClaim{{DecisionID: b.insert(t, store.StatusQueued, b.now).DecisionID}, {DecisionID: more[2].DecisionID}}
	res, err = b.st.ClaimPacedMany(b.ctx, b.tx, b.acct.ID, "simulator", spaced,
		store.PostPace{Spacing: time.Hour, PerDay: 100, DayStart: day, DayEnd: day.Add(24 * time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 0, res[0].Attempt, "the claims above were just now: no slot for an hour")
	require.Equal(t, b.now.Add(time.Hour), res[0].Next.UTC())
	require.Equal(t, res[0], res[1])
}
