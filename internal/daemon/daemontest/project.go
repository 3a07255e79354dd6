package daemontest

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// App describes a test project whose services run the runtime suite's test
// app (runtimetest.AppMain) from the test binary, so it needs no build.
type App struct {
	// Project is the project name; default "testapp".
	Project string
	// Replicas of the routed web service; default 1.
	Replicas int
	// Version is put in the service's environment (VERSION); changing it
	// changes the service's hash, so the next up replaces the replicas.
	Version string
	// Worker adds an unrouted second service.
	Worker bool
}

// AppProject writes a project for app into a new temporary directory and
// returns the directory. Its web service is routed at the default host,
// with an HTTP health check.
func AppProject(t testing.TB, app App) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	app.Project = cmp.Or(app.Project, "testapp")
	if app.Replicas == 0 {
		app.Replicas = 1
	}
	app.Version = cmp.Or(app.Version, "1")
	var b strings.Builder
	fmt.Fprintf(&b, `x-quai:
  project: %s
  routes:
    - path: /
      service: web
      port: 8080
      tls: "off"
services:
  web:
    image: quai-test-app
    environment:
      QUAI_TESTAPP: "1"
      VERSION: %q
    expose: [8080]
    x-quai:
      replicas: %d
      health: { path: /healthz }
      process:
        command: [%q]
`, app.Project, app.Version, app.Replicas, exe)
	if app.Worker {
		fmt.Fprintf(&b, `  worker:
    image: quai-test-app
    environment:
      QUAI_TESTAPP: "1"
      VERSION: %q
    x-quai:
      process:
        command: [%q]
`, app.Version, exe)
	}
	dir := filepath.Join(t.TempDir(), app.Project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
