package kube

import (
	"testing"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

func TestAssessRouteRules(t *testing.T) {
	m := &stack.Model{Routes: []stack.Route{
		{Host: "plain.example.com", Path: "/", Service: "web"},
		{Host: "admin.example.com", Path: "/", Service: "web", Rules: &stack.RouteRules{Allow: []string{"10.0.0.0/8"}, Compress: []string{"gzip"}}},
		{Host: "www.example.com", Path: "/", Service: "web", Rules: &stack.RouteRules{Redirect: stack.RedirectApexToWWW}},
	}}
	fs := (&Runtime{}).Assess(m)
	if len(fs) != 2 {
		t.Fatalf("findings %+v, want two", fs)
	}
	byVerdict := map[runtime.Verdict]runtime.Finding{}
	for _, f := range fs {
		byVerdict[f.Verdict] = f
	}
	if f := byVerdict[runtime.VerdictRefuse]; f.Setting != "x-quai.routes.1.allow,compress" {
		t.Errorf("refusal %+v, want the allow list refused", f)
	}
	if f := byVerdict[runtime.VerdictIgnore]; f.Setting != "x-quai.routes.2.redirect" {
		t.Errorf("ignore %+v, want the redirect ignored", f)
	}
}
