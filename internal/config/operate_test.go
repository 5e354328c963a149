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
	c, err = parse(map[string]string{"WORKER_CONCURRENCY": "40", "POST_CONCURRENCY": "10"})
	require.NoError(t, err)
	require.Equal(t, 55, c.DatabaseMaxConns)
	c, err = parse(map[string]string{"WORKER_CONCURRENCY": "40", "DATABASE_MAX_CONNS": "12"})
	require.NoError(t, err)
	require.Equal(t, 12, c.DatabaseMaxConns)
}
