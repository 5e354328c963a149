package xsim_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/xsim"
)

// topicFeatures reads the topic from the text's first word: "go: ..." is topic go.
var topicFeatures = xsim.FeatureFunc(func(_ context.Context, text string) (xsim.Features, bool, error) {
	topic, _, ok := strings.Cut(text, ":")
	if !ok {
		return xsim.Features{}, false, nil
	}
	return xsim.Features{Topic: topic, Format: "tip", Hook: "question", Hour: 9}, true, nil
})

func metricsOf(t *testing.T, b *testBundle, id string) map[string]any {
	t.Helper()
	r := do(t, b.user, "GET", b.url("/2/tweets/"+id+"?post.fields=public_metrics,non_public_metrics"), nil)
	require.Equal(t, 200, r.status, string(r.raw))
	return data(r)["public_metrics"].(map[string]any)
}

func TestAudienceDeterministicUnderSeed(t *testing.T) {
	t.Parallel()
	run := func(seed int64) []map[string]any {
		cfg := testConfig()
		cfg.Seed, cfg.Features = seed, topicFeatures
		b := setup(t, cfg, nil)
		ctx := context.Background()
		require.NoError(t, b.sim.SetRate(ctx, xsim.Rate{Topic: "go", Hour: -1, Rate: 0.08}))
		require.NoError(t, b.sim.SetRate(ctx, xsim.Rate{Topic: "css", Hour: -1, Rate: 0.01}))
		var ids []string
		for i := 0; i < 4; i++ {
			ids = append(ids, b.post(t, "go: tip number "+strconv.Itoa(i)))
			ids = append(ids, b.post(t, "css: tip number "+strconv.Itoa(i)))
		}
		b.advance(t, 4*time.Hour)
		var out []map[string]any
		for _, id := range ids {
			out = append(out, metricsOf(t, b, id))
		}
		// Metrics only grow with simulated time.
		first := metricsOf(t, b, ids[0])
		b.advance(t, 20*time.Hour)
		later := metricsOf(t, b, ids[0])
		require.Greater(t, num(later["impression_count"]), num(first["impression_count"]))
		require.GreaterOrEqual(t, num(later["like_count"]), num(first["like_count"]))
		return out
	}
	a, again, other := run(7), run(7), run(8)
	require.Equal(t, a, again, "same seed, same world")
	require.NotEqual(t, a, other, "another seed, other noise")

	// The hidden rates show through: go posts engage far more than css posts.
	er := func(m map[string]any) float64 {
		e := num(m["like_count"]) + num(m["repost_count"]) + num(m["reply_count"]) + num(m["quote_count"]) + num(m["bookmark_count"])
		return float64(e) / float64(num(m["impression_count"]))
	}
	var goER, cssER float64
	for i, m := range a {
		if i%2 == 0 {
			goER += er(m)
		} else {
			cssER += er(m)
		}
	}
	require.Greater(t, goER, 3*cssER)
}

