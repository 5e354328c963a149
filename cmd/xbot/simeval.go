package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/bandit"
	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/internal/xsim"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
	"github.com/xbot/xbot/workers"
)

type simEvalOpts struct {
	posts, seeds, changeAt int
	flawed                 float64 // the share of the LLM fake's drafts that carry a flaw the gates refuse
}

func cmdSimEval() *command {
	return &command{
		summary: "measure learning: the real plan and learn workers on a throwaway schema, the simulator's audience model, on a simulated clock; prints cumulative regret of xbot against uniform random and the oracle (with the default PLAN_WINDOW of a day the hour is a real choice)",
		usage:   "[--posts 300] [--seeds 5] [--change-at 0] [--flawed-drafts 0]",
		flags: func(fs *flag.FlagSet) any {
			o := &simEvalOpts{}
			fs.IntVar(&o.posts, "posts", 300, "posts per seed")
			fs.IntVar(&o.seeds, "seeds", 5, "seeds (worlds) to run")
			fs.IntVar(&o.changeAt, "change-at", 0, "after this many posts the best topic swaps with the worst (0: never)")
			fs.Float64Var(&o.flawed, "flawed-drafts", 0, "share of the LLM fake's drafts that carry a link, a handle or too many hashtags, which the gates refuse (an assumed rate of bad drafts; 0: none)")
			return o
		},
		run: func(ctx context.Context, m *Main, e *env, opts any, _ []string) error {
			o := opts.(*simEvalOpts)
			if o.posts < 1 || o.seeds < 1 || o.changeAt < 0 || !(o.flawed >= 0 && o.flawed < 1) {
				return &ExitError{Code: 2, Msg: "sim-eval: --posts and --seeds must be positive, --change-at not negative, --flawed-drafts in [0, 1)"}
			}
			pool, err := e.db(ctx, m)
			if err != nil {
				return err
			}
			var results []simEvalResult
			for seed := 1; seed <= o.seeds; seed++ {
				r, err := simEvalSeed(ctx, e, pool, uint64(seed), o, nil)
				if err != nil {
					return fmt.Errorf("sim-eval seed %d: %w", seed, err)
				}
				results = append(results, r)
				fmt.Fprintln(m.Stdout, r.line(seed))
			}
			fmt.Fprintln(m.Stdout, simEvalSummary(results, o))
			return nil
		},
	}
}

// simWorld is the simulator's default world for evaluation: hidden log effects per configured arm of each
// dimension (topic, format, hook, hour), multiplying a base rate of 3%, drawn from a seed. The spreads are
// those of the calibration simulation behind the learning issue.
type simWorld struct {
	topics, formats, hooks []string
	effects                [4][]float64
	base                   float64
}

func newSimWorld(seed uint64, topics, formats, hooks []string) *simWorld {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := &simWorld{topics: topics, formats: formats, hooks: hooks, base: math.Log(0.03)}
	spread := [4]float64{0.35, 0.25, 0.25, 0.2}
	for d, n := range []int{len(topics), len(formats), len(hooks), 24} {
		w.effects[d] = make([]float64, n)
		for i := range n {
			w.effects[d][i] = rng.NormFloat64() * spread[d]
		}
	}
	return w
}

// rate is the hidden engagement rate of a combination.
func (w *simWorld) rate(topic, format, hook string, hour int) float64 {
	x := w.base + w.effects[0][slices.Index(w.topics, topic)] + w.effects[1][slices.Index(w.formats, format)] +
		w.effects[2][slices.Index(w.hooks, hook)] + w.effects[3][hour]
	return math.Min(math.Exp(x), 0.5)
}

func argmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x)
	}
	return s / float64(len(xs))
}

// swapBestTopic is the mid-run change: the best topic and the worst trade places.
func (w *simWorld) swapBestTopic() {
	e := w.effects[0]
	best, worst := argmax(e), 0
	for i := range e {
		if e[i] < e[worst] {
			worst = i
		}
	}
	e[best], e[worst] = e[worst], e[best]
}

