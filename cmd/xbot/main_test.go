package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/xspec"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testBundle struct {
	stdout, stderr *syncBuffer
	env            map[string]string
	schema         string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	_, schema := dbtest.Schema(t)
	return &testBundle{
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, schema: schema,
		env: map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0"},
	}
}

// newTestMain is the program as tests run it: every X call it makes (to X at X_API_BASE_URL or to its
// built-in simulator) is checked against X's spec.
func newTestMain(t *testing.T) *Main {
	t.Helper()
	m := NewMain()
	m.XTransport = xspec.Load(t).Recorder(t, nil)
	return m
}

// lookupIn is the environment env as a test's program sees it. DATABASE_MAX_CONNS defaults to 6 there
// unless env sets it: tests run several programs at once, beside other test binaries on one server, and
// each would otherwise size its pool for a replica of its own (up to 20).
func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		if !ok && k == "DATABASE_MAX_CONNS" {
			return "6", true
		}
		return v, ok
	}
}

func (b *testBundle) main() *Main {
	m := NewMain()
	m.Stdout, m.Stderr = b.stdout, b.stderr
	m.LookupEnv = lookupIn(b.env)
	return m
}

// start runs a server subcommand in the background and waits until it serves.
func (b *testBundle) start(t *testing.T, args ...string) (*Main, string) {
	t.Helper()
	m := b.main()
	m.XTransport = xspec.Load(t).Recorder(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
		m.Close()
	})
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("%v exited early: %v\nstdout: %s", args, err, b.stdout.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%v not ready within 30s", args)
	}
	return m, "http://" + m.Addr()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestBadConfigExitsTwoFromEveryCommand(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"MODE":               "prod",
		"ANALYTICS_DELAY":    "soon",
		"OPENAI_TEMPERATURE": "3",
		"POSTING_DISABLED":   "maybe",
	}
	for _, cmd := range []string{"migrate", "web", "dev", "status"} {
		for name, value := range cases {
			b := &testBundle{stdout: &syncBuffer{}, stderr: &syncBuffer{}, env: map[string]string{name: value}}
			err := b.main().Run(context.Background(), []string{cmd})
			var ee *ExitError
			require.True(t, errors.As(err, &ee), "%s with %s=%s: %v", cmd, name, value, err)
			require.Equal(t, 2, ee.Code)
			var stderr bytes.Buffer
			require.Equal(t, 2, exitCode(&stderr, err))
			line := stderr.String()
			require.True(t, strings.HasPrefix(line, "config: "+name+"="+value+": "), line)
			require.Equal(t, 1, strings.Count(line, "\n"), "one line: %q", line)
		}
	}
}

func TestSecretIsRedactedInConfigError(t *testing.T) {
	t.Parallel()
	b := &testBundle{stdout: &syncBuffer{}, stderr: &syncBuffer{}, env: map[string]string{
		"OPENAI_MODEL": "mystery-model", "OPENAI_API_KEY": "sk-supersecret",
	}}
	err := b.main().Run(context.Background(), []string{"migrate"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "sk-supersecret")
	require.Contains(t, err.Error(), "config: OPENAI_MODEL=mystery-model: ")
}

func TestHelpForEveryCommand(t *testing.T) {
	t.Parallel()
	m := NewMain()
	for name := range m.commands() {
		var out bytes.Buffer
		m := NewMain()
		m.Stdout = &out
		require.NoError(t, m.Run(context.Background(), []string{name, "--help"}), name)
		require.Contains(t, out.String(), "usage: xbot "+name, name)
	}
}

func TestMigrateTwiceThenWebIsReady(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// dbtest.Schema already migrated; a fresh run must apply nothing.
	require.NoError(t, b.main().Run(context.Background(), []string{"migrate"}))
	require.Contains(t, b.stdout.String(), `"xbot":[]`)
	_, base := b.start(t, "web")
	code, body := get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = get(t, base+"/api/metrics")
	require.Equal(t, http.StatusOK, code, body)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	require.Contains(t, m, "posted_decisions")
	require.Contains(t, m, "llm")
}

func TestReadyzIs503WhenMigrationsPending(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool := dbtest.Pool(t)
	_, err := pool.Exec(context.Background(), "DELETE FROM "+b.schema+".xbot_migrations WHERE version = (SELECT max(version) FROM "+b.schema+".xbot_migrations)")
	require.NoError(t, err)
	_, base := b.start(t, "web")
	code, body := get(t, base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "migrations pending")
	code, _ = get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
}

func TestStatusPrintsRunbook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.main().Run(context.Background(), []string{"migrate"}))
	pool := dbtest.Pool(t)
	_, err := pool.Exec(context.Background(), `INSERT INTO `+b.schema+`.content_metadata
		(decision_id, account_id, decision_type, content, content_hash, generation_source, status, scheduled_at)
		SELECT gen_random_uuid(), id, 'single', 'hello', 'h', 'real', 'queued', now() FROM `+b.schema+`.accounts`)
	require.NoError(t, err)
	b.stdout = &syncBuffer{}
	require.NoError(t, b.main().Run(context.Background(), []string{"status"}))
	out := b.stdout.String()
	require.Regexp(t, `single\s+real\s+queued\s+1`, out)
	require.Contains(t, out, "posted_decisions: 0")
	require.Contains(t, out, "real outcomes (simulated=false): 0")
}
