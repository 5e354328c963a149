package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/store"
)

// latenessBounds are the posting-lateness histogram's buckets in seconds: steady state is well under a
// second, a leader change costs up to about 15 s, a stopped fleet minutes to hours.
var latenessBounds = []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 300, 900, 3600}

// metrics is the JSON of /api/metrics and the source of /metrics' database figures: the runbook's
// figures, River's queue, the LLM budget, the circuits, posting lateness, gate blocks, learning.
type metrics struct {
	Queue           []store.QueueCount      `json:"queue"`
	PostedDecisions int64                   `json:"posted_decisions"`
	RealOutcomes    int64                   `json:"real_outcomes"`
	Posted24h       map[string]int64        `json:"posted_24h"`
	GateBlocks      map[string]int64        `json:"gate_blocks"`
	PostingLateness store.LatenessHistogram `json:"posting_lateness"`
	LearningVersion int                     `json:"learning_version"`
	ExploreRatio    float64                 `json:"explore_ratio"`
	Jobs            []store.JobCount        `json:"jobs"`
	LLM             *llm.Status             `json:"llm"`
	XCircuitOpen    bool                    `json:"x_circuit_open"` // the default account's
	XCircuits       []store.AccountCircuit  `json:"x_circuits"`
	// PostingSwitches are the stored xbot pause/resume switches (account_id 0: every account).
	PostingSwitches []store.PostingSwitch `json:"posting_switches"`
	// Accounts are each account's figures (the environment's first); AccountsTotal adds them up.
	Accounts      []accountMetrics `json:"accounts"`
	AccountsTotal accountMetrics   `json:"accounts_total"`
}

func collectMetrics(ctx context.Context, e *env, pool *pgxpool.Pool) (*metrics, error) {
	st := store.New(pool)
	rb, err := st.Runbook(ctx, pool)
	if err != nil {
		return nil, err
	}
	f, err := st.Figures(ctx, pool, latenessBounds)
	if err != nil {
		return nil, err
	}
	m := &metrics{
		Queue: rb.Queue, PostedDecisions: rb.Posted, RealOutcomes: rb.RealOutcomes, Posted24h: f.Posted24h,
		GateBlocks: f.GateBlocks, PostingLateness: f.Lateness, LearningVersion: f.LearningVersion,
		ExploreRatio: f.ExploreRatio, Jobs: f.Jobs, XCircuits: f.XCircuits,
	}
	if m.PostingSwitches, err = st.PostingSwitches(ctx, pool); err != nil {
		return nil, err
	}
	lc, err := newLLM(e, st)
	if err != nil {
		return nil, err
	}
	if m.LLM, err = lc.Status(ctx); err != nil {
		return nil, err
	}
	if m.Accounts, m.AccountsTotal, err = accountsMetrics(ctx, e.cfg, st, m.LLM.Accounts); err != nil {
		return nil, err
	}
	if acct, err := st.DefaultAccount(ctx, pool); err == nil {
		for _, c := range f.XCircuits {
			if c.AccountID == acct.ID {
				m.XCircuitOpen = c.Open
			}
		}
	}
	return m, nil
}

// metricsRoutes serves /metrics: this process's registry, with the database figures added.
func (s *webServer) metricsRoutes(reg *prometheus.Registry) error {
	if err := reg.Register(newFigureCollector(s.e.log, s.metrics)); err != nil {
		return fmt.Errorf("register database figures: %w", err)
	}
	s.mux.Handle("GET /metrics", s.auth.metrics(promhandler(s.e.log, reg)))
	return nil
}

func promhandler(log *zap.Logger, reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(log.Named("metrics")), ErrorHandling: promhttp.ContinueOnError, Timeout: webStatementTimeout * 3,
	})
}

// figureCollector turns the cached database figures into Prometheus metrics at scrape time.
type figureCollector struct {
	log  *zap.Logger
	snap *snapshot[*metrics]

	up, decisions, posted, posted24h, realOutcomes, gateBlocks, lateness             *prometheus.Desc
	llmSpent, llmReserved, llmCap, llmCircuit, xCircuit, learnVersion, explore, jobs *prometheus.Desc
	switchPaused                                                                     *prometheus.Desc
	// Per account, labelled by its id (account): a handle can change, an id cannot; xbot_account_info
	// gives each id's handle.
	acctInfo, acctDecisions, acctPosted24h, acctPosted, acctLLMSpent, acctLLMReserved, acctLLMShare, acctLLMRefused *prometheus.Desc
}