// oracleRate is the mean rate per post of the best schedule the rules allow: the best format and hook, the
// best topics at most ROTATION_MAX_SHARE each (the rotation gate), in the best hours, MAX_POSTS_PER_DAY a
// day with as many per hour as MIN_POST_SPACING allows.
func (w *simWorld) oracleRate(perDay int, spacing time.Duration, maxShare float64) float64 {
	perHour := 1
	if spacing > 0 {
		perHour = max(int(time.Hour/spacing), 1)
	} else {
		perHour = perDay
	}
	hours := slices.Clone(w.effects[3])
	sort.Sort(sort.Reverse(sort.Float64Slice(hours)))
	topics := slices.Clone(w.effects[0])
	sort.Sort(sort.Reverse(sort.Float64Slice(topics)))
	rest := w.base + slices.Max(w.effects[1]) + slices.Max(w.effects[2])
	total := 0.0
	left := 1.0
	for _, t := range topics {
		share := math.Min(math.Max(maxShare, 1e-9), left)
		left -= share
		sum, n := 0.0, 0
		for _, h := range hours {
			for range perHour {
				if n < perDay {
					sum += math.Min(math.Exp(rest+t+h), 0.5)
					n++
				}
			}
		}
		total += share * sum / float64(n)
		if left <= 0 {
			break
		}
	}
	return total
}

// randomRate is uniform random's expected rate (every combination, every hour alike).
func (w *simWorld) randomRate() float64 {
	return math.Exp(w.base) * mean(w.effects[0]) * mean(w.effects[1]) * mean(w.effects[2]) * mean(w.effects[3])
}

type simEvalResult struct {
	xbot, random, oracle float64 // cumulative regret against the best combination in every hour
	ratio                float64 // (xbot - oracle) / (random - oracle): regret against what pacing allows
	reconverge           int     // posts after the change until the learned best topic is the new best; -1: never
	costRatio            float64 // LLM cost per posted decision / cost of the accepted drafts alone
	llmCost, acceptedUSD float64
	posted, plans        int
	drafts, rejected     int        // LLM drafts stored, and those the gates refused
	bestShare            [4]float64 // share of the last 100 posts on each dimension's best arm (topic, format, hook, hour)
	learned, planted     [4]string  // per dimension: the arm with the highest learned lift, and the world's best
}

// learnedBest is, per post dimension, the arm with the highest lift in bandit_arms.
func learnedBest(ctx context.Context, st *store.Store, db store.DBTX, acct int64) ([4]string, error) {
	var out [4]string
	arms, err := st.Arms(ctx, db, acct)
	if err != nil {
		return out, err
	}
	top := [4]float64{}
	for _, a := range arms {
		d := slices.Index(bandit.PostScopes(), a.Scope)
		if d >= 0 && a.Evidence > 0 && (out[d] == "" || a.Lift > top[d]) {
			out[d], top[d] = a.Name, a.Lift
		}
	}
	return out, nil
}

func (r simEvalResult) line(seed int) string {
	s := fmt.Sprintf("seed %d: posts=%d regret xbot=%.3f random=%.3f oracle=%.3f ratio=%.3f llm_cost_ratio=%.3f (cost $%.4f, accepted drafts $%.4f, %d plans, %d of %d drafts refused by the gates)",
		seed, r.posted, r.xbot, r.random, r.oracle, r.ratio, r.costRatio, r.llmCost, r.acceptedUSD, r.plans, r.rejected, r.drafts)
	s += fmt.Sprintf(" best_arm_share_last100=topic:%.2f,format:%.2f,hook:%.2f,hour:%.2f", r.bestShare[0], r.bestShare[1], r.bestShare[2], r.bestShare[3])
	if r.reconverge != 0 {
		s += fmt.Sprintf(" reconverged_after=%d", r.reconverge)
	}
	return s
}

