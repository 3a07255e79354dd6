package stack

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRegistryOverlays: x-quai.registry comes from the base, and an
// environment or organization overlay replaces it.
func TestRegistryOverlays(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml":        "services:\n  web:\n    image: nginx:1.27\nx-quai:\n  registry:\n    url: registry.example.com/team/\n",
		"envs/prod.yaml":      "x-quai:\n  registry:\n    url: prod.example.com:5000/apps\n",
		"envs/qa.yaml":        "# the base registry\n",
		"envs/dev.yaml":       "x-quai:\n  registry:\n    url: 127.0.0.1:5000\n    insecure: true\n",
		"orgs/acme/prod.yaml": "x-quai:\n  registry:\n    url: acme.example.com/prod\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		env, org, url string
		insecure      bool
	}{
		{"qa", "", "registry.example.com/team", false},
		{"prod", "", "prod.example.com:5000/apps", false},
		{"dev", "", "127.0.0.1:5000", true},
		{"prod", "acme", "acme.example.com/prod", false},
	} {
		m, err := Load(context.Background(), Options{Dir: dir, Env: tc.env, Org: tc.org, Environ: map[string]string{}})
		if err != nil {
			t.Fatalf("env %q org %q: %v", tc.env, tc.org, err)
		}
		if m.Registry == nil || m.Registry.URL != tc.url || m.Registry.Insecure != tc.insecure {
			t.Errorf("env %q org %q: registry %+v, want %s insecure=%v", tc.env, tc.org, m.Registry, tc.url, tc.insecure)
			continue
		}
		if m.Registry.Pos.IsZero() {
			t.Errorf("env %q org %q: the registry has no position", tc.env, tc.org)
		}
	}
}
