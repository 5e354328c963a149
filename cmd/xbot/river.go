package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/jobs"
)

// River timings (README "Reliability" explains them).
const (
	// jobTimeout bounds any job; the post worker sets its own (X_CALL_TIMEOUT + 30 s, under a minute with
	// the default 20 s).
	jobTimeout = time.Minute
	// rescueMargin: RescueStuckJobsAfter is the longest job timeout plus this, or the rescuer would retry
	// jobs still running; beyond that it is how long a killed worker's jobs wait (the rescuer runs every
	// 30 s on the leader).
	rescueMargin = 15 * time.Second
	// softStop is how long SIGTERM waits for in-flight jobs (an X call is at most X_CALL_TIMEOUT).
	softStop = 45 * time.Second
	// fetchCooldown is River's default; the benchmark (README "Benchmarks") measured what shorter ones buy.
	fetchCooldown = 100 * time.Millisecond
)

// errorHandler cancels jobs whose args no longer parse (retrying cannot help) and logs every job error.
type errorHandler struct{ log *zap.Logger }

func (h *errorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		h.log.Error("job args do not parse; cancelled", zap.String("kind", job.Kind), zap.Int64("job_id", job.ID), zap.Error(err))
		return &river.ErrorHandlerResult{SetCancelled: true}
	}
	h.log.Warn("job error", zap.String("kind", job.Kind), zap.Int64("job_id", job.ID), zap.Int("attempt", job.Attempt),
		zap.Int("max_attempts", job.MaxAttempts), zap.Error(err))
	return nil
}

func (h *errorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.Error("job panicked", zap.String("kind", job.Kind), zap.Int64("job_id", job.ID), zap.Any("panic", panicVal), zap.String("trace", trace))
	return nil
}

// riverConfig is the fleet's River configuration: WORKER_CONCURRENCY workers on the default queue and
// POST_CONCURRENCY on post's; behind PgBouncer (transaction pooling) River polls instead of listening.
func riverConfig(log *zap.Logger, ws *river.Workers, periodic []*river.PeriodicJob, cfg *config.Config) *river.Config {
	return &river.Config{
		ID: riverClientID(),
		Queues: map[string]river.QueueConfig{
			jobs.QueueDefault: {MaxWorkers: cfg.WorkerConcurrency},
			jobs.QueuePost:    {MaxWorkers: cfg.PostConcurrency},
		},
		Workers:              ws,
		PeriodicJobs:         periodic,
		ErrorHandler:         &errorHandler{log: log},
		JobTimeout:           jobTimeout,
		RescueStuckJobsAfter: max(jobTimeout, cfg.XCallTimeout+30*time.Second) + rescueMargin,
		SoftStopTimeout:      softStop,
		// A queue fetches at most MaxWorkers jobs per FetchCooldown (100 ms by default): with the poll
		// interval it bounds lateness, not throughput, so both are short.
		FetchCooldown:     fetchCooldown,
		FetchPollInterval: 200 * time.Millisecond,
		PollOnly:          cfg.DatabasePooler == config.PoolerPgBouncer,
		Logger:            slog.New(zapslog.NewHandler(log.Named("river").WithOptions(zap.IncreaseLevel(zap.WarnLevel)).Core())),
	}
}

// promoteInterval is how often every replica makes due post jobs available (promoteDuePosts).
const promoteInterval = time.Second

// promoteDuePosts makes due `post` jobs available every second until ctx ends, on every replica. River's
// scheduler does this only on the leader, so after a leader dies (SIGKILL, lost host) due posts would wait
// out its 15 s lease and the next election, about 21 s in all. The state check makes the update idempotent
// and SKIP LOCKED keeps the replicas and the leader's scheduler out of each other's way; an update that finds
// nothing writes nothing.
func promoteDuePosts(ctx context.Context, log *zap.Logger, pool *pgxpool.Pool) {
	tick := time.NewTicker(promoteInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := promoteOnce(ctx, pool); err != nil && ctx.Err() == nil {
			log.Debug("promote due posts", zap.Error(err))
		}
	}
}

// promoteOnce makes up to 1,000 due scheduled post jobs available and returns how many it moved.
func promoteOnce(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, `UPDATE river_job SET state = 'available' WHERE id IN (
		SELECT id FROM river_job WHERE state = 'scheduled' AND queue = $1 AND scheduled_at <= now()
		ORDER BY scheduled_at LIMIT 1000 FOR UPDATE SKIP LOCKED)`, jobs.QueuePost)
	if err != nil {
		return 0, fmt.Errorf("promote due posts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// riverClientID names this process's River client by host, pid and start time, so river_leader says
// which replica leads.
func riverClientID() string {
	host, _ := os.Hostname()
	host = cmp.Or(host, "host")[:min(len(cmp.Or(host, "host")), 50)]
	return fmt.Sprintf("%s_pid%d_%s", host, os.Getpid(), time.Now().UTC().Format("20060102T150405.000000"))
}

// retryForever runs op with exponential backoff (0.5 s up to 15 s) until it succeeds or ctx ends, logging
// each failure as msg.
func retryForever(ctx context.Context, log *zap.Logger, msg string, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 500*time.Millisecond, 15*time.Second, 0
	return backoff.RetryNotify(op, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		log.Warn(msg, zap.Error(err), zap.Duration("wait", wait))
	})
}

// waitForDatabase blocks until the database answers (a worker may start before it does).
func waitForDatabase(ctx context.Context, log *zap.Logger, pool *pgxpool.Pool) error {
	err := retryForever(ctx, log, "database unreachable; retrying", func() error { return pool.Ping(ctx) })
	if err != nil {
		return fmt.Errorf("wait for database: %w", err)
	}
	return nil
}

// startRiver starts the client, retrying with backoff while the database is unreachable (River's Start
// fails then), until ctx ends.
func startRiver(ctx context.Context, log *zap.Logger, pool *pgxpool.Pool, cfg *river.Config) (*river.Client[pgx.Tx], error) {
	rc, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	if err := retryForever(ctx, log, "river start failed; retrying", func() error { return rc.Start(ctx) }); err != nil {
		return nil, fmt.Errorf("start river: %w", err)
	}
	return rc, nil
}

// stopRiver stops softly (in-flight jobs finish within SoftStopTimeout), or hard when hard is cancelled.
func stopRiver(hard context.Context, log *zap.Logger, rc *river.Client[pgx.Tx]) {
	stopCtx, cancel := context.WithTimeout(context.Background(), softStop+5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-hard.Done():
			log.Warn("second signal: stopping hard, cancelling running jobs")
			cancel()
		case <-stopCtx.Done():
		}
	}()
	if err := rc.Stop(stopCtx); err != nil {
		log.Warn("soft stop incomplete; cancelling running jobs", zap.Error(err))
		hardCtx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer hcancel()
		_ = rc.StopAndCancel(hardCtx)
	}
}
