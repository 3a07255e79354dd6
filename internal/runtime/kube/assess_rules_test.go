package kube

import (
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// TestAssessRouteRules: the Ingress cannot carry quai's route rules, so a
// security rule is refused (never dropped) and the others ignored.
func TestAssessRouteRules(t *testing.T) {
	m := &stack.Model{
		Identity: stack.Identity{Project: "shop", Env: "prod"},
		Services: []*stack.Service{{Name: "web", Image: "nginx:1.27", Expose: []int{80}}},
		Routes: []stack.Route{
			{Host: "plain.example.com", Path: "/", Service: "web", Port: 80, TLS: stack.TLSAuto},
			{Host: "admin.example.com", Path: "/", Service: "web", Port: 80, TLS: stack.TLSAuto, Rules: &stack.RouteRules{Allow: []string{"10.0.0.0/8"}, Compress: []string{"gzip"}}},
			{Host: "www.example.com", Path: "/", Service: "web", Port: 80, TLS: stack.TLSAuto, Rules: &stack.RouteRules{Redirect: stack.RedirectApexToWWW}},
		},
	}
	var got []runtime.Finding
	for _, f := range (&Runtime{}).Assess(m) {
		if strings.HasPrefix(f.Setting, "x-quai.routes.") {
			got = append(got, f)
		}
	}
	if len(got) != 2 {
		t.Fatalf("route findings %+v, want two", got)
	}
	byVerdict := map[runtime.Verdict]runtime.Finding{}
	for _, f := range got {
		byVerdict[f.Verdict] = f
	}
	if f := byVerdict[runtime.VerdictRefuse]; f.Setting != "x-quai.routes.1.allow,compress" || f.Service != "web" {
		t.Errorf("refusal %+v, want the allow list refused", f)
	}
	if f := byVerdict[runtime.VerdictIgnore]; f.Setting != "x-quai.routes.2.redirect" {
		t.Errorf("ignore %+v, want the redirect ignored", f)
	}
}
