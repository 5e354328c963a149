package workers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/bandit"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// postsAnswer is the model's answer with these post texts.
func postsAnswer(texts ...string) llmtest.Response {
	posts := make([]map[string]string, len(texts))
	for i, t := range texts {
		posts[i] = map[string]string{"text": t}
	}
	return llmtest.JSON(map[string]any{"posts": posts})
}

// planned are the account's decisions ordered by scheduled_at.
func (b *testBundle) planned(t *testing.T) []*store.Decision {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT decision_id::text FROM content_metadata ORDER BY scheduled_at, created_at`)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	out := make([]*store.Decision, len(ids))
	for i, id := range ids {
		out[i] = b.decision(t, id)
	}
	return out
}

func TestPlanQueuesRealLLMContent(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	b.llm.Enqueue(postsAnswer(honestTexts[0], honestTexts[1], honestTexts[2]))

	res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Equal(t, 1, b.llm.Requests())
	req := b.llm.Accepted()[0]
	require.Contains(t, req.System(), b.deps.Config.Voice)

	decs := b.planned(t)
	require.Len(t, decs, 3)
	var expected []rivertest.ExpectedJob
	for _, d := range decs {
		require.Equal(t, "single", d.DecisionType)
		require.Equal(t, "real", d.GenerationSource)
		require.Equal(t, store.StatusQueued, d.Status)
		require.NotEmpty(t, d.LLMRequestID)
		require.Equal(t, req.ClientRequestID, d.LLMRequestID)
		require.Contains(t, b.deps.Config.Topics, d.Topic)
		require.Contains(t, b.deps.Config.Formats, d.Format)
		require.Contains(t, b.deps.Config.Hooks, d.Hook)
		require.NotNil(t, d.HourBucket)
		require.Len(t, d.ArmPropensities, 4)
		for _, p := range d.ArmPropensities {
			require.Greater(t, p, 0.0)
			require.LessOrEqual(t, p, 1.0)
		}
		expected = append(expected, rivertest.ExpectedJob{Args: jobs.PostArgs{DecisionID: d.DecisionID},
			Opts: &rivertest.RequireInsertedOpts{ScheduledAt: d.ScheduledAt, Queue: jobs.QueuePost, MaxAttempts: 4}})
		b.requireLine(t, "[PLAN_JOB] ✅ Real LLM content queued decision_id="+d.DecisionID+" scheduled_at="+d.ScheduledAt.UTC().Format(time.RFC3339))
	}
	rivertest.RequireManyInserted(ctx, t, b.driver, expected)
	texts := []string{decs[0].Content, decs[1].Content, decs[2].Content}
	sort.Strings(texts)
	want := []string{honestTexts[0], honestTexts[1], honestTexts[2]}
	sort.Strings(want)
	require.Equal(t, want, texts)
	require.Equal(t, 12, b.count(t, `SELECT COALESCE(sum(pulls), 0)::int FROM bandit_arms`), "each queued post pulls four arms")
}

// Quota: the quota line, nothing queued, the job completes, and the circuit keeps the next plan from
// calling at all: exactly one request reached OpenAI.
func TestPlanInsufficientQuota(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.Live = true }})
	b.llm.Enqueue(llmtest.InsufficientQuota())

	for range 2 {
		res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
		require.NoError(t, err)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	}
	require.Equal(t, 1, b.llm.Requests())
	require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata`))
	require.Empty(t, b.jobsOf(t, "post"))
	require.Len(t, b.linesWithPrefix("[PLAN_JOB] OpenAI insufficient_quota → not queueing"), 2)
	b.requireLine(t, "[PLAN_JOB] OpenAI insufficient_quota → not queueing")
}

