package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
)

// do sends one request to the real server and returns the status and body.
func do(t *testing.T, method, url string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func basicAuth(user, pass string) map[string]string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return map[string]string{"Authorization": r.Header.Get("Authorization")}
}

func with(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		out[hk] = hv
	}
	return out
}

func TestWebWithoutPasswordRiverUIIsOff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, base := b.start(t, "web", "--addr", "127.0.0.1:0")
	for _, path := range []string{"/riverui/", "/riverui/api/queues"} {
		code, body := get(t, base+path)
		require.Equal(t, http.StatusNotFound, code, path)
		require.Contains(t, body, "set RIVERUI_PASSWORD", path)
	}
	code, body := do(t, "POST", base+"/riverui/api/jobs/cancel", strings.NewReader(`{"ids":["1"]}`), nil)
	require.Equal(t, http.StatusNotFound, code, body)
	code, _ = get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, base+"/api/metrics")
	require.Equal(t, http.StatusOK, code, "no METRICS_TOKEN: open")
}

func TestWebLockedRiverUIAndMetricsToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	pool := dbtest.Pool(t)
	b.env["RIVERUI_USER"], b.env["RIVERUI_PASSWORD"], b.env["METRICS_TOKEN"] = "ops", "correct-horse-pw", "scrape-token-1"
	_, base := b.start(t, "web", "--addr", "127.0.0.1:0")
	creds := basicAuth("ops", "correct-horse-pw")

	// River UI: 401 without or with wrong credentials, 200 with them.
	for _, h := range []map[string]string{nil, basicAuth("ops", "wrong"), basicAuth("admin", "correct-horse-pw")} {
		code, _ := do(t, "GET", base+"/riverui/", nil, h)
		require.Equal(t, http.StatusUnauthorized, code)
	}
	code, body := do(t, "GET", base+"/riverui/", nil, creds)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<html")
	for _, path := range []string{"/riverui/api/queues", "/riverui/api/jobs?state=completed&limit=100", "/api/decisions", "/"} {
		code, body = do(t, "GET", base+path, nil, creds)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, body)
		code, _ = do(t, "GET", base+path, nil, nil)
		require.Equal(t, http.StatusUnauthorized, code, path)
	}

	// A cross-site request to River UI's API is refused even with the operator's credentials (what a
	// browser sends on a hostile page's form post); the job is untouched. The same request from the
	// operator's own tab (or a non-browser client) goes through.
	var jobID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO `+b.schema+`.river_job (kind, args, queue, state, max_attempts, scheduled_at, priority)
		VALUES ('learn', '{}', 'default', 'scheduled', 4, now() + interval '1 hour', 1) RETURNING id`).Scan(&jobID))
	cancel := func(h map[string]string) (int, string) {
		return do(t, "POST", base+"/riverui/api/jobs/cancel", strings.NewReader(`{"ids":["`+strconv.FormatInt(jobID, 10)+`"]}`),
			with(h, "Content-Type", "application/json"))
	}
	state := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT state::text FROM `+b.schema+`.river_job WHERE id = $1`, jobID).Scan(&s))
		return s
	}
	for _, h := range []map[string]string{
		with(creds, "Sec-Fetch-Site", "cross-site"),
		with(creds, "Origin", "https://evil.example"),
	} {
		code, body = cancel(h)
		require.Equal(t, http.StatusForbidden, code, body)
		require.Equal(t, "scheduled", state())
	}
	code, body = do(t, "PUT", base+"/riverui/api/queues/post/pause", nil, with(creds, "Sec-Fetch-Site", "same-site"))
	require.Equal(t, http.StatusForbidden, code, body)
	code, body = cancel(nil)
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.Equal(t, "scheduled", state())
	code, body = cancel(with(creds, "Sec-Fetch-Site", "same-origin"))
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "cancelled", state())

	// An oversized body is refused before River UI reads it.
	big := strings.NewReader(`{"ids":["` + strings.Repeat("1", maxBodyBytes) + `"]}`)
	code, _ = do(t, "POST", base+"/riverui/api/jobs/cancel", big, with(creds, "Content-Type", "application/json"))
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	chunked := io.MultiReader(strings.NewReader(`{"ids":["`+strings.Repeat("1", maxBodyBytes)), strings.NewReader(`"]}`))
	code, body = do(t, "POST", base+"/riverui/api/jobs/cancel", chunked, with(creds, "Content-Type", "application/json"))
	require.True(t, code == http.StatusBadRequest || code == http.StatusRequestEntityTooLarge, "%d %s", code, body)

	// METRICS_TOKEN guards the scrape endpoints; health stays open.
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, creds} {
		code, _ = do(t, "GET", base+"/api/metrics", nil, h)
		require.Equal(t, http.StatusUnauthorized, code)
	}
	code, body = do(t, "GET", base+"/api/metrics", nil, map[string]string{"Authorization": "Bearer scrape-token-1"})
	require.Equal(t, http.StatusOK, code, body)
	for _, path := range []string{"/healthz", "/readyz"} {
		code, _ = get(t, base+path)
		require.Equal(t, http.StatusOK, code, path)
	}
	for _, secret := range []string{"correct-horse-pw", "scrape-token-1"} {
		require.NotContains(t, b.stdout.String()+b.stderr.String(), secret)
	}
}

// A client that never finishes its request headers (slowloris) is cut off by the server's header timeout
// (5 s), long before its own 12 s deadline; without that timeout the connection would stay open until the
// 15 s read timeout, and this read would hit the client's deadline instead of the server's close.
func TestWebDropsSlowHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m, _ := b.start(t, "web", "--addr", "127.0.0.1:0")
	conn, err := net.Dial("tcp", m.Addr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(12*time.Second)))
	_, err = io.ReadAll(conn)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server kept a half-sent request open: %v", err)
}
