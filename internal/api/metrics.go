package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/wire"
)

// MetricsReader serves `quai top` and `quai metrics`; the daemon hands it
// its metrics collector. Series answers an *Error when the daemon keeps no
// history.
type MetricsReader interface {
	Top() wire.MetricsTop
	Series(ctx context.Context, instance, service string, since time.Duration, points int) (wire.MetricsSeries, error)
}

// maxMetricsPoints bounds the points per series a client may ask for.
const maxMetricsPoints = 2000

func (s *Server) metricsOff(w http.ResponseWriter) bool {
	if s.metrics != nil {
		return false
	}
	writeError(w, &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported,
		Message: "this daemon collects no metrics", Hint: "the CLI and the daemon may be different versions; restart the daemon"})
	return true
}

func (s *Server) handleMetricsTop(w http.ResponseWriter, r *http.Request) {
	if s.metricsOff(w) {
		return
	}
	top := s.metrics.Top()
	visible, err := s.visibleFilter(r, "metrics")
	if err != nil {
		writeError(w, err)
		return
	}
	top.Rows = keep(top.Rows, func(x wire.TopRow) bool { return visible(x.Instance) })
	if !auth.FromContext(r.Context()).HostAdmin() {
		top.Host = wire.HostMetrics{}
	}
	writeJSON(w, top)
}

func (s *Server) handleMetricsSeries(w http.ResponseWriter, r *http.Request) {
	if s.metricsOff(w) {
		return
	}
	q := r.URL.Query()
	instance, service := q.Get("instance"), q.Get("service")
	if instance == "" {
		writeError(w, badRequest("the instance is missing", "name one: quai metrics INSTANCE [SERVICE]"))
		return
	}
	if !s.authorizeInstance(w, r, "metrics", instance) {
		return
	}
	since := 6 * time.Hour
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, badRequest("since "+strconv.Quote(v)+" is not a positive duration", "use Go durations such as 30m, 6h or 168h"))
			return
		}
		since = d
	}
	points := 120
	if v := q.Get("points"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxMetricsPoints {
			writeError(w, badRequest("points "+strconv.Quote(v)+" is not between 1 and "+strconv.Itoa(maxMetricsPoints), ""))
			return
		}
		points = n
	}
	// An unknown instance or service is an error with suggestions, not an
	// empty chart.
	st, err := s.engine.Status(r.Context(), instance)
	if err != nil {
		writeError(w, err)
		return
	}
	if service != "" {
		names := make([]string, 0, len(st.Services))
		for _, sv := range st.Services {
			names = append(names, sv.Service)
		}
		if !slices.Contains(names, service) {
			writeError(w, &engine.NotFoundError{Kind: "service", Name: service, Suggestions: names})
			return
		}
	}
	out, err := s.metrics.Series(r.Context(), st.Name, service, since, points)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, out)
}
