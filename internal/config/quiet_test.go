package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/config"
)

func TestQuietHours(t *testing.T) {
	t.Parallel()
	q, err := config.ParseQuietHours(" 22-7 ")
	require.NoError(t, err)
	require.Equal(t, "22-7", q.String())
	for h, want := range map[int]bool{21: false, 22: true, 23: true, 0: true, 6: true, 7: false, 12: false} {
		require.Equal(t, want, q.Contains(h), "hour %d", h)
	}
	day, err := config.ParseQuietHours("9-17")
	require.NoError(t, err)
	require.True(t, day.Contains(9))
	require.False(t, day.Contains(17))
	late, err := config.ParseQuietHours("20-24")
	require.NoError(t, err)
	require.True(t, late.Contains(23))
	require.False(t, late.Contains(0))
	none, err := config.ParseQuietHours("")
	require.NoError(t, err)
	require.False(t, none.Contains(3))
	for _, bad := range []string{"22", "7-7", "0-24", "24-3", "a-b", "-1-5", "22-25"} {
		_, err := config.ParseQuietHours(bad)
		require.Error(t, err, bad)
	}

	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	// 23:30 in Berlin (22:30 UTC in winter): quiet until 07:00 Berlin, 06:00 UTC.
	at := time.Date(2026, 12, 3, 22, 30, 0, 0, time.UTC)
	end, quiet := q.Until(at, berlin)
	require.True(t, quiet)
	require.Equal(t, time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC), end.UTC())
	// 20:30 UTC is 21:30 in Berlin: not quiet.
	_, quiet = q.Until(time.Date(2026, 12, 3, 20, 30, 0, 0, time.UTC), berlin)
	require.False(t, quiet)
	// The night the clocks go back (25 October 2026, 03:00 CEST → 02:00 CET): still ends at 07:00 local.
	end, quiet = q.Until(time.Date(2026, 10, 24, 21, 0, 0, 0, time.UTC), berlin)
	require.True(t, quiet)
	require.Equal(t, time.Date(2026, 10, 25, 7, 0, 0, 0, berlin), end)
}