func TestPlanBudgetExhausted(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{llmCfg: func(c *llm.Config) { c.DailyCapUSD = 0.0001 }})

	res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Zero(t, b.llm.Requests())
	require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata`))
	b.requireLine(t, "[PLAN_JOB] ⚠️ OpenAI budget exhausted → not queueing spent=0.0000 cap=0.0001")
}

func TestPlanShadowWithoutLLMIsSynthetic(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{noLLM: true})

	res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	decs := b.planned(t)
	require.NotEmpty(t, decs)
	queued := 0
	for _, d := range decs {
		require.Equal(t, "synthetic", d.GenerationSource)
		require.Empty(t, d.LLMRequestID)
		if d.Status == store.StatusQueued {
			queued++
			b.requireLine(t, "[PLAN_JOB] ✅ Synthetic content queued decision_id="+d.DecisionID+" scheduled_at="+d.ScheduledAt.UTC().Format(time.RFC3339))
			require.NotNil(t, b.postJobFor(t, d.DecisionID))
		}
	}
	require.Positive(t, queued)
}

func TestPlanLiveNeverSynthetic(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{noLLM: true, cfg: func(c *Config) { c.Live = true }})

	res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata`))
	require.Empty(t, b.linesWithPrefix("[PLAN_JOB] ✅ Synthetic"))

	// An LLM that fails in live mode does not fall back either.
	b2 := setup(t, testOpts{cfg: func(c *Config) { c.Live = true }})
	b2.llm.Enqueue(llmtest.ServerError(500))
	res, err = work(t, b2, b2.planWorker(), jobs.PlanArgs{AccountID: b2.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobSnoozed, res.EventKind, "a retryable LLM error waits for the LLM")
	require.Zero(t, b2.count(t, `SELECT count(*) FROM content_metadata WHERE generation_source = 'synthetic'`))
}

func TestPlanGateBlocks(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.PostsPerPlan = 2 }})
	bad := "Huge news for every builder out there, grab the full guide right now at https://totally-legit.example/guide today."
	b.llm.Enqueue(postsAnswer(honestTexts[0], bad))

	_, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	decs := b.planned(t)
	require.Len(t, decs, 2)
	var skipped, queued *store.Decision
	for _, d := range decs {
		if d.Content == bad {
			skipped = d
		} else {
			queued = d
		}
	}
	require.Equal(t, store.StatusSkipped, skipped.Status)
	require.True(t, strings.HasPrefix(skipped.SkipReason, "safety: link not supplied by the prompt"), skipped.SkipReason)
	b.requireLine(t, "[GATE_CHAIN] ⛔ blocked gate=safety decision_id="+skipped.DecisionID+" reason=link not supplied by the prompt: https://totally-legit.example/guide")
	require.Equal(t, store.StatusQueued, queued.Status)
	posts := b.jobsOf(t, "post")
	require.Len(t, posts, 1)
	require.Contains(t, string(posts[0].EncodedArgs), queued.DecisionID)
}

func TestPlanPacingSpacing(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.MinPostSpacing = 20 * time.Minute; c.MaxPostsPerDay = 100 }})
	b.llm.Enqueue(postsAnswer(honestTexts[0], honestTexts[1], honestTexts[2]))
	existing := b.queueDecision(t, honestTexts[3], nil)

	_, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	decs := b.planned(t)
	require.Len(t, decs, 4)
	require.Equal(t, existing.DecisionID, decs[0].DecisionID)
	for i := 1; i < len(decs); i++ {
		require.Equal(t, store.StatusQueued, decs[i].Status)
		require.GreaterOrEqual(t, decs[i].ScheduledAt.Sub(decs[i-1].ScheduledAt), 20*time.Minute)
		require.Equal(t, decs[i].ScheduledAt.UTC(), b.postJobFor(t, decs[i].DecisionID).ScheduledAt.UTC())
	}
}

