package render

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/stack"
)

// handModel is a stack model built by hand (no loader): a routed proxy with
// a project file bind-mounted, an API depending on a database, a database
// with a private volume and a secret, and a worker sharing a volume.
func handModel(t testing.TB) *stack.Model {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "proxy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "proxy", "nginx.conf"), []byte("events {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &stack.Model{
		Identity: stack.Identity{Org: "acme", Project: "shop", Env: "prod"},
		Dir:      dir,
		Files:    []string{"compose.yaml"},
		Services: []*stack.Service{
			{
				Name: "api", Image: "ghcr.io/acme/shop-api:1.0",
				Environment: map[string]string{"DATABASE_URL": "postgres://shop:pw@db:5432/shop", "LOG_LEVEL": "info"},
				Expose:      []int{8000},
				DependsOn:   []stack.Dependency{{Service: "db", Condition: stack.ConditionHealthy}},
				Healthcheck: &stack.Healthcheck{Test: []string{"CMD", "/app", "healthcheck"}, Interval: 15 * time.Second, Timeout: 3 * time.Second, Retries: 3},
				User:        "65532:65532", ReadOnly: true, CapDrop: []string{"ALL"},
				Replicas: 2, Size: "small", Resources: stack.Resources{MilliCPU: 500, MemoryBytes: 512 << 20},
				HealthPath: "/healthz", Hash: "a1b2c3",
				Mounts: []stack.Mount{{Type: stack.MountVolume, Source: "uploads", Target: "/data/uploads"}},
			},
			{
				Name: "db", Image: "postgres:16",
				Environment: map[string]string{"POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"},
				Expose:      []int{5432},
				Secrets:     []string{"db_password"},
				Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "pgdata", Target: "/var/lib/postgresql/data"}},
				Healthcheck: &stack.Healthcheck{Test: []string{"CMD-SHELL", "pg_isready -U shop"}, Interval: 5 * time.Second, StartPeriod: 20 * time.Second},
				Replicas:    1, Resources: stack.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30}, Hash: "d4e5f6",
			},
			{
				Name: "proxy", Image: "nginx:1.27",
				Ports:     []stack.Port{{Target: 8080, Protocol: "tcp"}},
				Mounts:    []stack.Mount{{Type: stack.MountBind, Source: filepath.Join(dir, "proxy", "nginx.conf"), Target: "/etc/nginx/nginx.conf", ReadOnly: true}, {Type: stack.MountTmpfs, Target: "/var/cache/nginx"}},
				DependsOn: []stack.Dependency{{Service: "api", Condition: stack.ConditionStarted}},
				ReadOnly:  true, Replicas: 3, HealthPath: "/nginx-health", Hash: "0718aa",
			},
			{
				Name: "worker", Image: "ghcr.io/acme/shop-api:1.0", Command: []string{"worker"},
				Mounts:    []stack.Mount{{Type: stack.MountVolume, Source: "uploads", Target: "/data/uploads", ReadOnly: true}},
				DependsOn: []stack.Dependency{{Service: "db", Condition: stack.ConditionHealthy}},
				CapAdd:    []string{"CAP_NET_BIND_SERVICE"}, Replicas: 1,
			},
		},
		Routes: []stack.Route{
			{Host: "shop.acme.example", Path: "/", Service: "proxy", Port: 8080, TLS: stack.TLSAuto},
			{Host: "shop.acme.example", Path: "/api", Service: "api", Port: 8000, TLS: stack.TLSCustom, CertFile: filepath.Join(dir, "certs/site.pem"), KeyFile: filepath.Join(dir, "certs/site.key")},
			{Host: "shop.prod.acme.localhost", Path: "/", Service: "proxy", Port: 8080, TLS: stack.TLSOff},
		},
		Volumes: []stack.Volume{{Name: "pgdata"}, {Name: "uploads"}},
		Secrets: []stack.Secret{{Name: "db_password", File: filepath.Join(dir, "secrets/db_password.txt")}},
		Resolved: []byte(`name: shop
services:
  api:
    image: ghcr.io/acme/shop-api:1.0
    labels:
      team: core
  db:
    image: postgres:16
x-quai:
  project: shop
`),
	}
}
