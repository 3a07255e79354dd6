package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestDefaultHostHasTheOrg: without x-quai.default_host, the default
// organization's routes keep {project}.{env}.localhost and any other
// organization's get {project}.{env}.{org}.localhost, so that two orgs of
// one project can run at once; a default_host the stack sets is kept.
func TestDefaultHostHasTheOrg(t *testing.T) {
	const base = `x-quai:
  project: shop
%s  routes:
    - service: web
      port: 8080
services:
  web:
    image: example/web:1
    expose: ["8080"]
`
	tests := []struct {
		name, pattern, org, want string
	}{
		{"default org", "", "", "shop.dev.localhost"},
		{"other org", "", "acme", "shop.dev.acme.localhost"},
		{"stack's pattern, default org", "  default_host: \"{project}.{env}.example.net\"\n", "", "shop.dev.example.net"},
		{"stack's pattern, other org", "  default_host: \"{project}.{env}.example.net\"\n", "acme", "shop.dev.example.net"},
		{"stack's pattern with the org", "  default_host: \"{org}.{project}.example.net\"\n", "acme", "acme.shop.example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(fmt.Sprintf(base, tt.pattern)), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Load(context.Background(), Options{Dir: dir, Env: "dev", Org: tt.org, Environ: map[string]string{}})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Routes) != 1 || m.Routes[0].Host != tt.want {
				t.Errorf("routes %+v, want one with host %s", m.Routes, tt.want)
			}
		})
	}
}
