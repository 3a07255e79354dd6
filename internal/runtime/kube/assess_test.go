package kube_test

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/stack"
)

// TestAssess: the Kubernetes runtime says at plan time what it will not
// apply as written — a published port, a user name where a uid is needed,
// network_mode — by service and setting, without reaching the cluster (the
// client points at a port nothing listens on).
func TestAssess(t *testing.T) {
	rt, err := kube.New(kube.Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	m := &stack.Model{Identity: stack.Identity{Org: stack.DefaultOrg, Project: "shop", Env: "prod"}, Dir: t.TempDir(),
		Services: []*stack.Service{
			{Name: "web", Image: "nginx:1.27", User: "www-data", NetworkMode: "service:db",
				Ports: []stack.Port{{Target: 80, Published: "8080"}}},
			{Name: "plain", Image: "redis:7", Ports: []stack.Port{{Target: 6379}}},
		}}
	got := map[string]runtime.Finding{}
	for _, f := range rt.Assess(m) {
		got[f.Service+" "+f.Setting] = f
	}
	for key, want := range map[string]runtime.Verdict{
		"web ports":        runtime.VerdictChange,
		"web user":         runtime.VerdictIgnore,
		"web network_mode": runtime.VerdictIgnore,
	} {
		if got[key].Verdict != want {
			t.Errorf("%s: %+v, want verdict %s (all: %+v)", key, got[key], want, got)
		}
	}
	if f := got["web ports"]; !strings.Contains(f.Message, "8080") {
		t.Errorf("the published-port finding does not name the port: %q", f.Message)
	}
	for key, f := range got {
		if strings.HasPrefix(key, "plain ") {
			t.Errorf("a service rendered as written gets a finding: %+v", f)
		}
	}
	// A model the renderer refuses is refused at plan time.
	bad := rt.Assess(&stack.Model{Identity: stack.Identity{Project: "shop"}})
	if len(bad) != 1 || bad[0].Verdict != runtime.VerdictRefuse {
		t.Errorf("an unrenderable model: %+v, want one refusal", bad)
	}
}
