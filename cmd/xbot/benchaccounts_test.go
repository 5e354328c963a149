package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/jobs"
)

// BenchmarkAccounts is the pipeline benchmark's replica (startPipeline, pipelineEnv) with the same 100 plans
// of POSTS_PER_PLAN=20 given to one account or spread over 100: decisions/s from the plans' insert to the
// last learned outcome, and posting lateness (posted_at - scheduled_at) p50 and p99.
//
//	go test -run '^$' -bench '^BenchmarkAccounts$' -benchtime 1x -count=1 ./cmd/xbot
func BenchmarkAccounts(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) { benchAccounts(b, n, 100/n) })
	}
}

func benchAccounts(b *testing.B, accounts, plansPerAccount int) {
	ctx := context.Background()
	_, schema := dbtest.Schema(b)
	pcfg, err := pgxpool.ParseConfig(dbtest.SchemaURL(b, schema))
	require.NoError(b, err)
	pcfg.MaxConns = pipelineConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	fake := llmtest.NewServer(b, llmtest.Options{APIKey: benchLLMKey, Varied: true})
	env := pipelineEnv(fake.URL)
	p := startPipeline(b, pool, env)
	ids := []int64{p.acct.ID}
	for i := 1; i < accounts; i++ {
		var id int64
		require.NoError(b, pool.QueryRow(ctx, `INSERT INTO accounts (handle) VALUES ($1) RETURNING id`, fmt.Sprintf("acct%d", i)).Scan(&id))
		ids = append(ids, id)
	}
	params := make([]river.InsertManyParams, 0, accounts*plansPerAccount)
	for range plansPerAccount {
		for _, id := range ids {
			params = append(params, river.InsertManyParams{Args: jobs.PlanArgs{AccountID: id}})
		}
	}
	start := time.Now()
	_, err = p.rc.InsertMany(ctx, params)
	require.NoError(b, err)
	var learned int
	waitUntil(b, 15*time.Minute, "every plan's posts posted and learned from", func() (bool, error) {
		var plansLeft, open, posted int
		err := pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM river_job WHERE kind = 'plan' AND state NOT IN ('completed', 'discarded', 'cancelled')),
			(SELECT count(*) FROM content_metadata WHERE status IN ('queued', 'posting')),
			(SELECT count(*) FILTER (WHERE status = 'posted') FROM content_metadata),
			(SELECT count(*) FROM outcomes WHERE learned_at IS NOT NULL)`).Scan(&plansLeft, &open, &posted, &learned)
		return err == nil && plansLeft == 0 && open == 0 && posted > 0 && learned == posted, err
	})
	elapsed := time.Since(start)
	var p50, p99 float64
	require.NoError(b, pool.QueryRow(ctx, `SELECT
		percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM posted_at - scheduled_at)),
		percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM posted_at - scheduled_at))
		FROM content_metadata WHERE status = 'posted'`).Scan(&p50, &p99))
	note("accounts=%d: %d plans x POSTS_PER_PLAN=%s, %d decisions learned from in %s", accounts, len(params), env["POSTS_PER_PLAN"],
		learned, elapsed.Round(time.Millisecond))
	figure("decisions", round(float64(learned)/elapsed.Seconds(), 1), "decisions/s")
	figure("lateness_p50", round(p50, 3), "s")
	figure("lateness_p99", round(p99, 3), "s")
}
