package workers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/bandit"
	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/synth"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// PlanWorker plans POSTS_PER_PLAN posts for an account.
type PlanWorker struct {
	river.WorkerDefaults[jobs.PlanArgs]
	d *Deps
}

// pick is one post's sampled arms.
type pick struct {
	topic, format, hook string
	hour                string
	props               map[string]float64
}

func (w *PlanWorker) Work(ctx context.Context, job *river.Job[jobs.PlanArgs]) error {
	d, cfg := w.d, w.d.Config
	log := d.Log.With(zap.Int64("job_id", job.ID), zap.Int64("account_id", job.Args.AccountID))
	rng := d.Rand()
	picks, err := w.samplePicks(ctx, job.Args.AccountID, rng)
	if err != nil {
		return fmt.Errorf("plan for account %d: sample arms: %w", job.Args.AccountID, err)
	}

	source, requestID := "real", ""
	var texts []string
	switch {
	case d.Drafter != nil && (cfg.Live || d.LLMAvailable(ctx)):
		requestID = uuid.NewString()
		draft, err := d.Drafter.Draft(ctx, DraftRequest{
			Purpose: "content_generation", RequestID: requestID, System: w.systemPrompt(),
			User: w.userPrompt(picks), N: len(picks), MaxTokens: cfg.MaxTokensPerPost * len(picks),
		})
		if err != nil {
			return w.llmFailure(log, err)
		}
		texts = draft.Texts
	case !cfg.Live:
		source = "synthetic"
		for _, p := range picks {
			texts = append(texts, synth.Post(rng, p.topic, p.format, p.hook))
		}
	default:
		log.Warn("[PLAN_JOB] no LLM available in live mode → not queueing")
		return nil
	}
	if len(texts) > len(picks) {
		texts = texts[:len(picks)]
	}
	picks = picks[:len(texts)]

	candidates := make([]gate.Candidate, len(texts))
	for i, t := range texts {
		candidates[i] = gate.Candidate{Text: t, Topic: picks[i].topic, PromptEcho: []string{cfg.Voice}}
	}
	verdicts, err := d.Gate.Check(ctx, job.Args.AccountID, candidates)
	if err != nil {
		return fmt.Errorf("plan for account %d: gate: %w", job.Args.AccountID, err)
	}

	decisions, err := w.store(ctx, log, job.Args.AccountID, picks, texts, verdicts, source, requestID)
	if err != nil {
		return err
	}
	for _, dec := range decisions {
		switch {
		case dec.Status == store.StatusSkipped && dec.SkipReason != "daily_cap":
			g, reason, _ := strings.Cut(dec.SkipReason, ": ")
			logGateBlocked(log, g, dec.DecisionID, reason)
		case dec.Status == store.StatusQueued && source == "real":
			logQueued(log, "PLAN_JOB", "Real LLM content", dec.DecisionID, dec.ScheduledAt)
		case dec.Status == store.StatusQueued:
			logQueued(log, "PLAN_JOB", "Synthetic content", dec.DecisionID, dec.ScheduledAt)
		}
	}
	return nil
}

// llmFailure maps LLM errors to River outcomes for plan (and reply): quota and budget complete the job with
// nothing queued; an answer that was paid for but cannot be used (refused, truncated, off-schema) also
// completes it, since a retry would pay again for the same answer; retryable errors snooze for the server's
// hint; anything else is retried.
func llmFailure(log *zap.Logger, prefix string, err error) error {
	var budget *llm.BudgetExhaustedError
	var retry *llm.RetryableError
	var unusable *llm.OutputError
	switch {
	case errors.As(err, &unusable):
		logUnusable(log, prefix, unusable)
		return nil
	case errors.Is(err, llm.ErrQuotaExhausted), errors.Is(err, llm.ErrCircuitOpen):
		logQuota(log, prefix)
		return nil
	case errors.As(err, &budget):
		if prefix == "PLAN_JOB" {
			logBudget(log, budget.Spent, budget.Cap)
		} else {
			log.Warn(fmt.Sprintf("[%s] OpenAI budget exhausted → not queueing", prefix), zap.Float64("spent", budget.Spent), zap.Float64("cap", budget.Cap))
		}
		return nil
	case errors.As(err, &retry):
		log.Warn(fmt.Sprintf("[%s] OpenAI retryable error; snoozing", prefix), zap.Error(err))
		return river.JobSnooze(retryAfter(retry.RetryAfter))
	default:
		return fmt.Errorf("%s: llm: %w", strings.ToLower(prefix), err)
	}
}

func (w *PlanWorker) llmFailure(log *zap.Logger, err error) error {
	return llmFailure(log, "PLAN_JOB", err)
}

func (w *PlanWorker) samplePicks(ctx context.Context, accountID int64, rng *rand.Rand) ([]pick, error) {
	cfg, st := w.d.Config, w.d.Store
	hours := bandit.HourArms()
	dims := []struct {
		scope string
		names []string
	}{{"topic", cfg.Topics}, {"format", cfg.Formats}, {"hook", cfg.Hooks}, {"hour", hours}}
	arms := make(map[string][]bandit.Arm, len(dims))
	for _, dim := range dims {
		a, err := st.LoadArms(ctx, st.Pool, accountID, dim.scope, dim.names)
		if err != nil {
			return nil, err
		}
		arms[dim.scope] = a
	}
	picks := make([]pick, cfg.PostsPerPlan)
	for i := range picks {
		p := pick{props: map[string]float64{}}
		var prop float64
		p.topic, prop = bandit.Sample(arms["topic"], rng)
		p.props["topic"] = prop
		p.format, prop = bandit.Sample(arms["format"], rng)
		p.props["format"] = prop
		p.hook, prop = bandit.Sample(arms["hook"], rng)
		p.props["hook"] = prop
		p.hour, prop = bandit.Sample(arms["hour"], rng)
		p.props["hour"] = prop
		picks[i] = p
	}
	return picks, nil
}

