package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
)

// runCmd runs a one-shot subcommand, returning its error and everything it printed.
func runCmd(env map[string]string, args ...string) (error, string) {
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr = out, out
	m.LookupEnv = lookupIn(env)
	err := m.Run(context.Background(), args)
	m.Close()
	return err, out.String()
}

func exitCodeOf(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if err != nil {
		return 1
	}
	return 0
}

// A running worker holds posts while the fleet is paused (rows stay queued, the job snoozes), and posts them
// within one snooze period of xbot resume.
func TestPauseResumeObservedByRunningWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t)
	env := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "POSTING_DISABLED": "false",
		"POSTING_SNOOZE": "1s", "PLAN_INTERVAL": "1h", "REPLY_INTERVAL": "1h"}
	runOnce(t, env, "migrate")
	out := runOnce(t, env, "pause", "--reason", "incident 42")
	require.Contains(t, out, "posting paused for every account")
	require.Regexp(t, `all\s+paused\s+\S+\s+incident 42`, runOnce(t, env, "status"))

	w := runProcess(t, env, "worker")
	id := uuid.NewString()
	_, err := pool.Exec(ctx, `INSERT INTO content_metadata (decision_id, account_id, decision_type, content, content_hash,
		generation_source, status, scheduled_at) SELECT $1::uuid, id, 'single', 'Pause test: held, then posted & done.', md5($1::text), 'real',
		'queued', now() FROM accounts WHERE is_default`, id)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO river_job (kind, args, queue, state, max_attempts, scheduled_at, priority)
		VALUES ('post', json_build_object('decision_id', $1::text), 'post', 'available', 4, now(), 1)`, id)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `SELECT pg_notify('river_insert', json_build_object('queue', 'post')::text)`)
	require.NoError(t, err)

	held := "Skipped posting decision_id=" + id + ": paused (xbot pause, all)"
	waitFor(t, "the post held twice (a snooze, then held again)", 60*time.Second, func() bool {
		return strings.Count(w.out.String(), held) >= 2
	}, w.out.String)
	status := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM content_metadata WHERE decision_id = $1`, id).Scan(&s))
		return s
	}
	require.Equal(t, "queued", status(), "paused rows stay queued")

	require.Contains(t, runOnce(t, env, "resume"), "posting resumed for every account")
	waitFor(t, "the post made after resume", 60*time.Second, func() bool { return status() == "posted" }, w.out.String)

	// Every JSON line the worker wrote carries each field once (the posted line used to repeat decision_id).
	posted := 0
	for _, line := range strings.Split(strings.TrimSpace(w.out.String()), "\n") {
		requireUniqueKeys(t, line)
		if strings.Contains(line, "Posted successfully") && strings.Contains(line, id) {
			posted++
		}
	}
	require.Equal(t, 1, posted)
}

// requireUniqueKeys fails when a JSON log line holds a top-level key twice.
func requireUniqueKeys(t *testing.T, line string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	_, err := dec.Token()
	require.NoError(t, err, line)
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err, line)
		require.False(t, seen[k.(string)], "key %q twice in %s", k, line)
		seen[k.(string)] = true
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v), line)
	}
}

