package web

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// instRow is one line of the instances page.
type instRow struct {
	Name, Org, Project, Env, Runtime string
	State                            wire.InstanceState
	Release                          int
	Ready, Desired                   int
	RPS                              float64
	Errors5xx                        int64
	Routed                           bool
	LastBackup                       time.Time
	BackupFailing                    bool
	HasBackup                        bool
}

// Health says how many replicas are ready, for the page.
func (r instRow) Health() string {
	if r.Desired == 0 {
		return "–"
	}
	return fmt.Sprintf("%d/%d", r.Ready, r.Desired)
}

// Healthy is true when every desired replica is ready.
func (r instRow) Healthy() bool { return r.Desired > 0 && r.Ready >= r.Desired }

type instancesData struct {
	Rows  []instRow
	Total int
	Orgs  []string
	Org   string
	Q     string
	Sort  string
	Desc  bool
	// Metrics is false when the daemon collects none.
	Metrics bool
}

// sortKeys are the columns the instances page sorts by.
var sortKeys = map[string]func(a, b instRow) int{
	"name":    func(a, b instRow) int { return cmp.Compare(a.Name, b.Name) },
	"org":     func(a, b instRow) int { return cmp.Compare(a.Org, b.Org) },
	"env":     func(a, b instRow) int { return cmp.Compare(a.Env, b.Env) },
	"runtime": func(a, b instRow) int { return cmp.Compare(a.Runtime, b.Runtime) },
	"state":   func(a, b instRow) int { return cmp.Compare(a.State, b.State) },
	"release": func(a, b instRow) int { return cmp.Compare(a.Release, b.Release) },
	"rps":     func(a, b instRow) int { return cmp.Compare(a.RPS, b.RPS) },
	"5xx":     func(a, b instRow) int { return cmp.Compare(a.Errors5xx, b.Errors5xx) },
	"backup":  func(a, b instRow) int { return a.LastBackup.Compare(b.LastBackup) },
	"health": func(a, b instRow) int {
		return cmp.Compare(float64(a.Ready)/float64(max(a.Desired, 1)), float64(b.Ready)/float64(max(b.Desired, 1)))
	},
}

func (h *Handler) instancesPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	list, err := s.api.Instances(ctx)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	top, terr := s.api.MetricsTop(ctx)
	q := r.URL.Query()
	d := instancesData{Org: q.Get("org"), Q: strings.TrimSpace(q.Get("q")), Sort: q.Get("sort"), Desc: q.Get("dir") == "desc", Metrics: terr == nil}
	if _, ok := sortKeys[d.Sort]; !ok {
		d.Sort = "name"
	}
	figures := map[string]*instRow{}
	for _, tr := range top.Rows {
		f := figures[tr.Instance]
		if f == nil {
			f = &instRow{}
			figures[tr.Instance] = f
		}
		f.Ready += tr.Ready
		f.Desired += tr.Desired
		f.RPS += tr.RequestsPerSec
		f.Errors5xx += tr.Errors5xx
		f.Routed = f.Routed || tr.Routed
	}
	orgs := map[string]bool{}
	needle := strings.ToLower(d.Q)
	d.Rows = make([]instRow, 0, len(list))
	for _, in := range list {
		orgs[in.Identity.Org] = true
		if d.Org != "" && in.Identity.Org != d.Org {
			continue
		}
		row := instRow{Name: in.Name, Org: in.Identity.Org, Project: in.Identity.Project, Env: in.Identity.Env,
			Runtime: in.Runtime, State: in.State, Release: in.Release}
		if needle != "" && !strings.Contains(strings.ToLower(strings.Join([]string{row.Name, row.Org, row.Project, row.Env, row.Runtime, string(row.State)}, " ")), needle) {
			continue
		}
		if f := figures[in.Name]; f != nil {
			row.Ready, row.Desired, row.RPS, row.Errors5xx, row.Routed = f.Ready, f.Desired, f.RPS, f.Errors5xx, f.Routed
		}
		if b := in.Backup; b != nil {
			row.HasBackup = true
			row.LastBackup = b.LastSuccess
			row.BackupFailing = b.Failing()
		}
		d.Rows = append(d.Rows, row)
	}
	d.Total = len(list)
	for o := range orgs {
		d.Orgs = append(d.Orgs, o)
	}
	slices.Sort(d.Orgs)
	less := sortKeys[d.Sort]
	slices.SortStableFunc(d.Rows, func(a, b instRow) int {
		c := less(a, b)
		if c == 0 {
			c = cmp.Compare(a.Name, b.Name)
		}
		if d.Desc {
			return -c
		}
		return c
	})
	if r.Header.Get("HX-Request") != "" && r.Header.Get("HX-Target") == "instances" {
		h.renderPart(w, r, http.StatusOK, "instances", "table", s, d)
		return
	}
	h.render(w, r, http.StatusOK, "instances", s, d)
}

