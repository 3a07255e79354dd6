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
	// Secret, when set, is put in the web service's environment
	// (DB_PASSWORD); EnvFile, when set, is written to app.env, which the web
	// service reads with env_file.
	Secret  string
	EnvFile string
	// Metrics declares the web service's Prometheus endpoint
	// (x-quai.metrics), which the test app serves at /metrics.
	Metrics bool
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
	var envFile, secret, metrics string
	if app.Metrics {
		metrics = "\n      metrics: { path: /metrics }"
	}
	if app.EnvFile != "" {
		envFile = "\n    env_file: [app.env]"
	}
	if app.Secret != "" {
		secret = fmt.Sprintf("\n      DB_PASSWORD: %q", app.Secret)
	}
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
    image: quai-test-app%s
    environment:
      QUAI_TESTAPP: "1"
      VERSION: %q%s
    expose: [8080]
    x-quai:
      replicas: %d
      health: { path: /healthz }%s
      process:
        command: [%q]
`, app.Project, envFile, app.Version, secret, app.Replicas, metrics, exe)
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
	if app.EnvFile != "" {
		if err := os.WriteFile(filepath.Join(dir, "app.env"), []byte(app.EnvFile), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
