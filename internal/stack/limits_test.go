package stack

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestLimits: each limit refuses what is over it at the line asking for it,
// names the limit and the variable that raises it; the variable raises it.
func TestLimits(t *testing.T) {
	big := strings.Repeat("A", 2000)
	tests := []struct {
		name   string
		limits Limits
		files  map[string]string
		want   string
	}{
		{"stack file", Limits{StackFileBytes: 1000}, map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n# " + big + "\n",
		}, "compose.yaml: the file is too large: 2042 is over the limit of 1000 bytes per stack file (hint: lower it, or raise the limit by setting QUAI_MAX_STACK_FILE_BYTES=2042"},
		{"overlay", Limits{StackFileBytes: 1000}, map[string]string{
			"compose.yaml":  "services:\n  web:\n    image: nginx:1.27\n",
			"envs/dev.yaml": "# " + big + "\n",
		}, "envs/dev.yaml: the file is too large: 2003 is over the limit of 1000 bytes per stack file"},
		{"env file", Limits{EnvFileBytes: 1000}, map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    env_file: [app.env]\n",
			"app.env":      "A=" + big + "\n",
		}, "compose.yaml:4:16: services.web.env_file.0: env file app.env is too large: 2003 is over the limit of 1000 bytes per env file (hint: lower it, or raise the limit by setting QUAI_MAX_ENV_FILE_BYTES=2003"},
		{"dot env", Limits{EnvFileBytes: 1000}, map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n",
			".env":         "A=" + big + "\n",
		}, ".env: .env file .env is too large"},
		{"secret file", Limits{FileBytes: 1000}, map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    secrets: [key]\nsecrets:\n  key:\n    file: key.txt\n",
			"key.txt":      big,
		}, "compose.yaml:7:5: secrets.key.file: secret file key.txt is too large: 2000 is over the limit of 1000 bytes per secret, config or TLS file"},
		{"tls cert", Limits{FileBytes: 1000}, map[string]string{
			"compose.yaml": "x-quai:\n  routes:\n    - {service: web, port: 80, tls: custom, cert: site.pem, key: site.key}\n" + routedWeb,
			"site.pem":     big,
			"site.key":     "key",
		}, "compose.yaml:3:45: x-quai.routes.0.cert: TLS cert file site.pem is too large"},
		{"replicas", Limits{Replicas: 3}, map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    x-quai:\n      replicas: 4\n",
		}, "compose.yaml:5:7: services.web.x-quai.replicas: too many replicas: 4 is over the limit of 3 replicas per service (hint: lower it, or raise the limit by setting QUAI_MAX_REPLICAS=4"},
		{"services", Limits{Services: 1}, map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n  worker:\n    image: nginx:1.27\n",
		}, "compose.yaml:1:1: services: the stack has too many services: 2 is over the limit of 1 services per stack"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, tc.files)
			_, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}, Limits: tc.limits})
			var le *LoadError
			if !errors.As(err, &le) || len(le.Diagnostics) != 1 || !strings.HasPrefix(le.Diagnostics[0].String(), tc.want) {
				t.Fatalf("got  %v\nwant %s...", err, tc.want)
			}
		})
	}
}

func TestLimitsFromEnvironment(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    deploy:\n      replicas: 150\n"})
	load := func() error {
		_, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
		return err
	}
	if err := load(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "over the limit of 100 replicas per service") {
		t.Fatalf("default limit: got %v", err)
	}
	t.Setenv("QUAI_MAX_REPLICAS", "150")
	if err := load(); err != nil {
		t.Fatalf("QUAI_MAX_REPLICAS=150: %v", err)
	}
	t.Setenv("QUAI_MAX_REPLICAS", "lots")
	if err := load(); !errors.Is(err, ErrLimitSetting) || !strings.Contains(err.Error(), "QUAI_MAX_REPLICAS") {
		t.Fatalf("QUAI_MAX_REPLICAS=lots: got %v", err)
	}
}

func TestCheckLimits(t *testing.T) {
	m := &Model{Identity: Identity{Org: DefaultOrg, Project: "shop", Env: "dev"}, Services: []*Service{{Name: "web", Replicas: 100}}}
	if err := m.CheckLimits(Limits{}); err != nil {
		t.Fatalf("100 replicas: %v", err)
	}
	m.Services[0].Replicas = 1_000_000
	if err := m.CheckLimits(Limits{}); !errors.Is(err, ErrOverLimit) || !strings.Contains(err.Error(), "service web: 1000000 is over the limit of 100 replicas per service") {
		t.Fatalf("1000000 replicas: %v", err)
	}
	if err := m.CheckLimits(Limits{Replicas: 1_000_000}); err != nil {
		t.Fatalf("raised limit: %v", err)
	}
	m.Services = append(m.Services, &Service{Name: "worker"})
	if err := m.CheckLimits(Limits{Replicas: 1_000_000, Services: 1}); !errors.Is(err, ErrOverLimit) {
		t.Fatalf("2 services over a limit of 1: %v", err)
	}
}