// sortLink is the query of a column header's link: sort by col, reversing
// the direction when the page is sorted by it already.
func sortLink(d instancesData, col string) template.URL {
	q := url.Values{"sort": {col}}
	if d.Sort == col && !d.Desc {
		q.Set("dir", "desc")
	}
	if d.Org != "" {
		q.Set("org", d.Org)
	}
	if d.Q != "" {
		q.Set("q", d.Q)
	}
	return template.URL("?" + q.Encode()) //nolint:gosec // a query string this function encodes

}

// AriaSort is the aria-sort value of column col.
func (d instancesData) AriaSort(col string) string {
	switch {
	case d.Sort != col:
		return "none"
	case d.Desc:
		return "descending"
	default:
		return "ascending"
	}
}

// sparkline answers an SVG of the last hour's requests (and 5xx) of an
// instance; the instances page loads it for the rows on screen only.
func (h *Handler) sparkline(w http.ResponseWriter, r *http.Request, s *session) {
	ms, err := s.api.MetricsSeries(r.Context(), r.PathValue("name"), "", time.Hour, 30)
	if err != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<span class="muted">–</span>`))
		return
	}
	req := sumSeries(ms, "", "requests")
	errs := sumSeries(ms, "", "responses_5xx")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=10")
	_, _ = w.Write([]byte(sparkSVG(req.values, errs.values)))
}

// summed is a series added up over services, on a shared time axis.
type summed struct {
	times  []int64
	values []float64
}

// sumSeries adds up the points of the series called name (over services),
// or with agg "max" keeps the largest.
func sumSeries(ms wire.MetricsSeries, agg, name string) summed {
	byT := map[int64]float64{}
	for _, se := range ms.Series {
		if se.Name != name {
			continue
		}
		for _, p := range se.Points {
			t := p.T.Unix()
			if agg == "max" {
				byT[t] = max(byT[t], p.V)
			} else {
				byT[t] += p.V
			}
		}
	}
	var out summed
	for t := range byT {
		out.times = append(out.times, t)
	}
	slices.Sort(out.times)
	for _, t := range out.times {
		out.values = append(out.values, byT[t])
	}
	return out
}

// sparkSVG draws requests as a line and 5xx as a red line over it.
func sparkSVG(req, errs []float64) string {
	const wd, ht = 100.0, 24.0
	top := 0.0
	for _, v := range req {
		top = max(top, v)
	}
	for _, v := range errs {
		top = max(top, v)
	}
	line := func(vs []float64) string {
		if len(vs) < 2 {
			return ""
		}
		var b strings.Builder
		for i, v := range vs {
			y := ht - 1
			if top > 0 {
				y = ht - 1 - (v/top)*(ht-2)
			}
			fmt.Fprintf(&b, "%.1f,%.1f ", float64(i)*wd/float64(len(vs)-1), y)
		}
		return b.String()
	}
	last := 0.0
	if len(req) > 0 {
		last = req[len(req)-1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %g %g" width="100" height="24" role="img" aria-label="requests per second over the last hour, now %.1f">`, wd, ht, last)
	if l := line(req); l != "" {
		fmt.Fprintf(&b, `<polyline class="spark-req" fill="none" stroke-width="1.5" points="%s"/>`, l)
	}
	if l := line(errs); l != "" && slices.Max(errs) > 0 {
		fmt.Fprintf(&b, `<polyline class="spark-err" fill="none" stroke-width="1.5" points="%s"/>`, l)
	}
	b.WriteString(`</svg>`)
	return b.String()
}