func (w *PlanWorker) systemPrompt() string {
	return w.d.Config.Voice + "\nWrite original posts for X. Each post must be under 280 characters, stand on its own, " +
		"contain no links and no @mentions, and use at most two hashtags and two emoji. Answer in JSON."
}

func (w *PlanWorker) userPrompt(picks []pick) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Write %d posts, one per brief, in order:\n", len(picks))
	for i, p := range picks {
		fmt.Fprintf(&b, "%d. topic: %s; format: %s; hook: %s\n", i+1, p.topic, p.format, p.hook)
	}
	return b.String()
}

// store schedules and stores the batch with its post jobs in one transaction.
func (w *PlanWorker) store(ctx context.Context, log *zap.Logger, accountID int64, picks []pick, texts []string,
	verdicts []gate.Verdict, source, requestID string) ([]*store.Decision, error) {
	d, cfg, st := w.d, w.d.Config, w.d.Store
	var out []*store.Decision
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		sched, err := newScheduler(ctx, st, tx, cfg, accountID, d.Now())
		if err != nil {
			return err
		}
		var posts []river.InsertManyParams
		var scopes, arms []string
		for i, text := range texts {
			p := picks[i]
			dec := &store.Decision{
				DecisionID: uuid.NewString(), AccountID: accountID, DecisionType: "single", Content: text,
				GenerationSource: source, Status: store.StatusQueued, Topic: p.topic, Format: p.format, Hook: p.hook,
				ArmPropensities: p.props, LLMRequestID: requestID,
			}
			v := verdicts[i]
			score := v.QualityScore
			dec.QualityScore = &score
			if !v.Passed {
				dec.Status, dec.SkipReason = store.StatusSkipped, v.SkipReason()
				dec.ScheduledAt = d.Now()
			} else if at, ok, err := sched.place(p.hour); err != nil {
				return err
			} else if ok {
				dec.ScheduledAt = at
			} else {
				dec.Status, dec.SkipReason, dec.ScheduledAt = store.StatusSkipped, "daily_cap", at
			}
			hb := dec.ScheduledAt.In(cfg.AccountTZ).Hour()
			dec.HourBucket = &hb
			if err := st.InsertDecision(ctx, tx, dec); err != nil {
				return err
			}
			if dec.Status == store.StatusQueued {
				scopes = append(scopes, "topic", "format", "hook", "hour")
				arms = append(arms, p.topic, p.format, p.hook, strconv.Itoa(hb))
				posts = append(posts, postJob(dec, cfg))
			}
			out = append(out, dec)
		}
		if err := st.RecordPulls(ctx, tx, accountID, scopes, arms); err != nil {
			return err
		}
		if len(posts) > 0 {
			if _, err := client(ctx).InsertManyTx(ctx, tx, posts); err != nil {
				return fmt.Errorf("insert post jobs: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan for account %d: store: %w", accountID, err)
	}
	return out, nil
}

// postJob is the post job of a queued decision, at its scheduled time.
func postJob(dec *store.Decision, cfg Config) river.InsertManyParams {
	return river.InsertManyParams{
		Args:       jobs.PostArgs{DecisionID: dec.DecisionID},
		InsertOpts: &river.InsertOpts{ScheduledAt: dec.ScheduledAt, MaxAttempts: cfg.PostMaxAttempts},
	}
}

// scheduler places posts per DESIGN.md section 4b: the hour arm's next slot within the window, pushed later
// by MIN_POST_SPACING from the account's other items, and refused past MAX_POSTS_PER_DAY on its day.
type scheduler struct {
	cfg   Config
	now   time.Time
	taken []time.Time
}

func newScheduler(ctx context.Context, st *store.Store, db store.DBTX, cfg Config, accountID int64, now time.Time) (*scheduler, error) {
	// Serialise planning per account so two plans never pick the same slot.
	if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':schedule:' || $1::bigint::text, 0))`, accountID); err != nil {
		return nil, fmt.Errorf("lock schedule of account %d: %w", accountID, err)
	}
	taken, err := st.PacingTimes(ctx, db, accountID, now.Add(-48*time.Hour), now.Add(30*24*time.Hour))
	if err != nil {
		return nil, err
	}
	return &scheduler{cfg: cfg, now: now, taken: taken}, nil
}

// place returns the post's time and whether it fits the day's cap.
func (s *scheduler) place(hour string) (time.Time, bool, error) {
	at, _, err := bandit.NextSlot(hour, s.now, s.cfg.PlanWindow, s.cfg.AccountTZ)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("schedule: %w", err)
	}
	for moved := true; moved; {
		moved = false
		for _, t := range s.taken {
			if d := at.Sub(t); d > -s.cfg.MinPostSpacing && d < s.cfg.MinPostSpacing {
				at, moved = t.Add(s.cfg.MinPostSpacing), true
			}
		}
	}
	y, m, dd := at.In(s.cfg.AccountTZ).Date()
	dayStart := time.Date(y, m, dd, 0, 0, 0, 0, s.cfg.AccountTZ)
	n := 0
	for _, t := range s.taken {
		if !t.Before(dayStart) && t.Before(dayStart.AddDate(0, 0, 1)) {
			n++
		}
	}
	if n >= s.cfg.MaxPostsPerDay {
		return at, false, nil
	}
	s.taken = append(s.taken, at)
	return at, true, nil
}
