package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type instanceData struct {
	Status     wire.InstanceStatus
	Releases   []wire.Release
	Active     *wire.Release
	Backups    wire.BackupList
	HasBackups bool
	Alerts     []wire.Alert
	// AlertHistory is the instance's last resolved alerts, newest first.
	AlertHistory []wire.Alert
	Silences     []wire.AlertSilence
	Secrets      []string
	Services     []serviceView
	CanOperate   bool
	Metrics      bool
}

type serviceView struct {
	wire.ServiceStatus
	Top wire.TopRow
}

// ranges are the graph ranges the instance page offers.
var ranges = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (h *Handler) instancePage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	name := r.PathValue("name")
	st, err := s.api.Status(ctx, name)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	d := instanceData{Status: st, CanOperate: s.canOperate(st.Identity)}
	if d.Releases, err = s.api.Releases(ctx, st.Name); err != nil {
		h.apiFail(w, r, err)
		return
	}
	slices.Reverse(d.Releases) // newest first
	for i := range d.Releases {
		if d.Releases[i].Number == st.Release {
			d.Active = &d.Releases[i]
		}
	}
	if d.Active != nil {
		for name := range d.Active.Secrets {
			d.Secrets = append(d.Secrets, name)
		}
		slices.Sort(d.Secrets)
	}
	if b, err := s.api.Backups(ctx, st.Name); err == nil {
		d.Backups, d.HasBackups = b, true
	} else if !errors.Is(err, client.ErrUnsupported) && !errors.Is(err, client.ErrNotFound) {
		h.log.Debug("dashboard: backups", "instance", st.Name, "err", err)
	}
	if al, err := s.api.Alerts(ctx, true); err == nil {
		for _, a := range al.History {
			if a.Instance == st.Name && len(d.AlertHistory) < 20 {
				d.AlertHistory = append(d.AlertHistory, a)
			}
		}
		for _, a := range al.Active {
			if a.Instance == st.Name {
				d.Alerts = append(d.Alerts, a)
			}
		}
		for _, si := range al.Silences {
			if si.Instance == st.Name {
				d.Silences = append(d.Silences, si)
			}
		}
	}
	top, terr := s.api.MetricsTop(ctx)
	d.Metrics = terr == nil
	for _, sv := range st.Services {
		v := serviceView{ServiceStatus: sv}
		for _, tr := range top.Rows {
			if tr.Instance == st.Name && tr.Service == sv.Service {
				v.Top = tr
			}
		}
		d.Services = append(d.Services, v)
	}
	if r.Header.Get("HX-Request") != "" && r.Header.Get("HX-Target") == "releases" {
		h.renderPart(w, r, http.StatusOK, "instance", "releases", s, d)
		return
	}
	h.render(w, r, http.StatusOK, "instance", s, d)
}

// chartData is what app.js hands uPlot: one time axis, named series.
type chartData struct {
	Charts []chart `json:"charts"`
}

type chart struct {
	Title  string      `json:"title"`
	Unit   string      `json:"unit"`
	T      []int64     `json:"t"`
	Series []chartLine `json:"series"`
}

type chartLine struct {
	Label  string    `json:"label"`
	Values []float64 `json:"values"`
}

// series answers the instance's graphs over ?range=1h|24h|7d as JSON.
func (h *Handler) series(w http.ResponseWriter, r *http.Request, s *session) {
	rg, ok := ranges[r.URL.Query().Get("range")]
	if !ok {
		rg = time.Hour
	}
	ms, err := s.api.MetricsSeries(r.Context(), r.PathValue("name"), "", rg, 240)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	mk := func(title, unit string, scale float64, lines ...[3]string) chart {
		var c chart
		c.Title, c.Unit = title, unit
		axis := []int64{}
		for _, l := range lines {
			sm := sumSeries(ms, l[1], l[2])
			if len(sm.times) > len(axis) {
				axis = sm.times
			}
		}
		c.T = axis
		for _, l := range lines {
			sm := sumSeries(ms, l[1], l[2])
			at := map[int64]float64{}
			for i, t := range sm.times {
				at[t] = sm.values[i] * scale
			}
			vals := make([]float64, len(axis))
			for i, t := range axis {
				vals[i] = at[t]
			}
			c.Series = append(c.Series, chartLine{Label: l[0], Values: vals})
		}
		return c
	}
	out := chartData{Charts: []chart{
		mk("Requests", "req/s", 1, [3]string{"requests/s", "", "requests"}, [3]string{"5xx/s", "", "responses_5xx"}),
		mk("Latency p95", "ms", 1000, [3]string{"p95 ms", "max", "latency_p95"}),
		mk("CPU", "%", 1, [3]string{"cpu %", "", "cpu_percent"}),
		mk("Memory", "MiB", 1.0/(1<<20), [3]string{"memory MiB", "", "memory_bytes"}),
	}}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// releaseChange is one line of a rollback's confirmation: what a service
// runs now and what it will run.
type releaseChange struct {
	Service        string
	FromImage      string
	ToImage        string
	FromHash       string
	ToHash         string
	Changed        bool
	Added, Removed bool
}

type rollbackData struct {
	Instance string
	From, To wire.Release
	Changes  []releaseChange
}

// rollbackConfirm shows what a rollback to ?to=N changes, service by
// service, before the user confirms it.
func (h *Handler) rollbackConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	to, _ := strconv.Atoi(r.URL.Query().Get("to"))
	rels, err := s.api.Releases(r.Context(), name)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	st, err := s.api.Status(r.Context(), name)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	d := rollbackData{Instance: st.Name}
	var foundFrom, foundTo bool
	for _, rel := range rels {
		if rel.Number == st.Release {
			d.From, foundFrom = rel, true
		}
	}
	if to == 0 {
		// The one before the active release, as the API's default.
		for _, rel := range rels {
			if rel.Number < st.Release && rel.Number > to && rel.Status != wire.ReleaseFailed {
				to = rel.Number
			}
		}
	}
	for _, rel := range rels {
		if rel.Number == to {
			d.To, foundTo = rel, true
		}
	}
	if !foundFrom || !foundTo || to == st.Release {
		h.fail(w, r, http.StatusBadRequest, "there is no release "+strconv.Itoa(to)+" to roll "+st.Name+" back to")
		return
	}
	d.Changes = diffReleases(d.From, d.To)
	h.render(w, r, http.StatusOK, "rollback", s, d)
}

func diffReleases(from, to wire.Release) []releaseChange {
	names := map[string]bool{}
	for n := range from.Hashes {
		names[n] = true
	}
	for n := range to.Hashes {
		names[n] = true
	}
	var out []releaseChange
	for n := range names {
		_, inFrom := from.Hashes[n]
		_, inTo := to.Hashes[n]
		c := releaseChange{Service: n, FromImage: from.Images[n], ToImage: to.Images[n],
			FromHash: short(from.Hashes[n]), ToHash: short(to.Hashes[n]), Added: !inFrom, Removed: !inTo}
		c.Changed = from.Hashes[n] != to.Hashes[n] || c.FromImage != c.ToImage
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b releaseChange) int { return cmp.Compare(a.Service, b.Service) })
	return out
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