// A post already on X pushes new plans by MIN_POST_SPACING from the time it was posted (not from when it
// was scheduled): a plan made five minutes after a post starts fifteen minutes later.
func TestPlanPacingSpacingFromPostedItems(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.MinPostSpacing = 20 * time.Minute; c.MaxPostsPerDay = 100 }})
	b.llm.Enqueue(postsAnswer(honestTexts[0], honestTexts[1], honestTexts[2]))
	now := b.clock.Now()
	posted := b.queueDecision(t, honestTexts[3], func(d *store.Decision) { d.ScheduledAt = now.Add(-time.Hour) })
	_, err := b.pool.Exec(context.Background(), `UPDATE content_metadata SET status = 'posted', tweet_id = '1', posted_at = $2
		WHERE decision_id = $1`, posted.DecisionID, now.Add(-5*time.Minute))
	require.NoError(t, err)

	_, err = work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	var first time.Time
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT min(scheduled_at) FROM content_metadata WHERE status = 'queued'`).Scan(&first))
	require.Equal(t, now.Add(15*time.Minute).UTC(), first.UTC(), "the first new post waits MIN_POST_SPACING after the posted one")
	require.Equal(t, 3, b.count(t, `SELECT count(*) FROM content_metadata WHERE status = 'queued'`))
}

func TestPlanPacingDailyCap(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.MaxPostsPerDay = 2 }})
	b.llm.Enqueue(postsAnswer(honestTexts[0]))
	b.queueDecision(t, honestTexts[3], nil)

	_, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, b.llm.Requests())
	require.Contains(t, b.llm.Accepted()[0].User(), "Write 1 posts", "the LLM is asked only for what the day can still take")
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM content_metadata WHERE status = 'queued'`))
	require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata WHERE status = 'skipped'`), "nothing paid for is thrown away")
	require.Len(t, b.jobsOf(t, "post"), 1)
	require.Empty(t, b.linesWithPrefix("[GATE_CHAIN]"), "the daily cap is pacing, not a gate")
}

// badAnswers are the LLM answers that are paid for but unusable: a refusal, JSON cut off mid-answer, and an
// answer stopped at max_tokens (finish_reason length, usage at the cap).
func badAnswers() map[string]struct {
	resp llmtest.Response
	code string
} {
	posts := map[string]any{"posts": []map[string]string{{"text": honestTexts[0]}, {"text": honestTexts[1]}, {"text": honestTexts[2]}}}
	return map[string]struct {
		resp llmtest.Response
		code string
	}{
		"refusal":   {llmtest.Refusal("I can't help with that."), "refusal"},
		"truncated": {llmtest.TruncatedJSON(posts), "invalid_output"},
		"length":    {llmtest.MaxTokensCut(posts), "invalid_output"},
	}
}

// A plan whose LLM answer is unusable completes with nothing queued: one call paid for, not one per River
// attempt. The next period's plan asks again.
func TestPlanUnusableAnswerIsPaidOnce(t *testing.T) {
	t.Parallel()
	for name, bad := range badAnswers() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testOpts{cfg: func(c *Config) { c.Live = true }})
			b.llm.Enqueue(bad.resp)

			res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
			require.NoError(t, err)
			require.Equal(t, river.EventKindJobCompleted, res.EventKind, "no retry pays for the same answer again")
			require.Equal(t, 1, b.llm.Requests())
			require.Zero(t, b.count(t, `SELECT count(*) FROM content_metadata`))
			require.Empty(t, b.jobsOf(t, "post"))
			require.Equal(t, 1, b.count(t, `SELECT count(*) FROM api_usage WHERE purpose = 'content_generation' AND status = 'failed' AND error_code = $1`, bad.code))
			require.Len(t, b.linesWithPrefix("[PLAN_JOB] ⚠️ LLM answer unusable → not queueing reason="), 1)
			if name == "length" {
				// Usage at the cap is charged as reported: max_tokens = POSTS_PER_PLAN × OPENAI_MAX_TOKENS.
				require.Equal(t, 1, b.count(t, `SELECT count(*) FROM api_usage WHERE completion_tokens = $1`, 3*b.deps.Config.MaxTokensPerPost))
			}
		})
	}
}

func TestPlanFullDayAsksTheLLMForNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.MaxPostsPerDay = 2; c.PlanWindow = time.Hour }})
	b.queueDecision(t, honestTexts[0], nil)
	b.queueDecision(t, honestTexts[1], nil)
	// The next hour may be tomorrow: fill it too, so the window holds no free slot whatever the time.
	b.queueDecision(t, honestTexts[2], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(time.Hour) })
	b.queueDecision(t, honestTexts[3], func(d *store.Decision) { d.ScheduledAt = b.clock.Now().Add(time.Hour) })

	res, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	require.Zero(t, b.llm.Requests(), "no LLM call for posts that could not be scheduled")
	require.Equal(t, 4, b.count(t, `SELECT count(*) FROM content_metadata`))
	require.Len(t, b.linesWithPrefix("[PLAN_JOB] no free slot in the plan window"), 1)
	require.Zero(t, b.count(t, `SELECT count(*) FROM api_usage`))
}

// The plan samples the hour only among hours with a free slot, and logs the propensity of the hour it used.
// Here the learned best hours (the current and the next) are full; the two after are equally good, so each
// is picked with probability about one half.
func TestPlanSamplesOnlySchedulableHours(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) {
		c.PostsPerPlan, c.PlanWindow, c.MinPostSpacing, c.MaxPostsPerDay = 1, 3*time.Hour, 20*time.Minute, 100
	}})
	ctx := context.Background()
	now := b.clock.Now()
	h0 := now.Truncate(time.Hour)
	for i := range 7 { // h0 .. h0+2h every 20 minutes: hours h0 and h0+1 have no free slot
		b.queueDecision(t, fmt.Sprintf("Queued item number %d of the test.", i), func(d *store.Decision) {
			d.ScheduledAt = h0.Add(time.Duration(i) * 20 * time.Minute)
			d.Topic = fmt.Sprintf("other-%d", i) // not the plan's topics: rotation stays out of the way
		})
	}
	hour := func(k int) string { return strconv.Itoa(h0.Add(time.Duration(k) * time.Hour).Hour()) }
	// A learned posterior: hours h0 and h0+1 far better than h0+2 and h0+3, which are equal; tight.
	feats := []bandit.Feature{{Scope: "hour", Arm: hour(0)}, {Scope: "hour", Arm: hour(1)}, {Scope: "hour", Arm: hour(2)}, {Scope: "hour", Arm: hour(3)}}
	mean := []float64{-4, 1.0, 0.8, 0, 0}
	chol := make([]float64, 25)
	for i := range 5 {
		chol[i*5+i] = 0.01
	}
	post := bandit.Posterior{Features: feats, Mean: mean, Chol: chol, NoiseSD: 0.3, EffectSD: 0.5}
	blob, err := json.Marshal(map[string]any{"post": post})
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO learning_runs (account_id, version, arms_trained, explore_ratio, outcomes_used, posterior)
		VALUES ($1, 1, 4, 0, 0, $2)`, b.acct.ID, blob)
	require.NoError(t, err)

	allowed := map[int]bool{h0.Add(2 * time.Hour).Hour(): true, h0.Add(3 * time.Hour).Hour(): true}
	props := map[int][]float64{}
	for i := range 4 {
		b.llm.Enqueue(postsAnswer(honestTexts[i]))
		_, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
		require.NoError(t, err)
	}
	for _, d := range b.planned(t) {
		if strings.HasPrefix(d.Content, "Queued item") {
			continue
		}
		require.Equal(t, store.StatusQueued, d.Status, d.SkipReason)
		require.True(t, allowed[*d.HourBucket], "hour %d was not schedulable", *d.HourBucket)
		require.Equal(t, *d.HourBucket, d.ScheduledAt.Hour(), "the picked hour is honoured")
		props[*d.HourBucket] = append(props[*d.HourBucket], d.ArmPropensities["hour"])
	}
	require.NotEmpty(t, props)
	n := 0
	for _, ps := range props {
		for _, p := range ps {
			n++
			// Two equal hours: one half, or 1 once the other has no slot left; never the full-hour's ~1
			// logged for a pick that was moved.
			if p < 0.99 {
				require.InDelta(t, 0.5, p, 0.07)
			}
		}
	}
	require.Equal(t, 4, n)
}

