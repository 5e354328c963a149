package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

func TestMigrateIsIdempotentAndConcurrentSafe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := dbtest.Schema(t) // already migrated once

	var wg sync.WaitGroup
	results := make([]*store.MigrateResult, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = store.Migrate(ctx, pool, schema)
		}()
	}
	wg.Wait()
	for i := range 3 {
		require.NoError(t, errs[i])
		require.Empty(t, results[i].Applied, "a second run applies nothing")
		require.Empty(t, results[i].RiverApplied, "a second run applies no river migration")
	}
	ok, err := store.MigrationsCurrent(ctx, pool, schema)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestMigrateFreshSchemaConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.Schema(t)
	// A second, empty schema migrated by two callers at once: exactly one applies each file.
	schema := "fresh_" + strings.ToLower(t.Name()[4:12])
	_, err := pool.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	var wg sync.WaitGroup
	applied := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := store.Migrate(ctx, pool, schema)
			require.NoError(t, err)
			applied[i] = len(res.Applied)
		}()
	}
	wg.Wait()
	all, err := store.Migrations()
	require.NoError(t, err)
	require.Equal(t, len(all), applied[0]+applied[1])
	ok, err := store.MigrationsCurrent(ctx, pool, schema)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
	require.NoError(t, err)
}

func TestRunbookQueriesVerbatim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	s := store.New(dbtest.Pool(t))
	acct, err := s.UpsertDefaultAccount(ctx, tx, "", "")
	require.NoError(t, err)
	require.Empty(t, acct.XUserID)
	_, err = tx.Exec(ctx, `INSERT INTO content_metadata (decision_id, account_id, decision_type, content, content_hash, generation_source, status, scheduled_at)
		VALUES (gen_random_uuid(), $1, 'single', 'hello', 'h1', 'real', 'queued', now())`, acct.ID)
	require.NoError(t, err)

	// The seed's queries, exactly as operators type them.
	for _, q := range []string{
		`SELECT decision_type, generation_source, status, COUNT(*) FROM content_metadata GROUP BY 1,2,3;`,
		`SELECT COUNT(*) FROM posted_decisions;`,
		`SELECT COUNT(*) FROM outcomes WHERE simulated=false;`,
		`SELECT decision_id, decision_type, status, generation_source, scheduled_at FROM content_metadata ORDER BY created_at DESC LIMIT 5;`,
		`SELECT * FROM content_metadata WHERE status = 'queued' AND generation_source = 'real' AND scheduled_at <= NOW() ORDER BY scheduled_at ASC LIMIT 5`,
	} {
		rows, err := tx.Query(ctx, q)
		require.NoError(t, err, q)
		rows.Close()
		require.NoError(t, rows.Err(), q)
	}
	st, err := s.Runbook(ctx, tx)
	require.NoError(t, err)
	require.Equal(t, []store.QueueCount{{DecisionType: "single", GenerationSource: "real", Status: "queued", Count: 1}}, st.Queue)
	require.Len(t, st.Recent, 1)
	require.Zero(t, st.Posted)

	// The upsert keeps what it knew and fills in what it learns.
	acct2, err := s.UpsertDefaultAccount(ctx, tx, "12345", "xbot_demo")
	require.NoError(t, err)
	require.Equal(t, acct.ID, acct2.ID)
	require.Equal(t, "12345", acct2.XUserID)
	acct3, err := s.UpsertDefaultAccount(ctx, tx, "", "")
	require.NoError(t, err)
	require.Equal(t, "12345", acct3.XUserID)
	require.Equal(t, "xbot_demo", acct3.Handle)
}

func TestConstraintsRejectImpossibleRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	acct, err := store.New(dbtest.Pool(t)).UpsertDefaultAccount(ctx, tx, "", "")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SAVEPOINT s`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO content_metadata (decision_id, account_id, decision_type, content, content_hash, generation_source, status, scheduled_at)
		VALUES (gen_random_uuid(), $1, 'single', 'x', 'h', 'real', 'bogus', now())`, acct.ID)
	require.ErrorContains(t, err, "check constraint")
	_, err = tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO content_metadata (decision_id, account_id, decision_type, content, content_hash, generation_source, status, scheduled_at)
		VALUES (gen_random_uuid(), $1, 'single', 'x', 'h', 'real', 'posted', now())`, acct.ID)
	require.ErrorContains(t, err, "check constraint", "posted needs a tweet id")
}
