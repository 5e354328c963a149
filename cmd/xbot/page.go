package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/xbot/xbot/internal/config"
	"github.com/xbot/xbot/internal/llm"
	"github.com/xbot/xbot/store"
)

//go:embed page.html.tmpl
var pageTemplate string

// The status page's layout: how many decisions it lists, how many chart points it draws, how often it reloads.
const (
	pageNewest    = 10
	pageMaxPoints = 200
	pageRefresh   = 5 * time.Second
)

// statusPage serves the status page at / (a read-only operator page, cached like /api/metrics): the pipeline,
// posting lateness, LLM spend and circuits, the learned arms and xbot's engagement against uniform random's.
// It reads only xbot's tables, so it works against any deployment, simulator or not.
func (s *webServer) statusPage() error {
	tmpl, err := template.New("page").Funcs(template.FuncMap{
		"pct": func(f any) string { return strconv.FormatFloat(deref(f)*100, 'f', 2, 64) + "%" },
		"num": func(f any) string { return strconv.FormatFloat(deref(f), 'f', 3, 64) },
		"usd": func(f float64) string { return "$" + strconv.FormatFloat(f, 'f', 4, 64) },
		"ts": func(t any) string {
			switch t := t.(type) {
			case time.Time:
				return t.UTC().Format("15:04:05")
			case *time.Time:
				if t != nil {
					return t.UTC().Format("15:04:05")
				}
			}
			return ""
		},
		"dur":        fmtDuration,
		"short":      func(s string) string { return s[:min(len(s), 8)] },
		"handleText": handleText,
		"decisions":  decisionsText,
	}).Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("status page template: %w", err)
	}
	views := newSnapshot(snapshotTTL, webStatementTimeout+2*time.Second, func(ctx context.Context) (*pageView, error) {
		return buildPage(ctx, s.e, s.pool)
	})
	s.mux.Handle("GET /{$}", s.auth.page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := views.get(r.Context())
		if err != nil {
			s.e.log.Warn("status page", zap.Error(err))
			http.Error(w, "status page unavailable: database unreachable", http.StatusServiceUnavailable)
			return
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, v); err != nil {
			s.e.log.Warn("status page render", zap.Error(err))
			http.Error(w, "status page render failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b.Bytes())
	})))
	return nil
}

func deref(f any) float64 {
	switch f := f.(type) {
	case float64:
		return f
	case *float64:
		if f != nil {
			return *f
		}
	}
	return 0
}

// pageView is what the template renders.
type pageView struct {
	Now            time.Time
	Refresh        int
	Account        string
	Mode           string
	DevSpeed       float64 // 0 outside xbot dev
	Posting        string
	PostingStopped bool
	Flow           []flowStage
	Statuses       []store.StageCount
	Newest         []store.PageDecision
	Lateness       store.Lateness
	Learning       *store.StatusPage
	LLM            *llm.Status
	LLMUsedPct     float64
	XCircuit       *store.Circuit
	// Accounts are every account's figures and their totals, shown when the fleet has more than one.
	Accounts      []accountMetrics
	AccountsTotal accountMetrics
	Dims          []dimView
	Chart         chartView
}

// DemoHour is how long a simulated hour lasts on the wall clock under xbot dev.
func (v *pageView) DemoHour() time.Duration {
	return time.Duration(float64(time.Hour) / max(v.DevSpeed, 1))
}

// BarLabelW and ArmsWidth are the arm bars' geometry, for the template.
func (v *pageView) BarLabelW() int { return barLabelW }
func (v *pageView) ArmsWidth() int { return barLabelW + barW + 330 }

type flowStage struct {
	Name  string
	Count int64
	Note  string
}

