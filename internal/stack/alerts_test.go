package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAlerts: x-quai.alerts is decoded with each rule's threshold in its
// unit, an overlay changes it per environment, and mistakes are errors at
// their file and line.
func TestAlerts(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml": "services:\n  api:\n    image: ghcr.io/example/api:1.0\nx-quai:\n  alerts:\n    repeat: 1h\n    channels: [ops]\n" +
			"    rules:\n      error_rate: { threshold: 2%, window: 10m, min_requests: 100 }\n      latency: { threshold: 800ms }\n" +
			"      restart_loop: { threshold: 5 }\n      cert_expiry: { threshold: 21d, severity: critical }\n      deploy_failed: off\n",
		"envs/prod.yaml": "x-quai:\n  alerts:\n    rules:\n      unhealthy: { for: 5m }\n",
		"envs/bad.yaml":  "x-quai:\n  alerts:\n    repaet: 1h\n    rules:\n      crashh: off\n      disk: { threshold: 120% }\n      latency: { threshold: fast }\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Load(context.Background(), Options{Dir: dir, Env: "prod", Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	a := m.Alerts
	if a == nil || a.Repeat != time.Hour || len(a.Channels) != 1 || a.Channels[0] != "ops" {
		t.Fatalf("alerts %+v", a)
	}
	r := a.Rules
	if r["error_rate"].Threshold != 0.02 || r["error_rate"].Window != 10*time.Minute || r["error_rate"].MinRequests != 100 ||
		r["latency"].Threshold != 0.8 || r["restart_loop"].Threshold != 5 || r["cert_expiry"].Threshold != 21 ||
		r["cert_expiry"].Severity != "critical" || r["deploy_failed"].Enabled == nil || *r["deploy_failed"].Enabled ||
		r["unhealthy"].For != 5*time.Minute {
		t.Errorf("rules %+v", r)
	}
	_, err = Load(context.Background(), Options{Dir: dir, Env: "bad", Environ: map[string]string{}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad overlay: %v", err)
	}
	for _, want := range []string{
		`envs/bad.yaml:3:5: x-quai.alerts.repaet: unknown key "repaet"`,
		`envs/bad.yaml:5:7: x-quai.alerts.rules.crashh: unknown alert rule "crashh"`,
		`x-quai.alerts.rules.disk.threshold: invalid alert threshold "120%" for disk`,
		`x-quai.alerts.rules.latency.threshold: invalid alert threshold "fast" for latency`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestDecodeAlerts(t *testing.T) {
	a, err := DecodeAlerts("alerts.yaml", map[string]any{"rules": map[string]any{"disk": map[string]any{"threshold": "85%"}}})
	if err != nil || a.Rules["disk"].Threshold != 0.85 {
		t.Fatalf("%+v %v", a, err)
	}
	if _, err := DecodeAlerts("alerts.yaml", map[string]any{"rules": map[string]any{"disk": map[string]any{"treshold": "85%"}}}); err == nil {
		t.Fatal("an unknown key passed")
	}
}
