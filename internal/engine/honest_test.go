package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// TestImageOnlyServiceRefusedBeforeAnythingStarts: on the process runtime
// a service with an image and no x-quai.process.command cannot run. The
// plan says so, a dry run and up are refused, and up leaves nothing behind:
// no instance, no release, no replica (backend, which could run, is not
// started either).
func TestImageOnlyServiceRefusedBeforeAnythingStarts(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	m := h.appModel("v1", func(m *stack.Model) {
		m.Services = append(m.Services, &stack.Service{Name: "cache", Image: "valkey/valkey:8", Replicas: 1})
		m.Service("web").ReadOnly = true
	})
	p, err := h.eng.Plan(ctx, m, "")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Refused() || !hasFinding(p.Text, "refuse", "cache", "x-quai.process.command") || !hasFinding(p.Text, "ignore", "web", "read_only") {
		t.Errorf("plan does not refuse cache and list its ignored read_only:\n%s", p.Text)
	}
	var dry events
	if _, err := h.eng.Up(ctx, UpRequest{Model: m, DryRun: true}, dry.emit); !errors.Is(err, runtime.ErrUnsupported) {
		t.Errorf("dry run: %v, want ErrUnsupported", err)
	}
	dry.checkTerminal(t, EventFailed)

	var ev events
	_, err = h.eng.Up(ctx, UpRequest{Model: m}, ev.emit)
	if !errors.Is(err, runtime.ErrUnsupported) || !strings.Contains(err.Error(), "service cache") || !strings.Contains(err.Error(), "nothing was started") {
		t.Fatalf("up: %v, want ErrUnsupported naming service cache", err)
	}
	ev.checkTerminal(t, EventFailed)
	for _, e := range ev.list {
		if e.Kind == EventStep {
			t.Errorf("up began a step (%s %s) before refusing", e.Step, e.Service)
		}
	}
	if _, err := h.store.Instance(ctx, appID.Name()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused up left the instance behind: %v", err)
	}
	if rels, err := h.store.Releases(ctx, appID.Name()); err != nil || len(rels) != 0 {
		t.Errorf("a refused up left releases %v (%v)", rels, err)
	}
	if hs, err := h.rt.List(ctx, appID); err != nil || len(hs) != 0 {
		t.Errorf("a refused up left replicas %v (%v)", hs, err)
	}
}

// TestTwoOrgsOfOneProject: the same project runs for two organizations at
// once on the process runtime, each at its own default host (the default
// org's unchanged). A stack whose default_host has no {org} makes the
// second org's plan conflict: it is refused before anything starts, and
// the message names the new instance as the one refused and the running
// one as the route's owner.
func TestTwoOrgsOfOneProject(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	acme := stack.Identity{Org: "acme", Project: appID.Project, Env: appID.Env}
	t.Cleanup(func() { h.removeReplicas(acme) })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	writeStack := func(defaultHost string) {
		t.Helper()
		compose := fmt.Sprintf(`x-quai:
  project: %s
%s  routes:
    - service: web
      port: 8080
      tls: "off"
services:
  web:
    image: example/web:1
    expose: ["8080"]
    x-quai:
      health: { path: /healthz }
      process:
        command: [%q]
        env: { %s: web }
`, appID.Project, defaultHost, exe, appEnv)
		if err := os.WriteFile(filepath.Join(h.projDir, "compose.yaml"), []byte(compose), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func(org string) *stack.Model {
		t.Helper()
		m, err := stack.Load(ctx, stack.Options{Dir: h.projDir, Env: appID.Env, Org: org, Environ: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	get := func(host string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+h.proxy.HTTPAddr()+"/", nil)
		req.Host = host
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", host, err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", host, resp.StatusCode, b)
		}
		return string(b)
	}

	writeStack("")
	for _, org := range []string{"", "acme"} {
		if _, err := h.eng.Up(ctx, UpRequest{Model: load(org)}, nil); err != nil {
			t.Fatalf("up for org %q: %v", org, err)
		}
	}
	for _, host := range []string{"app.test.localhost", "app.test.acme.localhost"} {
		if body := get(host); body != "web " {
			t.Errorf("%s answered %q, want the web app", host, body)
		}
	}
	if err := h.eng.Remove(ctx, acme.Name(), false, nil); err != nil {
		t.Fatal(err)
	}

	// A default_host without {org}: both orgs want app.test.localhost.
	writeStack("  default_host: \"{project}.{env}.localhost\"\n")
	m := load("acme")
	p, err := h.eng.Plan(ctx, m, "")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Refused() || !strings.Contains(p.Text, "route conflict: app.test.localhost/ is already served by instance app-test") {
		t.Errorf("plan of the second org does not show the conflict:\n%s", p.Text)
	}
	_, err = h.eng.Up(ctx, UpRequest{Model: m}, nil)
	if !errors.Is(err, ErrRouteConflict) || !strings.HasPrefix(err.Error(), acme.Name()+": route conflict") ||
		!strings.Contains(err.Error(), "already served by instance "+appID.Name()) {
		t.Fatalf("up of the second org: %v; want a route conflict of %s with %s", err, acme.Name(), appID.Name())
	}
	if _, err := h.store.Instance(ctx, acme.Name()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused up left instance %s behind: %v", acme.Name(), err)
	}
	if hs, _ := h.rt.List(ctx, acme); len(hs) != 0 {
		t.Errorf("the refused up started replicas %v", hs)
	}
	if body := get("app.test.localhost"); body != "web " {
		t.Errorf("the first org's instance answers %q after the refused up", body)
	}
}

// hasFinding reports whether a plan's text lists a runtime finding.
func hasFinding(text, verdict, service, setting string) bool {
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[0] == verdict && f[1] == service && f[2] == setting {
			return true
		}
	}
	return false
}
