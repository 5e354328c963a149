package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/xbot/xbot/internal/dbtest"
	"github.com/xbot/xbot/store"
)

var readmeScreenshot = flag.String("readme-screenshot", "", "also write the status page's screenshot to this path (docs/status-page.png)")

// browserPath finds Chromium; the browser test fails (never skips) without one.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found on PATH: install it with `apt-get install -y chromium` (make test does so when run as root)")
	return ""
}

// The real `xbot dev` on a fresh schema: within the deadline it plans, posts, measures and learns, and the
// status page at / shows those figures; then a real headless Chromium renders the page, and the chart and the
// arm bars must be drawn with data.
func TestDevLoopOnStatusPage(t *testing.T) {
	t.Parallel()
	browser := browserPath(t)
	ctx := context.Background()
	schema := "t_dev_" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	admin := dbtest.Pool(t)
	_, err := admin.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })

	// 1800: one simulated hour every 2 s, so the first learning run comes within seconds of the first posts.
	env := map[string]string{"DATABASE_URL": dbtest.SchemaURL(t, schema), "PORT": "0", "DEV_SPEED": "1800"}
	dev := runProcess(t, env, "dev")
	// No --addr: dev serves this machine only.
	require.Regexp(t, `^127\.0\.0\.1:[1-9][0-9]*$`, dev.m.Addr())
	base := "http://" + dev.m.Addr()
	// The start line is logged once the server is ready, by another goroutine: wait for it.
	waitFor(t, "the dev start line", 30*time.Second, func() bool {
		return strings.Contains(dev.out.String(), "dev: accelerated clock, one simulated hour every 2s")
	}, dev.out.String)

	pool, err := store.Connect(ctx, env["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var posted, outcomes, runs int64
	counts := func() bool {
		var moved int64
		err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM posted_decisions), (SELECT count(*) FROM outcomes),
			(SELECT count(*) FROM learning_runs), (SELECT count(*) FROM bandit_arms WHERE abs(ln(lift)) > 0.05)`).
			Scan(&posted, &outcomes, &runs, &moved)
		require.NoError(t, err)
		return posted >= 5 && outcomes >= 5 && runs >= 1 && moved >= 1
	}
	waitFor(t, "posts, outcomes and a learning run that moved an arm", 3*time.Minute, counts, dev.out.String)

	code, body := get(t, base+"/")
	require.Equal(t, 200, code, body)
	require.GreaterOrEqual(t, stageCount(t, body, "posted"), posted, "posted on the page")
	require.GreaterOrEqual(t, stageCount(t, body, "measured"), outcomes, "measured on the page")
	require.Regexp(t, `data-stage="learned from"><b>\d+</b>learned from<br><small>v[1-9]\d*</small>`, body)
	require.Contains(t, body, `<polyline class="series-xbot"`)
	require.Contains(t, body, `href="/riverui/"`)
	require.Contains(t, body, `href="/api/metrics"`)

	rendered := renderInBrowser(t, browser, base+"/")
	require.GreaterOrEqual(t, rendered.xbotPoints, 2, "the xbot series has points")
	require.GreaterOrEqual(t, rendered.randomPoints, 2, "the uniform random series has points")
	require.Greater(t, rendered.xbotWidth, 50.0, "the xbot series spans the chart")
	require.Greater(t, rendered.xbotHeight, 1.0, "the xbot series rises")
	require.GreaterOrEqual(t, rendered.bars, 5, "arm bars drawn")
	require.Greater(t, rendered.maxBarWidth, 1.0, "arm bars have widths")
	require.Greater(t, rendered.maxBarWidth, rendered.minBarWidth, "arm bars differ once learned")
}

// stageCount reads a pipeline stage's figure from the page.
func stageCount(t *testing.T, body, stage string) int64 {
	t.Helper()
	m := regexp.MustCompile(`data-stage="` + regexp.QuoteMeta(stage) + `"><b>(\d+)</b>`).FindStringSubmatch(body)
	require.NotNil(t, m, "stage %s on the page", stage)
	n, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return n
}

type renderedPage struct {
	xbotPoints, randomPoints int
	xbotWidth, xbotHeight    float64
	bars                     int
	minBarWidth, maxBarWidth float64
}

// renderInBrowser loads url in headless Chromium, measures what the browser drew (layout boxes, not HTML),
// and saves a full-page screenshot as the test's artifact (and for the README with -readme-screenshot).
func renderInBrowser(t *testing.T, browser, url string) renderedPage {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	type measured struct {
		XbotPoints   int       `json:"xbotPoints"`
		RandomPoints int       `json:"randomPoints"`
		XbotWidth    float64   `json:"xbotWidth"`
		XbotHeight   float64   `json:"xbotHeight"`
		Bars         []float64 `json:"bars"`
	}
	err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(`#engagement-chart`),
		chromedp.WaitVisible(`svg.arms rect.arm-bar`))
	require.NoError(t, err)
	r, err := chromedp.Run(ctx, chromedp.Evaluate[measured](`(() => {
		const x = document.querySelector('#engagement-chart polyline.series-xbot');
		const u = document.querySelector('#engagement-chart polyline.series-random');
		const box = x.getBBox();
		return {
			xbotPoints: x.points.numberOfItems, randomPoints: u.points.numberOfItems,
			xbotWidth: box.width, xbotHeight: box.height,
			bars: [...document.querySelectorAll('svg.arms rect.arm-bar')].map(b => b.getBoundingClientRect().width),
		};
	})()`))
	require.NoError(t, err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(t.ArtifactDir(), "status-page.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("status page screenshot: %s (%d bytes)", path, len(shot))
	if *readmeScreenshot != "" {
		require.NoError(t, os.WriteFile(*readmeScreenshot, shot, 0o644))
	}
	out := renderedPage{xbotPoints: r.XbotPoints, randomPoints: r.RandomPoints, xbotWidth: r.XbotWidth, xbotHeight: r.XbotHeight,
		bars: len(r.Bars)}
	for i, w := range r.Bars {
		if i == 0 || w < out.minBarWidth {
			out.minBarWidth = w
		}
		out.maxBarWidth = max(out.maxBarWidth, w)
	}
	require.NotEmpty(t, shot, fmt.Sprintf("screenshot of %s", url))
	return out
}

// Uniform random's rate from measured posts, in a world where topic b doubles engagement and format y adds
// half, and the picks are confounded (b mostly posted with y): the fit recovers uniform random's true rate,
// 1% × mean(1, 2) × mean(1, 1.5) = 1.875%, where plain per-arm averages would say about 2%.
func TestUniformRandomRate(t *testing.T) {
	t.Parallel()
	cells := []store.EngagementCell{
		{Topic: "a", Format: "x", Impressions: 100000, Engagements: 1000},
		{Topic: "a", Format: "y", Impressions: 2000, Engagements: 30},
		{Topic: "b", Format: "x", Impressions: 2000, Engagements: 40},
		{Topic: "b", Format: "y", Impressions: 100000, Engagements: 3000},
		{Topic: "c", Format: "x", Impressions: 0, Engagements: 0}, // never measured: left out
	}
	require.InEpsilon(t, 0.01875, uniformRandomRate(cells), 0.002)
	require.Zero(t, uniformRandomRate(nil))
}

// `xbot web` alone (no simulator, no workers) serves the page, under the read-only pages' rule: basic auth once
// RIVERUI_PASSWORD is set.
func TestStatusPageInWebFollowsAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["RIVERUI_USER"], b.env["RIVERUI_PASSWORD"] = "ops", "page-pw-9"
	// A fleet-wide pause, as `xbot pause` stores it.
	pool, err := store.Connect(context.Background(), b.env["DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	err = store.New(pool).SetPostingSwitch(context.Background(), pool, 0, true, "incident 42")
	require.NoError(t, err)
	_, base := b.start(t, "web", "--addr", "127.0.0.1:0")
	code, _ := do(t, "GET", base+"/", nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := do(t, "GET", base+"/", nil, basicAuth("ops", "page-pw-9"))
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `data-stage="posted"><b>0</b>`)
	require.Contains(t, body, "No measured posts yet")
	require.Regexp(t, `<span class="bad">paused by xbot pause for every account since [0-9: -]+ UTC: incident 42`, body)
	require.NotContains(t, body, "page-pw-9")
}

// A stored switch (xbot pause / resume) overrides the process's POSTING_DISABLED on the page.
func TestPostingState(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	s, stopped := postingState(false, &store.PostingSwitch{AccountID: 0, Paused: true, Reason: "incident 42", SetAt: at})
	require.True(t, stopped)
	require.Equal(t, "paused by xbot pause for every account since 2026-12-03 08:00:00 UTC: incident 42 (overrides POSTING_DISABLED)", s)
	s, stopped = postingState(true, &store.PostingSwitch{AccountID: 1, Paused: false, SetAt: at})
	require.False(t, stopped)
	require.Contains(t, s, "enabled by xbot resume for this account")
	s, stopped = postingState(true, nil)
	require.True(t, stopped)
	require.Contains(t, s, "POSTING_DISABLED=true")
	s, stopped = postingState(false, nil)
	require.False(t, stopped)
	require.Equal(t, "enabled", s)
}