func buildPage(ctx context.Context, e *env, pool *pgxpool.Pool) (*pageView, error) {
	st := store.New(pool)
	now := time.Now()
	v := &pageView{Now: now, Refresh: int(pageRefresh / time.Second), Mode: string(e.cfg.Mode)}
	if e.simClock != nil {
		v.DevSpeed = e.cfg.DevSpeed
	}
	acct, err := st.DefaultAccount(ctx, pool)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Before the first `xbot migrate` or worker start: an empty page rather than an error.
		acct = &store.Account{}
	case err != nil:
		return nil, err
	}
	v.Account = "@" + acct.Handle
	if acct.Handle == "" {
		v.Account = fmt.Sprintf("account %d", acct.ID)
	}
	p, err := st.StatusPage(ctx, pool, store.StatusPageQuery{AccountID: acct.ID, Since: now.Add(-24 * time.Hour),
		RealOnly: e.cfg.Mode == config.ModeLive, Newest: pageNewest, MaxPoints: pageMaxPoints})
	if err != nil {
		return nil, err
	}
	v.Learning, v.Newest, v.Lateness, v.Statuses = p, p.Newest, p.Lateness, p.Stages
	sw, err := st.EffectivePostingSwitch(ctx, pool, acct.ID)
	if err != nil {
		return nil, err
	}
	v.Posting, v.PostingStopped = postingState(e.cfg.PostingDisabled, sw)
	v.Flow = flow(p)
	lc, err := newLLM(e, st)
	if err != nil {
		return nil, err
	}
	if v.LLM, err = lc.Status(ctx); err != nil {
		return nil, err
	}
	if v.LLM.CapUSD > 0 {
		v.LLMUsedPct = math.Min((v.LLM.SpentUSD+v.LLM.ReservedUSD)/v.LLM.CapUSD, 1)
	}
	if v.XCircuit, err = st.GetCircuit(ctx, pool, store.XCircuitName(acct.ID)); err != nil {
		return nil, err
	}
	if v.Accounts, v.AccountsTotal, err = accountsMetrics(ctx, e.cfg, st, v.LLM.Accounts); err != nil {
		return nil, err
	}
	if len(v.Accounts) < 2 {
		v.Accounts = nil
	}
	v.Dims = dimensions(p.Arms)
	v.Chart = engagementChart(p)
	return v, nil
}

// postingState says whether posting runs: a stored switch (xbot pause / resume) overrides POSTING_DISABLED,
// which is read from this process's environment.
func postingState(disabled bool, sw *store.PostingSwitch) (string, bool) {
	if sw != nil {
		scope := "this account"
		if sw.AccountID == 0 {
			scope = "every account"
		}
		state, cmd := "enabled", "xbot resume"
		if sw.Paused {
			state, cmd = "paused", "xbot pause"
		}
		out := fmt.Sprintf("%s by %s for %s since %s UTC", state, cmd, scope, sw.SetAt.UTC().Format("2006-01-02 15:04:05"))
		if sw.Reason != "" {
			out += ": " + sw.Reason
		}
		return out + " (overrides POSTING_DISABLED)", sw.Paused
	}
	if disabled {
		return "disabled (POSTING_DISABLED=true): post jobs snooze, rows stay queued", true
	}
	return "enabled", false
}

// flow is the pipeline as counts per stage: planned → queued → posted → measured → learned.
func flow(p *store.StatusPage) []flowStage {
	var planned, replies, queued, posted, blocked int64
	for _, s := range p.Stages {
		if s.DecisionType == "reply" {
			replies += s.Count
		} else {
			planned += s.Count
		}
		switch s.Status {
		case "queued", "posting", "pending_approval":
			queued += s.Count
		case "posted":
			posted += s.Count
		case "skipped":
			blocked += s.Count
		}
	}
	learned := fmt.Sprintf("v%d", p.LearningVersion)
	if p.LearningVersion == 0 {
		learned = "no learning run yet"
	}
	return []flowStage{
		{Name: "planned", Count: planned, Note: fmt.Sprintf("+ %d replies", replies)},
		{Name: "waiting", Count: queued, Note: fmt.Sprintf("%d skipped by gates or caps", blocked)},
		{Name: "posted", Count: posted},
		{Name: "measured", Count: p.Outcomes},
		{Name: "learned from", Count: p.Learned, Note: learned},
	}
}

// Arm bars: one SVG per dimension, a row per arm.
const (
	barLabelW = 170
	barW      = 300
	barRowH   = 22
)

type dimView struct {
	Scope  string
	Height int
	Hidden int // arms with no evidence, not drawn
	Arms   []armView
	Axis   []tickView
	OneX   float64 // x of ×1
}

