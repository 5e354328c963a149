package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/internal/llm"
)

// scrape GETs a Prometheus endpoint and parses it with Prometheus' own text parser.
func scrape(t *testing.T, url string, header map[string]string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := do(t, "GET", url, nil, header)
	require.Equal(t, http.StatusOK, code, body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	return families
}

// value is the value of the family's sample whose labels include want (gauge, counter or untyped).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "no metric family %s", name)
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("%s has no sample with labels %v", name, want)
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// The web server's /metrics and /api/metrics report a known database state.
func TestMetricsFromKnownDatabaseState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	pool := dbtest.Pool(t)
	b.env["METRICS_TOKEN"], b.env["DAILY_OPENAI_LIMIT_USD"] = "scrape-token-2", "7"
	require.NoError(t, b.main().Run(ctx, []string{"migrate"})) // upserts the default account
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, strings.ReplaceAll(sql, "S.", b.schema+"."), args...)
		require.NoError(t, err, sql)
	}
	// Two queued, two gate blocks (quality, rotation), one daily_cap skip (not a gate), one pending draft,
	// three posted: 3 s and 45 s late within 24 h, one 2 h late 30 h ago.
	exec(`INSERT INTO S.content_metadata (decision_id, account_id, decision_type, content, content_hash, generation_source,
		status, scheduled_at, skip_reason, target_tweet_id, tweet_id, posted_at)
		SELECT gen_random_uuid(), a.id, v.typ, v.content, md5(v.content), 'real', v.status, now() - v.sched, v.skip, v.target, v.tweet,
			now() - v.sched + v.late
		FROM S.accounts a, (VALUES
			('single', 'q1', 'queued', interval '0', NULL, NULL, NULL, NULL::interval),
			('single', 'q2', 'queued', interval '0', NULL, NULL, NULL, NULL),
			('single', 's1', 'skipped', interval '0', 'quality: too short', NULL, NULL, NULL),
			('single', 's2', 'skipped', interval '0', 'rotation: topic over share', NULL, NULL, NULL),
			('single', 's3', 'skipped', interval '0', 'daily_cap', NULL, NULL, NULL),
			('reply', 'd1', 'pending_approval', interval '0', NULL, '111', NULL, NULL),
			('single', 'p1', 'posted', interval '2 hours', NULL, NULL, '901', interval '3 seconds'),
			('reply', 'p2', 'posted', interval '3 hours', NULL, '112', '902', interval '45 seconds'),
			('single', 'p3', 'posted', interval '32 hours', NULL, NULL, '903', interval '2 hours')
		) AS v(typ, content, status, sched, skip, target, tweet, late)`)
	exec(`INSERT INTO S.posted_decisions (decision_id, account_id, decision_type, generation_source, backend, tweet_id, content, posted_at)
		SELECT decision_id, account_id, decision_type, generation_source, 'simulator', tweet_id, content, posted_at
		FROM S.content_metadata WHERE status = 'posted'`)
	exec(`INSERT INTO S.learning_runs (account_id, version, arms_trained, explore_ratio, outcomes_used)
		SELECT id, v, 4, r, 5 FROM S.accounts, (VALUES (1, 0.5), (2, 0.25)) AS x(v, r)`)
	exec(`INSERT INTO S.circuits (name, open_until, reason, opened_at) SELECT 'x:' || id, now() + interval '10 minutes', 'unauthorized', now() FROM S.accounts`)
	exec(`INSERT INTO S.llm_budget_days (day, spent_usd, reserved_usd) VALUES ($1::date, 1.25, 0.5)`, llm.BudgetDay(time.Now(), time.UTC))
	exec(`INSERT INTO S.posting_switches (account_id, paused, reason) VALUES (NULL, true, 'incident')`)
	exec(`INSERT INTO S.river_job (kind, args, queue, state, max_attempts, scheduled_at, priority)
		VALUES ('learn', '{}', 'default', 'scheduled', 4, now() + interval '1 hour', 1)`)

	_, base := b.start(t, "web", "--addr", "127.0.0.1:0")
	code, _ := get(t, base+"/metrics")
	require.Equal(t, http.StatusUnauthorized, code, "METRICS_TOKEN set: /metrics needs it")
	token := map[string]string{"Authorization": "Bearer scrape-token-2"}
	fams := scrape(t, base+"/metrics", token)

	require.Equal(t, 1.0, value(t, fams, "xbot_figures_up", nil))
	require.Equal(t, 2.0, value(t, fams, "xbot_decisions", map[string]string{"decision_type": "single", "status": "queued"}))
	require.Equal(t, 1.0, value(t, fams, "xbot_decisions", map[string]string{"decision_type": "reply", "status": "pending_approval"}))
	require.Equal(t, 3.0, value(t, fams, "xbot_posted_decisions_total", nil))
	require.Equal(t, 1.0, value(t, fams, "xbot_posted_24h", map[string]string{"decision_type": "single"}))
	require.Equal(t, 1.0, value(t, fams, "xbot_posted_24h", map[string]string{"decision_type": "reply"}))
	require.Equal(t, 1.0, value(t, fams, "xbot_gate_blocks_total", map[string]string{"gate": "quality"}))
	require.Equal(t, 1.0, value(t, fams, "xbot_gate_blocks_total", map[string]string{"gate": "rotation"}))
	require.Equal(t, 0.0, value(t, fams, "xbot_gate_blocks_total", map[string]string{"gate": "safety"}))
	require.Equal(t, 1.25, value(t, fams, "xbot_llm_spent_usd", nil))
	require.Equal(t, 0.5, value(t, fams, "xbot_llm_reserved_usd", nil))
	require.Equal(t, 7.0, value(t, fams, "xbot_llm_cap_usd", nil))
	require.Equal(t, 0.0, value(t, fams, "xbot_llm_circuit_open", nil))
	require.Equal(t, 1.0, value(t, fams, "xbot_x_circuit_open", nil))
	require.Equal(t, 2.0, value(t, fams, "xbot_learning_version", nil))
	require.Equal(t, 0.25, value(t, fams, "xbot_learning_explore_ratio", nil))
	require.Equal(t, 1.0, value(t, fams, "xbot_river_jobs", map[string]string{"kind": "learn", "state": "scheduled"}))

	require.Equal(t, 1.0, value(t, fams, "xbot_posting_switch_paused", map[string]string{"account_id": "0"}))
	h := fams["xbot_posting_lateness_seconds"].GetMetric()[0].GetHistogram()
	require.Equal(t, uint64(3), h.GetSampleCount())
	require.InDelta(t, 3+45+7200, h.GetSampleSum(), 0.01)
	cum := map[float64]uint64{}
	for _, bk := range h.GetBucket() {
		cum[bk.GetUpperBound()] = bk.GetCumulativeCount()
	}
	require.Equal(t, map[float64]uint64{0.25: 0, 0.5: 0, 1: 0, 2: 0, 5: 1, 10: 1, 20: 1, 30: 1, 60: 2, 300: 2, 900: 2, 3600: 2, math.Inf(1): 3}, cum)

	// /api/metrics: the same figures as JSON.
	code, body := do(t, "GET", base+"/api/metrics", nil, token)
	require.Equal(t, http.StatusOK, code, body)
	var m metrics
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	require.Equal(t, int64(3), m.PostedDecisions)
	require.Equal(t, map[string]int64{"single": 1, "reply": 1}, m.Posted24h)
	require.Equal(t, map[string]int64{"quality": 1, "rotation": 1, "uniqueness": 0, "safety": 0}, m.GateBlocks)
	require.Equal(t, uint64(3), m.PostingLateness.Count)
	require.Equal(t, []uint64{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, m.PostingLateness.Buckets)
	require.Equal(t, 2, m.LearningVersion)
	require.Equal(t, 0.25, m.ExploreRatio)
	require.True(t, m.XCircuitOpen)
	require.Len(t, m.XCircuits, 1)
	require.Equal(t, "unauthorized", m.XCircuits[0].Reason)
	require.Equal(t, 1.25, m.LLM.SpentUSD)
	require.Len(t, m.PostingSwitches, 1)
	require.True(t, m.PostingSwitches[0].Paused)
	require.Equal(t, "incident", m.PostingSwitches[0].Reason)
	require.NotContains(t, b.stdout.String(), "scrape-token-2")
}