func TestRatesChangeMidRun(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Features = topicFeatures
	b := setup(t, cfg, nil)
	ctx := context.Background()
	require.NoError(t, b.sim.SetRate(ctx, xsim.Rate{Topic: "go", Hour: -1, Rate: 0.01}))
	before := b.post(t, "go: before the change")
	// Through the control endpoint, as the standalone server would be driven.
	r := do(t, b.raw, "PUT", b.url("/_sim/rates"), map[string]any{"rates": []map[string]any{{"topic": "go", "format": "*", "hook": "*", "hour": -1, "rate": 0.2}}})
	require.Equal(t, 200, r.status, string(r.raw))
	after := b.post(t, "go: after the change")
	b.advance(t, 10*time.Hour)
	mb, err := b.sim.Metrics(ctx, mustID(t, before))
	require.NoError(t, err)
	ma, err := b.sim.Metrics(ctx, mustID(t, after))
	require.NoError(t, err)
	rate := func(m xsim.Metrics) float64 { return float64(m.Engagements()) / float64(m.Impressions) }
	require.Greater(t, rate(ma), 5*rate(mb))
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

func TestTwoInstancesOnOneDatabaseAgree(t *testing.T) {
	t.Parallel()
	a := setup(t, testConfig(), nil)
	b := setup(t, testConfig(), a.pool)
	id := a.post(t, "written through instance A")
	a.advance(t, 5*time.Hour) // the clock offset is shared too
	q := "/2/tweets/" + id + "?post.fields=created_at,public_metrics,non_public_metrics,organic_metrics"
	ra := do(t, a.user, "GET", a.url(q), nil)
	rb := do(t, b.user, "GET", b.url(q), nil)
	require.Equal(t, 200, rb.status, string(rb.raw))
	require.JSONEq(t, string(ra.raw), string(rb.raw))
	require.Greater(t, num(data(rb)["public_metrics"].(map[string]any)["impression_count"]), int64(0))

	// Rules hold across instances: a duplicate through B is refused, the window counts both.
	dup := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "Written through instance A"})
	require.Equal(t, 403, dup.status)
	id2 := b.post(t, "written through instance B")
	require.Greater(t, mustID(t, id2), mustID(t, id))
	require.Equal(t, 200, do(t, a.user, "DELETE", a.url("/2/tweets/"+id2), nil).status)
	gone := do(t, b.user, "GET", b.url("/2/tweets/"+id2), nil)
	require.Equal(t, "https://api.x.com/2/problems/resource-not-found", gone.body["errors"].([]any)[0].(map[string]any)["type"])
}

func timelineCount(t *testing.T, b *testBundle) int {
	t.Helper()
	r := do(t, b.user, "GET", b.url("/2/users/"+strconv.FormatInt(xsim.DefaultUserID, 10)+"/tweets?max_results=100"), nil)
	require.Equal(t, 200, r.status, string(r.raw))
	return int(num(r.body["meta"].(map[string]any)["result_count"]))
}

func TestFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("5xx then recovers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testConfig(), nil)
		_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultServerError, Status: 502, Count: 1})
		require.NoError(t, err)
		r := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "first try"})
		require.Equal(t, 502, r.status)
		require.Equal(t, 0, timelineCount(t, b))
		b.post(t, "first try")
	})
	t.Run("429 with reset", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testConfig(), nil)
		_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointAny, Kind: xsim.FaultRateLimit, Count: 1, ResetAfter: xsim.Duration(7 * time.Minute)})
		require.NoError(t, err)
		r := do(t, b.user, "GET", b.url("/2/users/me"), nil)
		requireBlank(t, r, 429, "Too Many Requests", "Too Many Requests")
		require.Equal(t, strconv.FormatInt(t0.Add(7*time.Minute).Unix(), 10), r.header.Get("x-rate-limit-reset"))
		require.Equal(t, "0", r.header.Get("x-rate-limit-remaining"))
	})
	t.Run("timeout before creating", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testConfig(), nil)
		_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutBefore, Count: 1})
		require.NoError(t, err)
		c := signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, nil)
		c.Timeout = 300 * time.Millisecond
		_, err = send(c, "POST", b.url("/2/tweets"), map[string]any{"text": "lost in transit"})
		require.Error(t, err)
		require.Equal(t, 0, timelineCount(t, b))
	})
	t.Run("timeout after creating", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testConfig(), nil)
		_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultTimeoutAfter, Count: 1})
		require.NoError(t, err)
		c := signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, nil)
		c.Timeout = 2 * time.Second // past the work even on a loaded machine, well before HangFor (5 s)
		_, err = send(c, "POST", b.url("/2/tweets"), map[string]any{"text": "posted but unconfirmed"})
		require.Error(t, err)
		var ne net.Error
		require.True(t, errors.As(err, &ne) && ne.Timeout(), "a timeout: %v", err)
		require.Eventually(t, func() bool { return timelineCount(t, b) == 1 }, 5*time.Second, 20*time.Millisecond)
		dup := do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "posted but unconfirmed"})
		require.Equal(t, 403, dup.status, "the post exists: a re-send is a duplicate")
	})
	t.Run("connection reset", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testConfig(), nil)
		_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultReset, Count: 1})
		require.NoError(t, err)
		_, err = send(signedClient(b.cfg.ConsumerKey, b.cfg.ConsumerSecret, b.cfg.AccessToken, b.cfg.AccessTokenSecret, nil), "POST", b.url("/2/tweets"), map[string]any{"text": "reset"})
		require.Error(t, err)
		require.Equal(t, 0, timelineCount(t, b))
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testConfig(), nil)
		_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointUsersMe, Kind: xsim.FaultLatency, Count: 1, Latency: xsim.Duration(250 * time.Millisecond)})
		require.NoError(t, err)
		start := time.Now()
		require.Equal(t, 200, do(t, b.user, "GET", b.url("/2/users/me"), nil).status)
		require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
	})
	t.Run("unauthorized and forbidden", func(t *testing.T) {
		t.Parallel()
		b := setup(t, testConfig(), nil)
		_, err := b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultUnauthorized, Count: 1})
		require.NoError(t, err)
		_, err = b.sim.AddFault(ctx, xsim.Fault{Endpoint: xsim.EndpointCreatePost, Kind: xsim.FaultForbidden, Count: 1})
		require.NoError(t, err)
		requireBlank(t, do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "x"}), 401, "Unauthorized", "Unauthorized")
		requireBlank(t, do(t, b.user, "POST", b.url("/2/tweets"), map[string]any{"text": "x"}), 403, "Forbidden", "You are not permitted to perform this action.")
		b.post(t, "x")
	})
	t.Run("seeded rate through the control endpoint", func(t *testing.T) {
		t.Parallel()
		pattern := func() []int {
			b := setup(t, testConfig(), nil)
			r := do(t, b.raw, "POST", b.url("/_sim/faults"), map[string]any{"endpoint": "users_me", "kind": "error_5xx", "rate": 0.5})
			require.Equal(t, 200, r.status, string(r.raw))
			var out []int
			for i := 0; i < 20; i++ {
				out = append(out, do(t, b.user, "GET", b.url("/2/users/me"), nil).status)
			}
			require.Equal(t, 200, do(t, b.raw, "DELETE", b.url("/_sim/faults"), nil).status)
			require.Equal(t, 200, do(t, b.user, "GET", b.url("/2/users/me"), nil).status)
			return out
		}
		p1, p2 := pattern(), pattern()
		require.Equal(t, p1, p2, "same seed, same faults")
		require.Contains(t, p1, 503)
		require.Contains(t, p1, 200)
	})
}

func TestControlEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	r := do(t, b.raw, "POST", b.url("/_sim/clock"), map[string]any{"advance": "2h"})
	require.Equal(t, 200, r.status, string(r.raw))
	require.Equal(t, t0.Add(2*time.Hour).Format(time.RFC3339Nano), r.body["now"])
	r = do(t, b.raw, "POST", b.url("/_sim/mentions"), map[string]any{"n": 3})
	require.Equal(t, 200, r.status, string(r.raw))
	require.Len(t, r.body["ids"], 3)
	r = do(t, b.raw, "POST", b.url("/_sim/faults"), map[string]any{"endpoint": "nowhere", "kind": "reset", "count": 1})
	require.Equal(t, http.StatusBadRequest, r.status)
	r = do(t, b.raw, "GET", b.url("/_sim/state"), nil)
	require.EqualValues(t, 42, r.body["seed"])
}

func TestNewServerValidatesConfig(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(), nil)
	for _, cfg := range []xsim.Config{{Username: "not a handle!"}, {DefaultRate: 2}, {Followers: -1}, {PostsPer15Min: -1}} {
		_, err := xsim.NewServer(context.Background(), cfg, xsimStore(b))
		require.Error(t, err)
	}
	_, err := xsim.NewServer(context.Background(), xsim.Config{}, nil)
	require.Error(t, err)
}