type armView struct {
	Name        string
	Lift        float64
	Y, TextY    int
	BarX, BarW  float64
	LoX, HiX    float64
	ValueX      int
	HasInterval bool
	Label       string
}

type tickView struct {
	X, Y   float64
	Label  string
	Anchor string
}

// liftRange is the bars' scale: log2 of the lift, clamped to ±liftRange (×0.25 to ×4).
const liftRange = 2.0

func liftX(l float64) float64 {
	v := math.Max(-liftRange, math.Min(liftRange, math.Log2(math.Max(l, 1e-9))))
	return barLabelW + barW/2 + v/liftRange*barW/2
}

// dimensions lays out bandit_arms as bars: each arm's lift on the account's usual engagement rate (×1.18 is
// 18% above it), on a log scale around ×1, with its 90% credible interval as a whisker.
func dimensions(arms []store.ArmRow) []dimView {
	order := []string{"topic", "format", "hook", "hour", "reply"}
	byScope := map[string][]store.ArmRow{}
	for _, a := range arms {
		byScope[a.Scope] = append(byScope[a.Scope], a)
	}
	var out []dimView
	for _, scope := range order {
		rows := byScope[scope]
		if len(rows) == 0 {
			continue
		}
		if scope == "hour" {
			sort.Slice(rows, func(i, j int) bool { return atoiOr(rows[i].Name) < atoiOr(rows[j].Name) })
		}
		d := dimView{Scope: scope, OneX: liftX(1)}
		for _, a := range rows {
			if a.Pulls == 0 && a.Evidence < 1e-9 {
				d.Hidden++
				continue
			}
			y := len(d.Arms) * barRowH
			x0, x1 := liftX(1), liftX(a.Lift)
			v := armView{Name: a.Name, Lift: a.Lift, Y: y + 4, TextY: y + 16, BarX: math.Min(x0, x1),
				BarW: math.Max(math.Abs(x1-x0), 1), ValueX: barLabelW + barW + 8}
			v.Label = fmt.Sprintf("×%.2f", a.Lift)
			if a.LiftLow != nil && a.LiftHigh != nil {
				v.HasInterval, v.LoX, v.HiX = true, liftX(*a.LiftLow), liftX(*a.LiftHigh)
				v.Label += fmt.Sprintf(" [×%.2f–×%.2f]", *a.LiftLow, *a.LiftHigh)
			}
			v.Label += fmt.Sprintf(" · evidence %.1f · picked %d", a.Evidence, a.Pulls)
			if a.Since != nil {
				v.Label += " · changed " + a.Since.UTC().Format("15:04:05")
			}
			d.Arms = append(d.Arms, v)
		}
		d.Height = len(d.Arms)*barRowH + 20
		for _, l := range []float64{0.25, 0.5, 1, 2, 4} {
			d.Axis = append(d.Axis, tickView{X: liftX(l), Y: float64(d.Height - 4), Label: "×" + strconv.FormatFloat(l, 'f', -1, 64), Anchor: "middle"})
		}
		out = append(out, d)
	}
	return out
}

func atoiOr(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return math.MaxInt
	}
	return n
}

// The engagement chart's geometry.
const (
	chartW, chartH           = 720, 280
	chartLeft, chartRight    = 64, 16
	chartTop, chartBottom    = 16, 36
	chartInnerW, chartInnerH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
)

type chartView struct {
	W, H, Left, Top, Right, Bottom int
	Posts                          int64
	Xbot, Random                   string // SVG polyline points
	XbotTotal, RandomTotal         float64
	RandomRate, XbotRate, Lift     float64
	XTicks, YTicks                 []tickView
	Method                         string
}

