package webe2e

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/quai-dev/quai/internal/web"
	"github.com/quai-dev/quai/internal/web/webtest"
)

// TestInstancesPage500InBrowser loads the instances page with 500
// instances in Chromium and prints its time to first byte and full load
// (the goal is under 200 ms of server time), and checks that searching
// narrows the list and that sparklines load for the rows on screen only.
func TestInstancesPage500InBrowser(t *testing.T) {
	exe := needChromium(t)
	h, err := web.New(web.Options{API: webtest.ManyInstances(500)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := browser(t, exe)()
	loginWithToken(t, ctx, srv.URL, webtest.Token)
	var ttfb, load []float64
	for range 5 {
		do(t, ctx, "reload", chromedp.Navigate(srv.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-instance="shop-0499-prod"]`)))
		v := get(t, ctx, "timing", chromedp.Evaluate[[]float64](`(() => { const n = performance.getEntriesByType("navigation")[0]; return [n.responseStart - n.requestStart, n.loadEventEnd > 0 ? n.loadEventEnd - n.startTime : performance.now()]; })()`))
		ttfb, load = append(ttfb, v[0]), append(load, v[1])
	}
	t.Logf("instances page, 500 instances, 5 loads: time to first byte %s ms, full load %s ms", ms(ttfb), ms(load))
	if n := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("tr[data-instance]").length`)); n != 500 {
		t.Errorf("%d rows, want 500", n)
	}
	do(t, ctx, "wait for the sparklines on screen", chromedp.WaitVisible(chromedp.CSS("svg.spark")))
	sparks := get(t, ctx, "sparklines", chromedp.Evaluate[int](`document.querySelectorAll("svg.spark").length`))
	t.Logf("sparklines loaded for %d of 500 rows (those on screen)", sparks)
	if sparks == 0 || sparks >= 500 {
		t.Errorf("%d sparklines loaded: want those on screen only", sparks)
	}
	do(t, ctx, "search", chromedp.SendKeys(chromedp.CSS("#q"), "shop-049"))
	get(t, ctx, "wait for the narrowed list", chromedp.Poll[bool](`document.querySelectorAll("tr[data-instance]").length === 10`))
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "q="+url.QueryEscape("shop-049")) {
		t.Errorf("the search is not in the address %s (a reload or a shared link would lose it)", loc)
	}
}

func ms(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, " / ")
}
