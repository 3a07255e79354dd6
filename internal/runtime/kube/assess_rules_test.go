package kube

import (
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// TestAssessRouteRules: route rules are rendered for ingress-nginx and
// Traefik; for a controller quai has no syntax for, a security rule is
// refused (never dropped) and the others ignored.
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
	findings := func(ctl string) map[runtime.Verdict]runtime.Finding {
		out := map[runtime.Verdict]runtime.Finding{}
		for _, f := range (&Runtime{render: render.KubeOptions{IngressController: ctl}}).Assess(m) {
			if strings.HasPrefix(f.Setting, "x-quai.routes.") {
				out[f.Verdict] = f
			}
		}
		return out
	}
	other := findings(render.ControllerOther)
	if f := other[runtime.VerdictRefuse]; f.Setting != "x-quai.routes.1.allow,compress" || f.Service != "web" || !strings.Contains(f.Message, "ingress-nginx and Traefik only") {
		t.Errorf("other controller: refusal %+v, want the allow list refused", f)
	}
	if f := other[runtime.VerdictIgnore]; f.Setting != "x-quai.routes.2.redirect" {
		t.Errorf("other controller: ignore %+v, want the redirect ignored", f)
	}
	for _, ctl := range []string{render.ControllerNginx, render.ControllerTraefik} {
		if f, ok := findings(ctl)[runtime.VerdictRefuse]; ok {
			t.Errorf("%s: refused %+v", ctl, f)
		}
	}
	if f := findings(render.ControllerNginx)[runtime.VerdictIgnore]; f.Setting != "x-quai.routes.1.compress" {
		t.Errorf("nginx: ignore %+v, want compress ignored (the controller's ConfigMap sets gzip)", f)
	}
}