func newFigureCollector(log *zap.Logger, snap *snapshot[*metrics]) *figureCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("xbot_"+name, help, labels, nil)
	}
	return &figureCollector{
		log: log, snap: snap,
		up:           d("figures_up", "1 when the database figures below could be read, else 0"),
		decisions:    d("decisions", "Decisions in content_metadata by type, source and status", "decision_type", "generation_source", "status"),
		posted:       d("posted_decisions_total", "Rows of posted_decisions"),
		posted24h:    d("posted_24h", "Posts (single) and replies posted in the last 24 hours", "decision_type"),
		realOutcomes: d("real_outcomes", "Outcomes read from X (simulated=false)"),
		gateBlocks:   d("gate_blocks_total", "Decisions blocked by each gate", "gate"),
		lateness:     d("posting_lateness_seconds", "posted_at - scheduled_at of posted decisions"),
		llmSpent:     d("llm_spent_usd", "Today's settled LLM spend (BUDGET_TZ day)"),
		llmReserved:  d("llm_reserved_usd", "Today's LLM spend reserved by calls in flight"),
		llmCap:       d("llm_cap_usd", "The daily LLM cap (DAILY_OPENAI_LIMIT_USD)"),
		llmCircuit:   d("llm_circuit_open", "1 when the LLM quota circuit is open (no call leaves)"),
		xCircuit:     d("x_circuit_open", "1 when the account's X posting circuit is open (its posting paused)", "account_id", "handle"),
		learnVersion: d("learning_version", "The newest learning run's version"),
		explore:      d("learning_explore_ratio", "The newest learning run's explore ratio"),
		jobs:         d("river_jobs", "River jobs by kind and state", "kind", "state"),
		switchPaused: d("posting_switch_paused", "Stored posting switches (xbot pause/resume; account_id 0: every account): 1 paused, 0 resumed", "account_id"),

		acctInfo:        d("account_info", "1 per account: its handle and status (active|disabled) by its id", "account", "handle", "status"),
		acctDecisions:   d("account_decisions", "The account's decisions in content_metadata by status", "account", "status"),
		acctPosted24h:   d("account_posted_24h", "The account's posts and replies posted in the last 24 hours", "account"),
		acctPosted:      d("account_posted_decisions_total", "The account's rows of posted_decisions", "account"),
		acctLLMSpent:    d("account_llm_spent_usd", "The account's settled LLM spend today (BUDGET_TZ day)", "account"),
		acctLLMReserved: d("account_llm_reserved_usd", "The account's LLM spend reserved by calls in flight today", "account"),
		acctLLMShare:    d("account_llm_share_usd", "The account's share of the daily LLM budget (budget_usd); absent: only the daily cap binds it", "account"),
		acctLLMRefused:  d("account_llm_refused", "The account's LLM calls refused by a budget cap today", "account"),
	}
}

func (c *figureCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.decisions, c.posted, c.posted24h, c.realOutcomes, c.gateBlocks, c.lateness,
		c.llmSpent, c.llmReserved, c.llmCap, c.llmCircuit, c.xCircuit, c.learnVersion, c.explore, c.jobs, c.switchPaused,
		c.acctInfo, c.acctDecisions, c.acctPosted24h, c.acctPosted, c.acctLLMSpent, c.acctLLMReserved, c.acctLLMShare, c.acctLLMRefused} {
		ch <- d
	}
}

func (c *figureCollector) Collect(ch chan<- prometheus.Metric) {
	m, err := c.snap.get(context.Background())
	if err != nil {
		c.log.Warn("metrics: database figures unavailable", zap.Error(err))
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, q := range m.Queue {
		gauge(c.decisions, float64(q.Count), q.DecisionType, q.GenerationSource, q.Status)
	}
	counter(c.posted, float64(m.PostedDecisions))
	for _, typ := range []string{"single", "reply"} {
		gauge(c.posted24h, float64(m.Posted24h[typ]), typ)
	}
	gauge(c.realOutcomes, float64(m.RealOutcomes))
	for g, n := range m.GateBlocks {
		counter(c.gateBlocks, float64(n), g)
	}
	l := m.PostingLateness
	buckets := make(map[float64]uint64, len(l.Bounds))
	for i, b := range l.Bounds {
		buckets[b] = l.Buckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.lateness, l.Count, l.Sum, buckets)
	gauge(c.llmSpent, m.LLM.SpentUSD)
	gauge(c.llmReserved, m.LLM.ReservedUSD)
	gauge(c.llmCap, m.LLM.CapUSD)
	gauge(c.llmCircuit, boolFloat(m.LLM.Circuit.Open))
	for _, x := range m.XCircuits {
		gauge(c.xCircuit, boolFloat(x.Open), strconv.FormatInt(x.AccountID, 10), x.Handle)
	}
	gauge(c.learnVersion, float64(m.LearningVersion))
	gauge(c.explore, m.ExploreRatio)
	for _, j := range m.Jobs {
		gauge(c.jobs, float64(j.Count), j.Kind, j.State)
	}
	for _, sw := range m.PostingSwitches {
		gauge(c.switchPaused, boolFloat(sw.Paused), strconv.FormatInt(sw.AccountID, 10))
	}
	for _, a := range m.Accounts {
		id := strconv.FormatInt(a.AccountID, 10)
		gauge(c.acctInfo, 1, id, a.Handle, a.Status)
		for status, n := range a.Decisions {
			gauge(c.acctDecisions, float64(n), id, status)
		}
		gauge(c.acctPosted24h, float64(a.Posted24h), id)
		counter(c.acctPosted, float64(a.PostedTotal), id)
		gauge(c.acctLLMSpent, a.LLMSpentUSD, id)
		gauge(c.acctLLMReserved, a.LLMReservedUSD, id)
		if a.LLMShareUSD != nil {
			gauge(c.acctLLMShare, *a.LLMShareUSD, id)
		}
		gauge(c.acctLLMRefused, float64(a.LLMRefused), id)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serveWorkerMetrics serves a worker replica's /metrics (its River job metrics; the database figures are
// the web server's) and /healthz on addr until ctx ends; no addr, nothing. It returns the bound address.
func serveWorkerMetrics(ctx context.Context, m *Main, e *env, addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	obs, err := e.observe(ctx, m)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	auth := &webAuth{metricsToken: e.cfg.MetricsToken}
	mux.Handle("GET /metrics", auth.metrics(promhandler(e.log, obs.registry)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ln, err := listen(addr)
	if err != nil {
		return "", err
	}
	srv := newHTTPServer(e, hardened(mux))
	go func() { _ = srv.Serve(ln) }()
	m.onClose(func() { _ = srv.Close() })
	e.log.Info("worker metrics serving", zap.String("addr", ln.Addr().String()))
	return ln.Addr().String(), nil
}
