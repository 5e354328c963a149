package telemetry_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/telemetry"
)

// keyCounts counts the top-level keys of one JSON line (encoding/json would silently keep one of two).
func keyCounts(t *testing.T, line string) map[string]int {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	counts := map[string]int{}
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		counts[k.(string)]++
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v))
	}
	return counts
}

func TestEachFieldOncePerLine(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	log, err := telemetry.NewLogger(&out, telemetry.LogConfig{Format: "json", Level: "info"})
	require.NoError(t, err)
	// The post worker's logger carries decision_id; the posted line names it again.
	job := log.With(zap.String("decision_id", "d-1"), zap.Int64("job_id", 7))
	job.Info("[POSTING_ORCHESTRATOR] ✅ Posted successfully tweet_id=9 decision_id=d-1",
		zap.String("tweet_id", "9"), zap.String("decision_id", "d-1"), zap.String("tweet_id", "9"))
	job.With(zap.String("job_id", "again"), zap.Namespace("http"), zap.Int("status", 200)).Info("nested", zap.Int("status", 201))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	c := keyCounts(t, lines[0])
	require.Equal(t, map[string]int{"level": 1, "ts": 1, "msg": 1, "decision_id": 1, "job_id": 1, "tweet_id": 1}, c)
	c = keyCounts(t, lines[1])
	require.Equal(t, 1, c["job_id"])
	require.Contains(t, lines[1], `"http":{"status":200,"status":201}`, "keys inside a namespace are not ours to merge")
}
