// Package webtest holds what the dashboard's tests share: an API stub
// that lists many instances, to measure the dashboard's own time on a big
// list without deploying them (the API's time for lists is measured by
// its own benchmarks; the end-to-end tests run the real daemon).
//
// It imports internal/wire and the standard library; production code
// never imports it.
package webtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// Token is the bearer token the stub accepts.
const Token = "quai_test_token"

// ManyInstances answers GET /instances with n instances in 20
// organizations, /metrics/top with their figures and /metrics/series
// with a made-up hour of requests; other endpoints answer 404 (whoami
// included, as a daemon without users does). A request without Token
// gets 401.
func ManyInstances(n int) http.Handler {
	now := time.Now()
	list := make([]wire.Instance, n)
	top := wire.MetricsTop{Time: now, Window: time.Minute}
	for i := range list {
		name := fmt.Sprintf("shop-%04d-prod", i)
		list[i] = wire.Instance{Name: name, Identity: wire.Identity{Org: fmt.Sprintf("org%02d", i%20), Project: "shop", Env: "prod"},
			Runtime: "process", State: wire.InstanceRunning, Release: i%7 + 1, Updated: now,
			Backup: &wire.BackupState{LastSuccess: now.Add(-time.Duration(i) * time.Minute)}}
		for _, sv := range []string{"web", "db"} {
			top.Rows = append(top.Rows, wire.TopRow{Instance: name, Service: sv, Desired: 1, Ready: 1, Routed: sv == "web",
				RequestsPerSec: float64(i % 13), Errors5xx: int64(i % 3)})
		}
	}
	lb, _ := json.Marshal(list)
	tb, _ := json.Marshal(top)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+Token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthenticated","message":"not authenticated"}}`))
			return
		}
		switch r.URL.Path {
		case wire.Prefix + "/instances":
			_, _ = w.Write(lb)
		case wire.Prefix + "/metrics/top":
			_, _ = w.Write(tb)
		case wire.Prefix + "/metrics/series":
			in := r.URL.Query().Get("instance")
			req := wire.Series{Name: "requests", Rate: true}
			for i := range 30 {
				req.Points = append(req.Points, wire.Point{T: now.Add(time.Duration(i-30) * 2 * time.Minute), V: float64((i*7+len(in))%11) + 1})
			}
			_ = json.NewEncoder(w).Encode(wire.MetricsSeries{Instance: in, Step: 2 * time.Minute, Series: []wire.Series{req}})
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such endpoint"}}`))
		}
	})
}
