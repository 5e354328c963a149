package workers

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// pick is one post's sampled arms: props holds each pick's propensity, hourProps every schedulable
// hour's (so the hour actually used is logged with its own probability if the pick cannot be honoured).
type pick struct {
	topic, format, hook string
	hour                string
	props               map[string]float64
	hourProps           map[string]float64
}

func (w *PlanWorker) Work(ctx context.Context, job *river.Job[jobs.PlanArgs]) error {
	if ad, err := w.d.forAccount(ctx, job.Args.AccountID); err != nil || ad != w.d {
		if err != nil {
			return err
		}
		return (&PlanWorker{d: ad}).Work(ctx, job) // the account's settings
	}
	d, cfg := w.d, w.d.Config
	log := d.Log.With(zap.Int64("job_id", job.ID), zap.Int64("account_id", job.Args.AccountID))
	rng := d.Rand()
	picks, err := w.samplePicks(ctx, job.Args.AccountID, rng)
	if err != nil {
		return fmt.Errorf("plan for account %d: sample arms: %w", job.Args.AccountID, err)
	}
	if len(picks) == 0 {
		// Nothing the day's cap and spacing can still take inside the window: no LLM call at all.
		log.Info("[PLAN_JOB] no free slot in the plan window (daily cap and spacing) → not asking the LLM",
			zap.Int("max_posts_per_day", cfg.MaxPostsPerDay), zap.Duration("plan_window", cfg.PlanWindow))
		return nil
	}

	source, requestID := "real", ""
	var texts []string
	switch {
	case d.Drafter != nil && (cfg.Live || d.LLMAvailable(ctx)):
		requestID = uuid.NewString()
		draft, err := d.draft(ctx, job.Args.AccountID, DraftRequest{
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
		case dec.Status == store.StatusPendingApproval:
			logDraft(log, "PLAN_JOB", dec.DecisionID)
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
		logBudget(log, prefix, budget)
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

// samplePicks samples as many posts as the window can still take (at most POSTS_PER_PLAN) from the joint
// posterior of the latest learning run: the topic only among topics the rotation gate would pass, the
// hour only among hours that still have a free slot, each pick taking its slot before the next is sampled.
func (w *PlanWorker) samplePicks(ctx context.Context, accountID int64, rng *rand.Rand) ([]pick, error) {
	d, cfg, st := w.d, w.d.Config, w.d.Store
	post, _, err := st.LatestPosterior(ctx, st.Pool, accountID, store.ModelPost)
	if err != nil {
		return nil, err
	}
	sched, err := loadScheduler(ctx, st, st.Pool, cfg, accountID, d.Now())
	if err != nil {
		return nil, err
	}
	rotation, err := d.Gate.Rotation(ctx, accountID)
	if err != nil {
		return nil, err
	}
	sampler := post.Sampler(rng) // the picks of a plan share its reference draws
	var picks []pick
	var pickedTopics []string
	for range cfg.PostsPerPlan {
		slots := sched.slots()
		if len(slots) == 0 {
			break
		}
		hours := make([]string, 0, len(slots))
		for h := range 24 {
			if _, ok := slots[h]; ok {
				hours = append(hours, strconv.Itoa(h))
			}
		}
		topics := rotation.Open(cfg.Topics, pickedTopics)
		pk, err := sampler.Pick([]bandit.Dimension{{Scope: bandit.ScopeTopic, Arms: topics}, {Scope: bandit.ScopeFormat, Arms: cfg.Formats},
			{Scope: bandit.ScopeHook, Arms: cfg.Hooks}, {Scope: bandit.ScopeHour, Arms: hours}})
		if err != nil {
			return nil, err
		}
		p := pick{topic: pk.Arms[0], format: pk.Arms[1], hook: pk.Arms[2], hour: pk.Arms[3], hourProps: pk.Props[3],
			props: map[string]float64{}}
		for i, scope := range bandit.PostScopes() {
			p.props[scope] = pk.Props[i][pk.Arms[i]]
		}
		h, _ := strconv.Atoi(p.hour)
		sched.take(slots[h])
		picks = append(picks, p)
		pickedTopics = append(pickedTopics, p.topic)
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
				GenerationSource: source, Status: cfg.newDecisionStatus(), Topic: p.topic, Format: p.format, Hook: p.hook,
				ArmPropensities: p.props, LLMRequestID: requestID,
			}
			v := verdicts[i]
			score := v.QualityScore
			dec.QualityScore = &score
			if !v.Passed {
				dec.Status, dec.SkipReason = store.StatusSkipped, v.SkipReason()
				dec.ScheduledAt = d.Now()
			} else if at, ok := sched.place(p.hour); ok {
				dec.ScheduledAt = at
			} else {
				dec.Status, dec.SkipReason, dec.ScheduledAt = store.StatusSkipped, "daily_cap", at
			}
			hb := dec.ScheduledAt.In(cfg.AccountTZ).Hour()
			dec.HourBucket = &hb
			if dec.Status == cfg.newDecisionStatus() {
				// The hour arm learns from the hour used, logged with that hour's own propensity.
				dec.ArmPropensities = maps.Clone(p.props)
				dec.ArmPropensities[bandit.ScopeHour] = p.hourProps[strconv.Itoa(hb)]
			}
			if dec.Status == cfg.newDecisionStatus() {
				scopes = append(scopes, "topic", "format", "hook", "hour")
				arms = append(arms, p.topic, p.format, p.hook, strconv.Itoa(hb))
			}
			if dec.Status == store.StatusQueued {
				posts = append(posts, postJob(dec, cfg, d.Now()))
			}
			out = append(out, dec)
		}
		if err := st.InsertDecisions(ctx, tx, out); err != nil {
			return err
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

// postJob is the post job of a queued decision, at its scheduled time (available at once when that is
// not after now).
func postJob(dec *store.Decision, cfg Config, now time.Time) river.InsertManyParams {
	return river.InsertManyParams{
		Args:       jobs.PostArgs{DecisionID: dec.DecisionID},
		InsertOpts: &river.InsertOpts{ScheduledAt: runAt(dec.ScheduledAt, now), MaxAttempts: cfg.PostMaxAttempts},
	}
}

// scheduler places posts per DESIGN.md section 4b, as revised by the learning issue: a post goes in an
// hour whose occurrence inside [now, now+PLAN_WINDOW] still has a slot MIN_POST_SPACING away from the
// account's other items, on a day below MAX_POSTS_PER_DAY — today, or a later day lying wholly inside the
// window (so with PLAN_WINDOW of a day or more every hour of a day is a real choice). When no hour of the window has one, the only
// slot is the earliest free time from now (spacing pushes it past the window if need be), if its day has
// room.
type scheduler struct {
	cfg   Config
	now   time.Time
	taken []time.Time
}

// newScheduler serialises planning per account (so two plans never take the same slot) and loads the
// account's items.
func newScheduler(ctx context.Context, st *store.Store, tx pgx.Tx, cfg Config, accountID int64, now time.Time) (*scheduler, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':schedule:' || $1::bigint::text, 0))`, accountID); err != nil {
		return nil, fmt.Errorf("lock schedule of account %d: %w", accountID, err)
	}
	return loadScheduler(ctx, st, tx, cfg, accountID, now)
}

// loadScheduler reads the account's items without locking (what a plan samples from before its LLM call).
func loadScheduler(ctx context.Context, st *store.Store, db store.DBTX, cfg Config, accountID int64, now time.Time) (*scheduler, error) {
	taken, err := st.PacingTimes(ctx, db, accountID, now.Add(-48*time.Hour), now.Add(30*24*time.Hour))
	if err != nil {
		return nil, err
	}
	return &scheduler{cfg: cfg, now: now, taken: taken}, nil
}

// free is the earliest time at or after from that keeps MIN_POST_SPACING from every taken item and lies
// outside the account's quiet hours.
func (s *scheduler) free(from time.Time) time.Time {
	at := from
	for moved := true; moved; {
		moved = false
		for _, t := range s.taken {
			if d := at.Sub(t); d > -s.cfg.MinPostSpacing && d < s.cfg.MinPostSpacing {
				at, moved = t.Add(s.cfg.MinPostSpacing), true
			}
		}
		if end, quiet := s.cfg.QuietHours.Until(at, s.cfg.AccountTZ); quiet {
			at, moved = end, true
		}
	}
	return at
}

// dayFull reports whether at's day in ACCOUNT_TZ already holds MAX_POSTS_PER_DAY items.
func (s *scheduler) dayFull(at time.Time) bool {
	y, m, dd := at.In(s.cfg.AccountTZ).Date()
	start := time.Date(y, m, dd, 0, 0, 0, 0, s.cfg.AccountTZ)
	end := start.AddDate(0, 0, 1)
	n := 0
	for _, t := range s.taken {
		if !t.Before(start) && t.Before(end) {
			n++
		}
	}
	return n >= s.cfg.MaxPostsPerDay
}

// slotIn is the earliest free slot inside an occurrence of hour h within the window; a quiet hour has none.
func (s *scheduler) slotIn(h int) (time.Time, bool) {
	if s.cfg.QuietHours.Contains(h) {
		return time.Time{}, false
	}
	tz, end := s.cfg.AccountTZ, s.now.Add(max(s.cfg.PlanWindow, 0))
	local := s.now.In(tz)
	for day := 0; day <= int(s.cfg.PlanWindow/(24*time.Hour))+1; day++ {
		start := time.Date(local.Year(), local.Month(), local.Day()+day, h, 0, 0, 0, tz)
		if start.In(tz).Hour() != h {
			continue // skipped by a DST change that day
		}
		stop := start.Add(time.Hour)
		if !stop.After(s.now) {
			continue
		}
		if start.After(end) {
			break
		}
		if day > 0 && time.Date(local.Year(), local.Month(), local.Day()+day+1, 0, 0, 0, 0, tz).After(end) {
			// A later day only once it lies wholly in the window: filled at the window's leading edge,
			// its first hours would take the day's whole cap and the hour would be no choice at all.
			break
		}
		at := s.free(maxTime(start, s.now))
		if at.Before(stop) && !at.After(end) && !s.dayFull(at) {
			return at, true
		}
	}
	return time.Time{}, false
}

// slots are the hours that can still take a post, each with its slot; with none in the window, the
// earliest free time from now under its own hour, if its day has room.
func (s *scheduler) slots() map[int]time.Time {
	out := map[int]time.Time{}
	for h := range 24 {
		if at, ok := s.slotIn(h); ok {
			out[h] = at
		}
	}
	if len(out) == 0 {
		if at := s.free(s.now); !s.dayFull(at) {
			out[at.In(s.cfg.AccountTZ).Hour()] = at
		}
	}
	return out
}

func (s *scheduler) take(at time.Time) { s.taken = append(s.taken, at) }

// place takes the picked hour's slot, or (when another plan took it meanwhile) the earliest slot left;
// false when none is left (the day's cap), with the time it would have had.
func (s *scheduler) place(hour string) (time.Time, bool) {
	h, err := strconv.Atoi(hour)
	if err == nil {
		if at, ok := s.slotIn(h); ok {
			s.take(at)
			return at, true
		}
	}
	slots := s.slots()
	if len(slots) == 0 {
		return s.free(s.now), false
	}
	var best time.Time
	for _, at := range slots {
		if best.IsZero() || at.Before(best) {
			best = at
		}
	}
	s.take(best)
	return best, true
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// NewPlanWorker is the plan worker on d, for running it outside a River client (`xbot sim-eval` runs it
// on a simulated clock, with rivertest.WorkContext for its inserts). d must have passed Register.
func NewPlanWorker(d *Deps) *PlanWorker { return &PlanWorker{d: d} }