// A worker replica serves its River job metrics (otelriver through OpenTelemetry's Prometheus exporter)
// on --metrics-addr once a job ran.
func TestWorkerServesRiverJobMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["POSTING_DISABLED"], b.env["SWEEP_INTERVAL"] = "true", "1s"
	_, base := b.start(t, "worker", "--metrics-addr", "127.0.0.1:0")
	var fams map[string]*dto.MetricFamily
	waitFor(t, "a post_sweep job worked and counted", 60*time.Second, func() bool {
		fams = scrape(t, base+"/metrics", nil)
		f, ok := fams["river_work_count_total"]
		if !ok {
			return false
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, map[string]string{"kind": "post_sweep", "status": "ok"}) && m.GetCounter().GetValue() >= 1 {
				return true
			}
		}
		return false
	}, b.stdout.String)
	_, ok := fams["river_work_duration_histogram_seconds"]
	require.True(t, ok, "work duration histogram present")
	_, ok = fams["go_goroutines"]
	require.True(t, ok)
	_, ok = fams["xbot_figures_up"]
	require.False(t, ok, "database figures are the web server's, not each replica's")
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a worker pushes a span per job worked (and River's metrics) to the
// collector over OTLP/HTTP.
func TestWorkerExportsOTLP(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var spans []string
	metricPosts := 0
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/v1/traces":
			var req coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, rs := range req.GetResourceSpans() {
				for _, ss := range rs.GetScopeSpans() {
					for _, s := range ss.GetSpans() {
						spans = append(spans, s.GetName())
					}
				}
			}
		case "/v1/metrics":
			metricPosts++
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)

	b := setup(t)
	b.env["POSTING_DISABLED"], b.env["SWEEP_INTERVAL"], b.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "true", "1s", collector.URL
	b.start(t, "worker")
	waitFor(t, "a post_sweep span and a metrics export at the collector", 90*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(spans, "river.work/post_sweep") && metricPosts > 0
	}, b.stdout.String)
}
