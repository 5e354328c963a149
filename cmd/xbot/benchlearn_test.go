package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/jobs"
	"github.com/xbot/xbot/store"
)

// outcomeSpacing is the seeded density: one posted decision with its outcome every 63 s, so 1M outcomes
// span two years and the trailing 30 days always hold at most about 41,000.
const outcomeSpacing = 63 * time.Second

// seedOutcomes adds posted decisions with outcomes numbered from+1..to, the i-th posted i × outcomeSpacing
// before now, named by prefix; learned (as a learn run would have left them) or not.
func seedOutcomes(tb testing.TB, pool *pgxpool.Pool, accountID int64, prefix string, from, to int, learned bool) {
	tb.Helper()
	ctx := context.Background()
	const chunk = 100000
	for lo := from; lo < to; lo += chunk {
		hi := min(lo+chunk, to)
		_, err := pool.Exec(ctx, `
			WITH s AS (
				SELECT i, gen_random_uuid() AS id, now() - make_interval(secs => i * $4::float8) AS at
				FROM generate_series($2::int + 1, $3::int) i
			), cm AS (
				INSERT INTO content_metadata (decision_id, account_id, decision_type, content, content_hash,
					generation_source, status, scheduled_at, topic, format, hook, hour_bucket, tweet_id, posted_at,
					created_at, updated_at)
				SELECT id, $1, 'single', 'seeded post ' || i, md5('seeded post ' || i), 'real', 'posted', at,
					($5::text[])[1 + i % cardinality($5::text[])], ($6::text[])[1 + i % cardinality($6::text[])],
					($7::text[])[1 + i % cardinality($7::text[])], extract(hour FROM at AT TIME ZONE 'UTC')::int,
					$8 || i, at, at, at
				FROM s
			), pd AS (
				INSERT INTO posted_decisions (decision_id, account_id, decision_type, generation_source, backend, tweet_id, content, posted_at)
				SELECT id, $1, 'single', 'real', 'simulator', $8 || i, 'seeded post ' || i, at FROM s
			)
			INSERT INTO outcomes (decision_id, account_id, tweet_id, simulated, impressions, likes, engagement_rate,
				first_engagement_rate, first_impressions, first_engagements, status, collected_at, readings, learned_at)
			SELECT id, $1, $8 || i, true, 1000, 10 + i % 40, (10 + i % 40) / 1000.0, (10 + i % 40) / 1000.0, 1000, 10 + i % 40,
				'ok', at + interval '4 hours', CASE WHEN at < now() - interval '72 hours' THEN 3
					WHEN at < now() - interval '24 hours' THEN 2 ELSE 1 END, CASE WHEN $9 THEN at + interval '5 hours' END
			FROM s`, accountID, lo, hi, outcomeSpacing.Seconds(), config.DefaultTopics, config.DefaultFormats, config.DefaultHooks,
			prefix, learned)
		require.NoError(tb, err)
	}
	_, err := pool.Exec(ctx, `ANALYZE content_metadata; ANALYZE posted_decisions; ANALYZE outcomes`)
	require.NoError(tb, err)
}

// runLearn works one learn job through River and returns its run time.
func runLearn(tb testing.TB, p *pipeline, run int) time.Duration {
	tb.Helper()
	ctx := context.Background()
	events, cancel := p.rc.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancel()
	res, err := p.rc.Insert(ctx, jobs.LearnArgs{AccountID: p.acct.ID, Period: fmt.Sprintf("bench-%d", run)}, nil)
	require.NoError(tb, err)
	for {
		select {
		case ev := <-events:
			if ev.Job.ID != res.Job.ID {
				continue
			}
			require.Equal(tb, river.EventKindJobCompleted, ev.Kind, "learn job: %v", ev.Job.Errors)
			return ev.JobStats.RunDuration
		case <-time.After(5 * time.Minute):
			tb.Fatal("learn job did not finish")
		}
	}
}

// timeIt runs fn three times and returns the median duration.
func timeIt(tb testing.TB, fn func() error) time.Duration {
	tb.Helper()
	var ds []time.Duration
	for range 3 {
		start := time.Now()
		require.NoError(tb, fn())
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[1]
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds())/1000, 2) }

// benchLearn is item 4: one learn run (through River) with 10k, 100k and 1M outcomes stored and 20 new
// ones, and the sweeps' and the plan's pacing queries at the same sizes. Outcomes seeded as learned
// bypass the learner, so after each seeding the account's learning state is dropped and one run rebuilds
// it from all of them (learn_rebuild_*, what an account's first run after the upgrade costs); the runs
// measured then learn 20 new outcomes each, as in production.
func benchLearn(b *testing.B) {
	pool, _ := dbtest.Schema(b)
	p := startPipeline(b, pool, map[string]string{"MODE": "shadow", "POSTING_DISABLED": "true", "LEARN_MIN_OUTCOMES": "5"})
	st := store.New(pool)
	ctx := context.Background()
	note("learn: one account, outcomes one per %s (1M span two years), 20 new unlearned per run, median of 3 runs through River", outcomeSpacing)
	prev, run := 0, 0
	for _, size := range []struct {
		n    int
		name string
	}{{10000, "10k"}, {100000, "100k"}, {1000000, "1m"}} {
		start := time.Now()
		seedOutcomes(b, pool, p.acct.ID, "seed", prev, size.n, true)
		note("learn: seeded %d outcomes in %s", size.n-prev, time.Since(start).Round(time.Second))
		prev = size.n
		_, err := pool.Exec(ctx, `DELETE FROM learn_stats WHERE account_id = $1`, p.acct.ID)
		require.NoError(b, err)
		var runs []time.Duration
		for i := range 4 {
			run++
			seedOutcomes(b, pool, p.acct.ID, fmt.Sprintf("fresh%d-", run), 0, 20, false)
			d := runLearn(b, p, run)
			if i == 0 {
				figure("learn_rebuild_"+size.name, ms(d), "ms")
				continue
			}
			runs = append(runs, d)
		}
		slices.Sort(runs)
		figure("learn_run_"+size.name, ms(runs[1]), "ms")
		now := time.Now()
		delays := []time.Duration{4 * time.Hour, 24 * time.Hour, 72 * time.Hour}
		figure("sweep_post_orphans_"+size.name, ms(timeIt(b, func() error {
			_, err := st.PostOrphans(ctx, pool, now, now.Add(-time.Minute), 500)
			return err
		})), "ms")
		figure("sweep_due_readings_"+size.name, ms(timeIt(b, func() error {
			_, err := st.DueReadings(ctx, pool, now, 3*24*time.Hour, delays, false, 500)
			return err
		})), "ms")
		figure("plan_pacing_"+size.name, ms(timeIt(b, func() error {
			_, err := st.PacingTimes(ctx, pool, p.acct.ID, now.Add(-48*time.Hour), now.Add(30*24*time.Hour))
			return err
		})), "ms")
		figure("post_claim_pace_"+size.name, ms(timeIt(b, func() error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				day := now.Truncate(24 * time.Hour)
				_, _, err := st.ClaimPaced(ctx, tx, "00000000-0000-0000-0000-000000000000", p.acct.ID, "simulator", 0,
					store.PostPace{Spacing: time.Minute, PerDay: 1000, DayStart: day, DayEnd: day.Add(24 * time.Hour)})
				if errors.Is(err, store.ErrNotFound) {
					err = nil // no such decision: the pace was read all the same
				}
				return err
			})
		})), "ms")
		figure("canonical_queue_"+size.name, ms(timeIt(b, func() error {
			_, err := st.CanonicalQueue(ctx, pool, true)
			return err
		})), "ms")
	}
}
