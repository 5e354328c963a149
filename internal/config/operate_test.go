package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDatabaseMaxConnsFollowsTheQueues(t *testing.T) {
	t.Parallel()
	c, err := parse(nil)
	require.NoError(t, err)
	require.Equal(t, 10+5+5, c.DatabaseMaxConns)
	c, err = parse(map[string]string{"WORKER_CONCURRENCY": "4", "POST_CONCURRENCY": "2"})
	require.NoError(t, err)
	require.Equal(t, 11, c.DatabaseMaxConns)
	c, err = parse(map[string]string{"WORKER_CONCURRENCY": "200", "POST_CONCURRENCY": "50"})
	require.NoError(t, err)
	require.Equal(t, 20, c.DatabaseMaxConns, "bounded unless set")
	c, err = parse(map[string]string{"WORKER_CONCURRENCY": "40", "DATABASE_MAX_CONNS": "12"})
	require.NoError(t, err)
	require.Equal(t, 12, c.DatabaseMaxConns)
}