// uniformRandomRate estimates the engagement rate a uniform random choice of arms would have had, from the
// measured posts alone (no simulator's hidden rates). It fits the multiplicative model
// engagements ~ Poisson(impressions × exp(base + topic + format + hook + hour effects)) by iterative
// proportional fitting, so an arm is judged against the arms it was posted with (the learner picks good arms
// together, and a plain per-arm average would credit one dimension with another's effect). A uniform
// policy picks every arm of a dimension equally and dimensions independently, so its rate is exp(base) times,
// per dimension, the mean of exp(effect) over the arms. Arms never measured cannot be estimated and are
// left out; each arm's counts get half an engagement and half an expected one, so a small arm with none
// measured stays finite.
func uniformRandomRate(cells []store.EngagementCell) float64 {
	var n, e float64
	for _, c := range cells {
		n, e = n+float64(c.Impressions), e+float64(c.Engagements)
	}
	if n <= 0 || e <= 0 {
		return 0
	}
	const dims = 4
	arm := func(c store.EngagementCell, d int) string { return [dims]string{c.Topic, c.Format, c.Hook, c.Hour}[d] }
	base := math.Log(e / n)
	var effect [dims]map[string]float64
	for d := range effect {
		effect[d] = map[string]float64{}
		for _, c := range cells {
			if c.Impressions > 0 {
				effect[d][arm(c, d)] = 0
			}
		}
	}
	predicted := func(c store.EngagementCell) float64 {
		sum := base
		for d := range dims {
			sum += effect[d][arm(c, d)]
		}
		return float64(c.Impressions) * math.Exp(sum)
	}
	for range 200 {
		moved := 0.0
		for d := range dims {
			obs, exp := map[string]float64{}, map[string]float64{}
			for _, c := range cells {
				if c.Impressions > 0 {
					obs[arm(c, d)] += float64(c.Engagements)
					exp[arm(c, d)] += predicted(c)
				}
			}
			for k := range effect[d] {
				step := math.Log((obs[k] + 0.5) / (exp[k] + 0.5))
				effect[d][k] += step
				moved = math.Max(moved, math.Abs(step))
			}
		}
		if moved < 1e-9 {
			break
		}
	}
	rate := math.Exp(base)
	for d := range dims {
		var sum float64
		for _, v := range effect[d] {
			sum += math.Exp(v)
		}
		rate *= sum / float64(len(effect[d]))
	}
	return rate
}

// engagementChart draws cumulative engagements of xbot's posts against uniform random's estimate (each
// post's impressions times uniformRandomRate), over posting time.
func engagementChart(p *store.StatusPage) chartView {
	c := chartView{W: chartW, H: chartH, Left: chartLeft, Top: chartTop, Right: chartW - chartRight, Bottom: chartH - chartBottom}
	if len(p.Series) == 0 {
		return c
	}
	last := p.Series[len(p.Series)-1]
	c.Posts = last.N
	c.RandomRate = uniformRandomRate(p.Cells)
	c.XbotRate = float64(last.Engagements) / float64(last.Impressions)
	c.XbotTotal, c.RandomTotal = float64(last.Engagements), float64(last.Impressions)*c.RandomRate
	if c.RandomTotal > 0 {
		c.Lift = c.XbotTotal / c.RandomTotal
	}
	t0, t1 := p.Series[0].PostedAt, last.PostedAt
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Second
	}
	yMax := niceCeil(math.Max(c.XbotTotal, c.RandomTotal))
	x := func(t time.Time) float64 { return chartLeft + float64(t.Sub(t0))/float64(span)*chartInnerW }
	y := func(v float64) float64 { return chartTop + chartInnerH - v/yMax*chartInnerH }
	var xb, rb strings.Builder
	for _, pt := range p.Series {
		fmt.Fprintf(&xb, "%.1f,%.1f ", x(pt.PostedAt), y(float64(pt.Engagements)))
		fmt.Fprintf(&rb, "%.1f,%.1f ", x(pt.PostedAt), y(float64(pt.Impressions)*c.RandomRate))
	}
	c.Xbot, c.Random = strings.TrimSpace(xb.String()), strings.TrimSpace(rb.String())
	for i := 0; i <= 4; i++ {
		v := yMax * float64(i) / 4
		c.YTicks = append(c.YTicks, tickView{X: chartLeft - 6, Y: y(v) + 4, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		t := t0.Add(time.Duration(float64(span) * float64(i) / 4))
		c.XTicks = append(c.XTicks, tickView{X: x(t), Y: chartH - chartBottom + 16, Label: t.UTC().Format("15:04:05"),
			Anchor: []string{"start", "middle", "middle", "middle", "end"}[i]})
	}
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