// Posts due now are inserted available, so a post queue works them at once: River would hold a job given
// any ScheduledAt, even a past one, as scheduled until the leader's scheduler (every 5 s) moved it. Posts
// due later are inserted scheduled at their time.
func TestPlanDuePostsAreAvailableAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{cfg: func(c *Config) { c.PlanWindow, c.MinPostSpacing, c.MaxPostsPerDay = 0, 20*time.Minute, 100 }})
	ctx := context.Background()
	b.llm.Enqueue(postsAnswer(honestTexts[0], honestTexts[1], honestTexts[2]))
	_, err := work(t, b, b.planWorker(), jobs.PlanArgs{AccountID: b.acct.ID}, nil)
	require.NoError(t, err)
	decs := b.planned(t)
	require.Len(t, decs, 3)
	for i, d := range decs {
		var state string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE kind = 'post' AND args->>'decision_id' = $1`,
			d.DecisionID).Scan(&state))
		if i == 0 {
			require.False(t, d.ScheduledAt.After(b.clock.Now()), "the first post is due now")
			require.Equal(t, "available", state)
			continue
		}
		require.True(t, d.ScheduledAt.After(b.clock.Now()))
		require.Equal(t, "scheduled", state)
		require.Equal(t, d.ScheduledAt.UTC(), b.postJobFor(t, d.DecisionID).ScheduledAt.UTC())
	}
}