func simEvalSummary(rs []simEvalResult, o *simEvalOpts) string {
	var ratios, costs []float64
	var recon []int
	for _, r := range rs {
		ratios = append(ratios, r.ratio)
		costs = append(costs, r.costRatio)
		recon = append(recon, r.reconverge)
	}
	s := fmt.Sprintf("median regret ratio (xbot vs uniform random, both over the oracle) = %.3f over %d seeds of %d posts; median llm_cost_ratio = %.3f",
		median(ratios), len(rs), o.posts, median(costs))
	if o.changeAt > 0 {
		s += fmt.Sprintf("; posts until the learned best topic is the new best after the change at %d: %v (-1: not within the run)", o.changeAt, recon)
	}
	return s
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// noX stands in for the X API: sim-eval posts by updating rows itself and never calls X.
type noX struct{ workers.XAPI }

// simEvalSeed runs one world on its own throwaway schema.
// A nil world is the default world of the seed.
func simEvalSeed(ctx context.Context, e *env, admin *pgxpool.Pool, seed uint64, o *simEvalOpts, world *simWorld) (res simEvalResult, err error) {
	cfg := *e.cfg
	schema := fmt.Sprintf("simeval_%d_%d", time.Now().UnixNano(), seed)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return res, fmt.Errorf("create schema: %w", err)
	}
	defer func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		return res, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pool, err := store.Connect(ctx, u.String())
	if err != nil {
		return res, err
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool, schema); err != nil {
		return res, err
	}

	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := store.New(pool)
	st.Now = clock
	var acct int64
	if err := pool.QueryRow(ctx, `INSERT INTO accounts (handle, is_default) VALUES ('simeval', true) RETURNING id`).Scan(&acct); err != nil {
		return res, fmt.Errorf("account: %w", err)
	}

	// The LLM: the fake over HTTP, through the real budgeted client, so api_usage holds real token counts.
	fake := httptest.NewServer(llmtest.NewHandler(llmtest.Options{Varied: true, Now: clock, FlawedShare: o.flawed}))
	defer fake.Close()
	lcfg := llm.FromConfig(&cfg, zap.NewNop())
	lcfg.APIKey, lcfg.BaseURL, lcfg.Now, lcfg.ForceCircuitOpen = "sk-simeval", fake.URL+"/v1", clock, false
	lcfg.DailyCapUSD = 1000
	lc, err := llm.New(lcfg, st.LLMLedger())
	if err != nil {
		return res, err
	}
	gcfg := gateConfig(&cfg)
	gcfg.Now = clock
	chain, err := gate.New(gcfg, st.GateHistory(pool))
	if err != nil {
		return res, err
	}
	wcfg := workerConfig(&cfg, "simulator")
	wcfg.Live = false
	var rngSeq uint64
	deps := &workers.Deps{Config: wcfg, Store: st, Log: zap.NewNop(), X: noX{}, Gate: chain, Now: clock,
		Drafter: workers.LLMDrafter{Client: lc}, LLMAvailable: func(context.Context) bool { return true },
		Rand: func() *rand.Rand { rngSeq++; return rand.New(rand.NewPCG(seed, rngSeq)) }}
	if err := workers.Register(river.NewWorkers(), deps); err != nil {
		return res, err
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return res, err
	}
	wctx := rivertest.WorkContext(ctx, rc)
	planner, learner := workers.NewPlanWorker(deps), workers.NewLearnWorker(deps)

	if world == nil {
		world = newSimWorld(seed, wcfg.Topics, wcfg.Formats, wcfg.Hooks)
	}
	type reading struct {
		id, tweet, text string
		rate            float64
		postedAt        time.Time
	}
	var pending []reading
	var jobID int64
	step := 10 * time.Minute
	nextPlan, learnDue := now, time.Time{}
	for res.posted < o.posts {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if !now.Before(nextPlan) {
			jobID++
			job := &river.Job[jobs.PlanArgs]{JobRow: &rivertype.JobRow{ID: jobID, Attempt: 1}, Args: jobs.PlanArgs{AccountID: acct}}
			if err := planner.Work(wctx, job); err != nil {
				var snooze *river.JobSnoozeError
				if !errors.As(err, &snooze) {
					return res, fmt.Errorf("plan: %w", err)
				}
			}
			res.plans++
			nextPlan = nextPlan.Add(wcfg.PlanInterval)
		}
		// Post what is due, as the post worker would (the exactly-once protocol is not what is measured).
		rows, err := pool.Query(ctx, `SELECT decision_id::text, content, topic, format, hook, scheduled_at FROM content_metadata
			WHERE status = 'queued' AND scheduled_at <= $1 ORDER BY scheduled_at`, now)
		if err != nil {
			return res, err
		}
		type due struct {
			id, text, topic, format, hook string
			at                            time.Time
		}
		var dues []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.text, &d.topic, &d.format, &d.hook, &d.at); err != nil {
				return res, err
			}
			dues = append(dues, d)
		}
		rows.Close()
		for _, d := range dues {
			if res.posted >= o.posts {
				break
			}
			if o.changeAt > 0 && res.posted == o.changeAt {
				world.swapBestTopic()
			}
			hour := d.at.In(wcfg.AccountTZ).Hour()
			rate := world.rate(d.topic, d.format, d.hook, hour)
			best := math.Min(math.Exp(world.base+slices.Max(world.effects[0])+slices.Max(world.effects[1])+
				slices.Max(world.effects[2])+slices.Max(world.effects[3])), 0.5)
			res.xbot += best - rate
			res.random += best - world.randomRate()
			res.oracle += best - world.oracleRate(wcfg.MaxPostsPerDay, wcfg.MinPostSpacing, cfg.RotationMaxShare)
			res.posted++
			if res.posted > o.posts-100 {
				for dim, arm := range []int{slices.Index(world.topics, d.topic), slices.Index(world.formats, d.format),
					slices.Index(world.hooks, d.hook), hour} {
					if arm == argmax(world.effects[dim]) {
						res.bestShare[dim] += 0.01
					}
				}
			}
			tweet := uuid.NewString()
			if _, err := pool.Exec(ctx, `UPDATE content_metadata SET status = 'posted', tweet_id = $2, posted_at = $3, updated_at = $3
				WHERE decision_id = $1`, d.id, tweet, d.at); err != nil {
				return res, err
			}
			if _, err := pool.Exec(ctx, `INSERT INTO posted_decisions (decision_id, account_id, decision_type, generation_source, backend, tweet_id, content, posted_at)
				VALUES ($1, $2, 'single', 'real', 'simulator', $3, $4, $5)`, d.id, acct, tweet, d.text, d.at); err != nil {
				return res, err
			}
			pending = append(pending, reading{id: d.id, tweet: tweet, text: d.text, rate: rate, postedAt: d.at})
		}
		// The first reading, ANALYTICS_DELAY after posting, then learn at the next period.
		kept := pending[:0]
		for _, r := range pending {
			at := r.postedAt.Add(wcfg.AnalyticsDelay)
			if at.After(now) {
				kept = append(kept, r)
				continue
			}
			mt := xsim.Simulate(int64(seed), xsim.DefaultUserID, 5000, r.text, r.rate, r.postedAt, at)
			if err := st.StoreReading(ctx, pool, store.Reading{DecisionID: r.id, AccountID: acct, TweetID: r.tweet, Simulated: true,
				Status: store.OutcomeOK, Impressions: mt.Impressions, Likes: mt.Likes, Retweets: mt.Reposts, Replies: mt.Replies,
				Quotes: mt.Quotes, Bookmarks: mt.Bookmarks, Number: 1, CollectedAt: at}); err != nil {
				return res, err
			}
			learnDue = at.Truncate(wcfg.LearnPeriod).Add(wcfg.LearnPeriod)
		}
		pending = kept
		if !learnDue.IsZero() && !now.Before(learnDue) {
			jobID++
			job := &river.Job[jobs.LearnArgs]{JobRow: &rivertype.JobRow{ID: jobID, Attempt: 1}, Args: jobs.LearnArgs{AccountID: acct}}
			if err := learner.Work(wctx, job); err != nil {
				return res, fmt.Errorf("learn: %w", err)
			}
			learnDue = time.Time{}
			if o.changeAt > 0 && res.posted > o.changeAt && res.reconverge == 0 {
				best, err := learnedBest(ctx, st, pool, acct)
				if err != nil {
					return res, err
				}
				if best[0] == world.topics[argmax(world.effects[0])] {
					res.reconverge = res.posted - o.changeAt
				}
			}
		}
		now = now.Add(step)
	}
	if o.changeAt > 0 && res.reconverge == 0 {
		res.reconverge = -1
	}
	if res.learned, err = learnedBest(ctx, st, pool, acct); err != nil {
		return res, err
	}
	for d, names := range [][]string{world.topics, world.formats, world.hooks} {
		res.planted[d] = names[argmax(world.effects[d])]
	}
	res.planted[3] = strconv.Itoa(argmax(world.effects[3]))
	res.ratio = (res.xbot - res.oracle) / (res.random - res.oracle)
	err = pool.QueryRow(ctx, `
		SELECT COALESCE(sum(u.cost_usd), 0)::float8,
		       COALESCE(sum(u.cost_usd * COALESCE(q.accepted, 0) / NULLIF(q.drafts, 0)), 0)::float8
		FROM api_usage u
		LEFT JOIN (SELECT llm_request_id, count(*) FILTER (WHERE status IN ('queued', 'posting', 'posted')) AS accepted,
		                  count(*) AS drafts
		           FROM content_metadata GROUP BY 1) q ON q.llm_request_id = u.request_id
		WHERE u.purpose = 'content_generation'`).Scan(&res.llmCost, &res.acceptedUSD)
	if err != nil {
		return res, fmt.Errorf("llm cost: %w", err)
	}
	if res.acceptedUSD > 0 {
		res.costRatio = res.llmCost / res.acceptedUSD
	}
	err = pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'skipped' AND skip_reason <> 'daily_cap')
		FROM content_metadata WHERE llm_request_id IS NOT NULL`).Scan(&res.drafts, &res.rejected)
	if err != nil {
		return res, fmt.Errorf("drafts: %w", err)
	}
	return res, nil
}