// review, approve and reject round trip on the real commands; /api/decisions lists drafts behind auth; of
// two approvals of one draft at once, one wins and the other is told.
func TestApprovalsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	pool := dbtest.Pool(t)
	b.env["RIVERUI_PASSWORD"] = "approve-pw"
	require.NoError(t, b.main().Run(ctx, []string{"migrate"}))
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for i, id := range ids {
		_, err := pool.Exec(ctx, `INSERT INTO `+b.schema+`.content_metadata (decision_id, account_id, decision_type, content,
			content_hash, generation_source, status, scheduled_at, target_tweet_id, target_username, created_at)
			SELECT $1::uuid, id, 'reply', 'Draft reply number '||$2::int, md5($1::text), 'real', 'pending_approval', now() - interval '1 hour', $3, 'someone',
			now() - make_interval(mins => 10 - $2::int) FROM `+b.schema+`.accounts WHERE is_default`, id, i, "10"+string(rune('0'+i)))
		require.NoError(t, err)
	}

	_, base := b.start(t, "web", "--addr", "127.0.0.1:0")
	code, _ := get(t, base+"/api/decisions")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := do(t, "GET", base+"/api/decisions", nil, basicAuth("admin", "approve-pw"))
	require.Equal(t, http.StatusOK, code, body)
	var listed []draft
	require.NoError(t, json.Unmarshal([]byte(body), &listed))
	require.Len(t, listed, 3)
	require.Equal(t, ids[0], listed[0].DecisionID)
	require.Equal(t, "someone", listed[0].TargetUsername)

	err, out := runCmd(b.env, "review")
	require.NoError(t, err, out)
	for _, id := range ids {
		require.Contains(t, out, id)
	}
	require.Contains(t, out, "reply to @someone")

	// Hold the draft's row so both approvals are surely in flight together, then let them race.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // never leave the racers blocked
	var holder int
	require.NoError(t, tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&holder))
	_, err = tx.Exec(ctx, `SELECT 1 FROM `+b.schema+`.content_metadata WHERE decision_id = $1 FOR UPDATE`, ids[0])
	require.NoError(t, err)
	type result struct {
		err error
		out string
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			err, out := runCmd(b.env, "approve", ids[0])
			results <- result{err, out}
		}()
	}
	// The first racer waits on the holder, the second on the holder or on the first (its tuple lock).
	waitFor(t, "both approvals waiting on the row", 60*time.Second, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `
			WITH RECURSIVE waiting(pid) AS (
				SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
				UNION
				SELECT a.pid FROM pg_stat_activity a, waiting w WHERE w.pid = ANY(pg_blocking_pids(a.pid)))
			SELECT count(*) FROM waiting`, holder).Scan(&n))
		return n == 2
	}, func() string { return "" })
	require.NoError(t, tx.Rollback(ctx))
	r1, r2 := <-results, <-results
	won, lost := r1, r2
	if r1.err != nil {
		won, lost = r2, r1
	}
	require.NoError(t, won.err, won.out)
	require.Contains(t, won.out, ids[0]+": approved: queued for ")
	require.Equal(t, 1, exitCodeOf(lost.err), lost.out)
	require.Contains(t, lost.out, "is queued, not pending_approval: nothing changed")

	var status string
	var jobs int
	var late bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT c.status, (SELECT count(*) FROM `+b.schema+`.river_job j WHERE j.kind = 'post'
		AND j.args->>'decision_id' = $1::text), (SELECT bool_and(j.scheduled_at >= c.scheduled_at - interval '1 second' AND j.scheduled_at > now() - interval '1 minute')
		FROM `+b.schema+`.river_job j WHERE j.args->>'decision_id' = $1::text)
		FROM `+b.schema+`.content_metadata c WHERE c.decision_id = $1::uuid`, ids[0]).Scan(&status, &jobs, &late))
	require.Equal(t, "queued", status)
	require.Equal(t, 1, jobs, "one post job, inserted with the approval")
	require.True(t, late, "scheduled at the later of its time (an hour ago) and now")

	// reject: a reason is required; the row becomes skipped; deciding it again changes nothing.
	err, out = runCmd(b.env, "reject", ids[1])
	require.Equal(t, 2, exitCodeOf(err), out)
	err, out = runCmd(b.env, "reject", "--reason", "spam", "not-a-uuid")
	require.Equal(t, 2, exitCodeOf(err), out)
	err, out = runCmd(b.env, "reject", ids[1], "--reason", "off topic")
	require.NoError(t, err, out)
	require.Contains(t, out, ids[1]+": rejected")
	var reason string
	require.NoError(t, pool.QueryRow(ctx, `SELECT status || ' ' || skip_reason FROM `+b.schema+`.content_metadata WHERE decision_id = $1`, ids[1]).Scan(&reason))
	require.Equal(t, "skipped rejected: off topic", reason)
	err, out = runCmd(b.env, "approve", ids[1], ids[2])
	require.Equal(t, 1, exitCodeOf(err), out)
	require.Contains(t, out, ids[1]+": decision "+ids[1]+" is skipped, not pending_approval")
	require.Contains(t, out, ids[2]+": approved", "the other ids are still done")
	err, out = runCmd(b.env, "approve", "not-a-uuid")
	require.Equal(t, 2, exitCodeOf(err), out)
	err, out = runCmd(b.env, "approve", uuid.NewString())
	require.Equal(t, 1, exitCodeOf(err), out)
	require.Contains(t, out, "no such decision")
}
