package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunRefusesBadFlags(t *testing.T) {
	t.Parallel()
	require.ErrorContains(t, run([]string{"-mode", "sometimes"}), "-mode")
	require.Error(t, run([]string{"-no-such-flag"}))
	require.ErrorContains(t, run([]string{"-addr", "256.0.0.1:99999"}), "listen")
}
