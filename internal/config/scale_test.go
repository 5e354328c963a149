package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/config"
)

func TestScaleSettings(t *testing.T) {
	t.Parallel()
	c, err := parse(nil)
	require.NoError(t, err)
	require.Equal(t, 10, c.WorkerConcurrency)
	require.Equal(t, 5, c.PostConcurrency)
	require.Equal(t, 20, c.DatabaseMaxConns, "sized to the queues: 10 + 5 + 5")
	require.Equal(t, config.PoolerNone, c.DatabasePooler)

	c, err = parse(map[string]string{"WORKER_CONCURRENCY": "200", "POST_CONCURRENCY": "50", "DATABASE_MAX_CONNS": "8", "DATABASE_POOLER": "pgbouncer"})
	require.NoError(t, err)
	require.Equal(t, 200, c.WorkerConcurrency)
	require.Equal(t, 50, c.PostConcurrency)
	require.Equal(t, 8, c.DatabaseMaxConns)
	require.Equal(t, config.PoolerPgBouncer, c.DatabasePooler)

	for name, bad := range map[string]string{"WORKER_CONCURRENCY": "0", "POST_CONCURRENCY": "x", "DATABASE_MAX_CONNS": "-1", "DATABASE_POOLER": "pgpool"} {
		_, err := parse(map[string]string{name: bad})
		require.ErrorContains(t, err, "config: "+name+"="+bad+": ", name)
	}
}
