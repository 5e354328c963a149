package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/internal/llm/llmtest"
	"github.com/xbot/xbot/store"
	"github.com/xbot/xbot/workers"
)

// binary builds the real xbot program into dir.
func binary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "xbot")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// runBinary runs the program with exactly env and returns stdout, stderr and the exit code.
func runBinary(t *testing.T, bin string, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return "", "", -1
}

// `xbot x status|reset` and `xbot llm status|reset` on the built program: what an operator reads.
func TestCircuitCommandsOnTheBinary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bin := binary(t, t.TempDir())
	pool, schema := dbtest.Schema(t)
	fake := llmtest.NewServer(t, llmtest.Options{APIKey: "sk-circuits", MaxUsage: true})
	env := map[string]string{
		"DATABASE_URL": dbtest.SchemaURL(t, schema), "X_USER_ID": "4242", "X_HANDLE": "operator_demo",
		"OPENAI_API_KEY": "sk-circuits", "OPENAI_BASE_URL": fake.URL, "DAILY_OPENAI_LIMIT_USD": "2.5",
		"OPENAI_PURPOSE_LIMITS": "reply_generation=0.5",
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := runBinary(t, bin, env, args...)
		require.Equal(t, 0, code, "%v: %s%s", args, out, errOut)
		return out
	}
	run("migrate")
	st := store.New(pool)
	acct, err := st.DefaultAccount(ctx, pool)
	require.NoError(t, err)

	// The X posting circuit.
	require.Equal(t, fmt.Sprintf("account: id=%d handle=operator_demo x_user_id=4242\nX circuit: closed (posting allowed)\n", acct.ID), run("x", "status"))
	until := time.Now().Add(15 * time.Minute).UTC().Truncate(time.Second)
	require.NoError(t, st.OpenCircuit(ctx, pool, store.XCircuitName(acct.ID), until, "x_401: unauthorized"))
	require.Equal(t, fmt.Sprintf("account: id=%d handle=operator_demo x_user_id=4242\nX circuit: OPEN until=%s reason=x_401: unauthorized (posting paused fleet-wide; a probe follows the cooldown)\n",
		acct.ID, until.Format(time.RFC3339)), run("x", "status"))
	require.Equal(t, "X circuit of @operator_demo closed\n", run("x", "reset"))
	require.Contains(t, run("x", "status"), "X circuit: closed (posting allowed)\n")
	out, errOut, code := runBinary(t, bin, env, "x", "open")
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Equal(t, "usage: xbot x status|reset\n", errOut)

	// The LLM budget and quota circuit: nothing spent yet.
	day := time.Now().UTC().Format("2006-01-02")
	status := run("llm", "status")
	require.Regexp(t, `(?m)^budget day\s+`+day+`$`, status)
	require.Regexp(t, `(?m)^model\s+gpt-4o-mini$`, status)
	require.Regexp(t, `(?m)^spent_usd\s+0\.000000$`, status)
	require.Regexp(t, `(?m)^reserved_usd\s+0\.000000 \(0 open reservations\)$`, status)
	require.Regexp(t, `(?m)^cap_usd\s+2\.500000$`, status)
	require.Regexp(t, `(?m)^purpose reply_generation\s+spent 0\.000000 reserved 0\.000000 \(cap 0\.500000\)$`, status)
	require.Regexp(t, `(?m)^circuit\s+closed$`, status)

	// One paid call, then a quota refusal that opens the circuit, as a worker would see them.
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.Defaults{PostingDisabled: true})
	require.NoError(t, err)
	lc, err := llm.New(llm.FromConfig(cfg, zap.NewNop()), st.LLMLedger())
	require.NoError(t, err)
	_, err = workers.LLMDrafter{Client: lc}.Draft(ctx, workers.DraftRequest{Purpose: "content_generation", RequestID: "r1",
		System: "Write posts.", User: "One post about queues.", N: 1, MaxTokens: 300})
	require.NoError(t, err)
	var spent float64
	require.NoError(t, pool.QueryRow(ctx, `SELECT sum(cost_usd)::float8 FROM api_usage`).Scan(&spent))
	require.Positive(t, spent)
	fake.Enqueue(llmtest.InsufficientQuota())
	_, err = workers.LLMDrafter{Client: lc}.Draft(ctx, workers.DraftRequest{Purpose: "content_generation", RequestID: "r2",
		System: "Write posts.", User: "One more.", N: 1, MaxTokens: 300})
	require.ErrorIs(t, err, llm.ErrQuotaExhausted)

	status = run("llm", "status")
	require.Regexp(t, fmt.Sprintf(`(?m)^spent_usd\s+%.6f$`, spent), status)
	require.Regexp(t, fmt.Sprintf(`(?m)^purpose content_generation\s+spent %.6f reserved 0\.000000 \(day cap only\)$`, spent), status)
	require.Regexp(t, `(?m)^circuit\s+OPEN until=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ reason=insufficient_quota$`, status)
	reset := run("llm", "reset")
	require.True(t, strings.HasSuffix(reset, "\nLLM quota circuit closed\n"), reset)
	require.Contains(t, reset, `"msg":"[OPENAI] circuit closed by reset"`)
	require.Regexp(t, `(?m)^circuit\s+closed$`, run("llm", "status"))

	// Forced open by configuration: shown as such, and reset cannot hide it.
	env["AI_QUOTA_CIRCUIT_OPEN"] = "true"
	require.Regexp(t, regexp.QuoteMeta("OPEN (forced by AI_QUOTA_CIRCUIT_OPEN=true)"), run("llm", "status"))
	delete(env, "AI_QUOTA_CIRCUIT_OPEN")
	out, errOut, code = runBinary(t, bin, env, "llm")
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Equal(t, "usage: xbot llm status|reset\n", errOut)
}
