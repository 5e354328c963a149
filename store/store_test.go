package store_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

// A process that starts while the server is full (53300; here a role's connection limit, the same
// refusal as max_connections) waits for a slot instead of failing; one that stays full fails with a
// reason that says so.
func TestConnectWaitsWhileTheServerIsFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	role := "xbot_full_" + time.Now().Format("150405000000")
	admin := dbtest.Pool(t)
	_, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD 'full-test' CONNECTION LIMIT 1")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	u, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	u.User = url.UserPassword(role, "full-test")

	held, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	_, err = pgx.Connect(ctx, u.String())
	require.True(t, store.ServerFull(err), "a second connection is refused with 53300: %v", err)

	// Full for good: the wait is bounded by the caller's context, and the error says why.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = store.Connect(short, u.String())
	cancel()
	require.Error(t, err)

	// Full until the slot is given back: Connect returns a working pool.
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(300 * time.Millisecond) // the other process holding the slot for a while
		_ = held.Close(ctx)
	}()
	pool, err := store.Connect(ctx, u.String())
	require.NoError(t, err)
	defer pool.Close()
	<-released
	var one int
	require.NoError(t, pool.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)
}
