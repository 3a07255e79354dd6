package stack

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/quai-dev/quai/internal/goldentest"
)

const fixtures = "../../testdata/stacks"

func load(t testing.TB, name, env, org string, environ map[string]string) *Model {
	t.Helper()
	if environ == nil {
		environ = map[string]string{}
	}
	m, err := Load(context.Background(), Options{Dir: filepath.Join(fixtures, name), Env: env, Org: org, Environ: environ})
	if err != nil {
		t.Fatalf("load %s (env %q, org %q): %v", name, env, org, err)
	}
	return m
}

// fixtureCases are the fixture loads with golden files.
var fixtureCases = []struct{ name, env, org string }{
	{"django", "", ""},
	{"users-api", "dev", ""},
	{"users-api", "staging", ""},
	{"users-api", "prod", ""},
	{"users-api", "dev", "acme"},
	{"users-api", "prod", "acme"},
	{"users-api", "prod", "globex"},
	{"wordpress", "", ""},
	{"nextcloud", "", ""},
	{"odoo", "", ""},
	{"syncthing", "", ""},
	{"plain-compose", "", ""},
}

func caseName(name, env, org string) string {
	n := name
	if env != "" {
		n += "-" + env
	}
	if org != "" {
		n += "-" + org
	}
	return n
}

// TestFixtureGolden pins the resolved Compose document and the model of
// every fixture: a change in either is a change users and renderers see.
func TestFixtureGolden(t *testing.T) {
	for _, c := range fixtureCases {
		t.Run(caseName(c.name, c.env, c.org), func(t *testing.T) {
			m := load(t, c.name, c.env, c.org, nil)
			resolved := bytes.ReplaceAll(m.Resolved, []byte(m.Dir), []byte("<dir>"))
			goldentest.Check(t, filepath.Join("testdata", "config", caseName(c.name, c.env, c.org)+".golden"), resolved)

			model, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			model = bytes.ReplaceAll(model, []byte(m.Dir), []byte("<dir>"))
			goldentest.Check(t, filepath.Join("testdata", "model", caseName(c.name, c.env, c.org)+".golden"), append(model, '\n'))
		})
	}
}

// TestComposeParity loads projects the way `docker compose config` does —
// from inside the project directory, with the process environment, the
// same compose-go options in the same order — and checks that quai
// resolves them to the very same document.
func TestComposeParity(t *testing.T) {
	for _, name := range []string{"plain-compose", "wordpress", "nextcloud", "odoo", "syncthing", "django"} {
		t.Run(name, func(t *testing.T) {
			dir, err := filepath.Abs(filepath.Join(fixtures, name))
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("WEB_PORT", "9000")         // process environment wins over defaults
			t.Setenv("REDIS_VERSION", "7.2")     // ... and over .env
			t.Setenv("COMPOSE_PROFILES", "")     // no profile selected
			t.Setenv("COMPOSE_PROJECT_NAME", "") // name from the files or the directory
			t.Chdir(dir)

			opts, err := cli.NewProjectOptions(nil,
				// docker compose's config command
				cli.WithInterpolation(true),
				cli.WithResolvedPaths(true),
				cli.WithNormalization(true),
				cli.WithConsistency(true),
				cli.WithDefaultProfiles(),
				cli.WithDiscardEnvFile,
				// docker compose's project options
				cli.WithWorkingDirectory(""),
				cli.WithOsEnv,
				cli.WithEnvFiles(),
				cli.WithDotEnv,
				cli.WithConfigFileEnv,
				cli.WithDefaultConfigPath,
				cli.WithEnvFiles(),
				cli.WithDotEnv,
				cli.WithDefaultProfiles(),
				cli.WithName(""),
			)
			if err != nil {
				t.Fatal(err)
			}
			p, err := opts.LoadProject(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want, err := p.WithoutUnnecessaryResources().MarshalYAML()
			if err != nil {
				t.Fatal(err)
			}

			m, err := Load(context.Background(), Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Resolved, want) {
				t.Errorf("resolved config differs from docker compose's:\n--- quai\n%s\n--- compose\n%s", m.Resolved, want)
			}
			if name == "plain-compose" && !bytes.Contains(m.Resolved, []byte(`published: "9000"`)) {
				t.Errorf("WEB_PORT from the environment was not used:\n%s", m.Resolved)
			}
			if name == "plain-compose" && !bytes.Contains(m.Resolved, []byte("image: redis:7.2-alpine")) {
				t.Errorf("the environment should win over .env for REDIS_VERSION:\n%s", m.Resolved)
			}
		})
	}
}

func TestOverlays(t *testing.T) {
	tests := []struct {
		env, org  string
		files     []string
		replicas  map[string]int
		sizes     map[string]string
		apiEnv    map[string]string // expected values; "" means absent
		routes    []string
		retention Retention
	}{
		{
			env: "dev", files: []string{"compose.yaml", "envs/dev.yaml"},
			replicas:  map[string]int{"api": 1, "proxy": 1, "frontend": 1, "db": 1},
			sizes:     map[string]string{"api": "small", "db": "small", "proxy": "tiny"},
			apiEnv:    map[string]string{"LOG_LEVEL": "debug", "TENANT": ""},
			routes:    []string{"users-api.dev.default.localhost/ -> proxy:8080"},
			retention: Retention{KeepLast: 3},
		},
		{
			env: "staging", files: []string{"compose.yaml", "envs/staging.yaml"},
			replicas:  map[string]int{"api": 2, "proxy": 2},
			apiEnv:    map[string]string{"LOG_LEVEL": "info"},
			routes:    []string{"users.staging.example.com/ -> proxy:8080"},
			retention: Retention{KeepLast: 7, KeepDaily: 7},
		},
		{
			env: "prod", files: []string{"compose.yaml", "envs/prod.yaml"},
			replicas:  map[string]int{"api": 4, "proxy": 3, "frontend": 2},
			sizes:     map[string]string{"api": "medium", "db": "large"},
			apiEnv:    map[string]string{"LOG_LEVEL": "warn", "TENANT": ""},
			routes:    []string{"users.example.com/ -> proxy:8080"},
			retention: Retention{KeepLast: 14, KeepDaily: 14, KeepWeekly: 8, KeepMonthly: 12},
		},
		{
			env: "dev", org: "acme", files: []string{"compose.yaml", "envs/dev.yaml", "orgs/acme/common.yaml"},
			replicas: map[string]int{"api": 1},
			apiEnv:   map[string]string{"LOG_LEVEL": "debug", "TENANT": "acme"},
			routes:   []string{"users-api.dev.acme.localhost/ -> proxy:8080"},
		},
		{
			// org overlays come last: acme's prod.yaml beats envs/prod.yaml
			env: "prod", org: "acme", files: []string{"compose.yaml", "envs/prod.yaml", "orgs/acme/common.yaml", "orgs/acme/prod.yaml"},
			replicas: map[string]int{"api": 6, "proxy": 3},
			apiEnv:   map[string]string{"LOG_LEVEL": "warn", "TENANT": "acme", "AUTH_ISSUER": "https://login.acme.example/realms/staff"},
			routes:   []string{"users.acme.example/ -> proxy:8080", "users.acme.example/api -> api:8000"},
		},
		{
			env: "prod", org: "globex", files: []string{"compose.yaml", "envs/prod.yaml", "orgs/globex/prod.yaml"},
			replicas:  map[string]int{"api": 4},
			sizes:     map[string]string{"db": "xlarge"},
			apiEnv:    map[string]string{"TENANT": "globex"},
			routes:    []string{"users.globex.example/ -> proxy:8080"},
			retention: Retention{KeepLast: 14, KeepDaily: 14, KeepWeekly: 8, KeepMonthly: 12},
		},
	}
	for _, tt := range tests {
		t.Run(caseName("users-api", tt.env, tt.org), func(t *testing.T) {
			m := load(t, "users-api", tt.env, tt.org, nil)
			if got := strings.Join(m.Files, ","); got != strings.Join(tt.files, ",") {
				t.Errorf("files = %s, want %s", got, strings.Join(tt.files, ","))
			}
			wantOrg := cmp.Or(tt.org, DefaultOrg)
			if m.Identity != (Identity{Org: wantOrg, Project: "users-api", Env: tt.env}) {
				t.Errorf("identity = %+v", m.Identity)
			}
			for svc, n := range tt.replicas {
				if got := m.Service(svc).Replicas; got != n {
					t.Errorf("%s replicas = %d, want %d", svc, got, n)
				}
			}
			for svc, size := range tt.sizes {
				if got := m.Service(svc).Size; got != size {
					t.Errorf("%s size = %q, want %q", svc, got, size)
				}
			}
			for k, v := range tt.apiEnv {
				if got := m.Service("api").Environment[k]; got != v {
					t.Errorf("api %s = %q, want %q", k, got, v)
				}
			}
			var routes []string
			for _, r := range m.Routes {
				routes = append(routes, fmt.Sprintf("%s%s -> %s:%d", r.Host, r.Path, r.Service, r.Port))
			}
			if strings.Join(routes, "\n") != strings.Join(tt.routes, "\n") {
				t.Errorf("routes =\n%s\nwant\n%s", strings.Join(routes, "\n"), strings.Join(tt.routes, "\n"))
			}
			if tt.retention != (Retention{}) {
				if got := m.Service("db").Backup.Retention; got != tt.retention {
					t.Errorf("db retention = %+v, want %+v", got, tt.retention)
				}
			}
		})
	}
}

func TestInterpolation(t *testing.T) {
	tests := []struct {
		name, key string
		environ   map[string]string
		want      string
	}{
		{"from .env", "DATABASE_URL", nil, "postgres://users:users-dev-password@db:5432/users?sslmode=disable"},
		{"environment beats .env", "DATABASE_URL", map[string]string{"DB_PASSWORD": "s3cret"}, "postgres://users:s3cret@db:5432/users?sslmode=disable"},
		{"overlay value beats interpolated default", "LOG_LEVEL", map[string]string{"LOG_LEVEL": "trace"}, "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, "users-api", "prod", "", tt.environ)
			if got := m.Service("api").Environment[tt.key]; got != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	t.Run("default when unset", func(t *testing.T) {
		m := load(t, "django", "", "", nil)
		if got := m.Service("web").Image; got != "registry.example.com/blog/web:1.8.3" {
			t.Errorf("image = %q", got)
		}
		m = load(t, "django", "", "", map[string]string{"WEB_TAG": "2.0.0"})
		if got := m.Service("web").Image; got != "registry.example.com/blog/web:2.0.0" {
			t.Errorf("image with WEB_TAG = %q", got)
		}
	})
	t.Run("escaped dollar stays literal", func(t *testing.T) {
		m := load(t, "django", "", "", nil)
		cmd := strings.Join(m.Service("web").Process.Command, " ")
		if !strings.Contains(cmd, "127.0.0.1:$PORT") {
			t.Errorf("process command = %q, want the literal $PORT", cmd)
		}
	})
}

// lineOf finds where text first appears in a fixture file, 1-based.
func lineOf(t *testing.T, file, text string) Position {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if c := strings.Index(line, text); c >= 0 {
			return Position{Line: i + 1, Column: c + 1}
		}
	}
	t.Fatalf("%q not in %s", text, file)
	return Position{}
}

func TestPositions(t *testing.T) {
	m := load(t, "users-api", "prod", "acme", nil)
	dir := filepath.Join(fixtures, "users-api")
	tests := []struct {
		path, file, text string
	}{
		{"services.db.image", "compose.yaml", "image: postgres"},
		{"services.api.x-quai.replicas", "orgs/acme/prod.yaml", "replicas: 6"},
		{"services.api.x-quai.size", "envs/prod.yaml", "size: medium"},
		{"services.api.image", "envs/prod.yaml", "image: ghcr.io/example/users-api:2.3.0"},
		{"services.api.environment.TENANT", "orgs/acme/common.yaml", "TENANT: acme"},
		{"x-quai.routes.1.host", "orgs/acme/prod.yaml", "- host: users.acme.example\n"},
		{"services.db.x-quai.backup.retention.keep_monthly", "envs/prod.yaml", "keep_monthly: 12"},
		// an unknown key falls back to its nearest known ancestor, as the
		// file that last set it wrote it
		{"services.proxy.privileged", "envs/prod.yaml", "proxy:"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			text := strings.TrimSuffix(tt.text, "\n")
			want := lineOf(t, filepath.Join(dir, tt.file), text)
			if strings.HasPrefix(text, "- ") {
				// the second route in the file: its host key
				b, _ := os.ReadFile(filepath.Join(dir, tt.file))
				first := strings.Index(string(b), text)
				second := first + 1 + strings.Index(string(b)[first+1:], text)
				want.Line = strings.Count(string(b)[:second], "\n") + 1
				want.Column += 2
			}
			want.File = tt.file
			if got := m.Pos(tt.path); got != want {
				t.Errorf("Pos(%s) = %s, want %s", tt.path, got, want)
			}
		})
	}
	if r := m.Routes[1]; r.Pos.File != "orgs/acme/prod.yaml" {
		t.Errorf("route %s%s declared at %s, want orgs/acme/prod.yaml", r.Host, r.Path, r.Pos)
	}
}

func TestPositionsListForms(t *testing.T) {
	m := load(t, "plain-compose", "", "", nil)
	dir := filepath.Join(fixtures, "plain-compose")
	want := lineOf(t, filepath.Join(dir, "compose.yaml"), "- REDIS_URL=")
	want.Column += 2
	want.File = "compose.yaml"
	if got := m.Pos("services.web.environment.REDIS_URL"); got != want {
		t.Errorf("KEY=VALUE list item: Pos = %s, want %s", got, want)
	}
}

func TestHash(t *testing.T) {
	dev := load(t, "users-api", "dev", "", nil)
	staging := load(t, "users-api", "staging", "", nil)
	prod := load(t, "users-api", "prod", "", nil)

	if again := load(t, "users-api", "dev", "", nil); again.Service("api").Hash != dev.Service("api").Hash {
		t.Error("hash changed between two loads of the same files")
	}
	if d, s := dev.Service("proxy"), staging.Service("proxy"); d.Replicas == s.Replicas || d.Hash != s.Hash {
		t.Errorf("proxy: replicas %d vs %d, hash %s vs %s: only the replica count differs, the hash must not", d.Replicas, s.Replicas, d.Hash, s.Hash)
	}
	if dev.Service("api").Hash == prod.Service("api").Hash {
		t.Error("api: LOG_LEVEL and size differ between dev and prod, the hash must too")
	}
	if dev.Service("db").Hash == prod.Service("db").Hash {
		t.Error("db: size differs between dev and prod, the hash must too")
	}
	if changed := load(t, "users-api", "dev", "", map[string]string{"DB_PASSWORD": "rotated"}); changed.Service("api").Hash == dev.Service("api").Hash {
		t.Error("api: DATABASE_URL changed, the hash must too")
	}
	for _, s := range dev.Services {
		if len(s.Hash) != 12 || strings.Trim(s.Hash, "0123456789abcdef") != "" {
			t.Errorf("%s: hash %q is not 12 hex digits", s.Name, s.Hash)
		}
	}

	// A copy of the project elsewhere hashes the same: project paths are
	// hashed relative to the project directory.
	tmp := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.CopyFS(tmp, os.DirFS(filepath.Join(fixtures, "users-api"))); err != nil {
		t.Fatal(err)
	}
	moved, err := Load(context.Background(), Options{Dir: tmp, Env: "dev", Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range dev.Services {
		if got := moved.Service(s.Name).Hash; got != s.Hash {
			t.Errorf("%s: hash %s after moving the project, was %s", s.Name, got, s.Hash)
		}
	}
}

func TestIdentity(t *testing.T) {
	tests := []struct{ fixture, project string }{
		{"django", "blog"},                 // x-quai.project
		{"wordpress", "wordpress"},         // compose name:
		{"plain-compose", "plain-compose"}, // directory name
		{"nextcloud", "cloud"},
	}
	for _, tt := range tests {
		if got := load(t, tt.fixture, "", "", nil).Identity; got.Project != tt.project || got.Env != DefaultEnv || got.Org != DefaultOrg {
			t.Errorf("%s: identity %+v, want project %q in %s/%s", tt.fixture, got, tt.project, DefaultOrg, DefaultEnv)
		}
	}
}

func TestEnvironments(t *testing.T) {
	// Without envs/, every environment is the base stack.
	if m := load(t, "django", "qa", "", nil); m.Identity.Env != "qa" || len(m.Files) != 1 {
		t.Errorf("django qa: %+v %v", m.Identity, m.Files)
	}
	// With envs/, an environment must be declared.
	_, err := Load(context.Background(), Options{Dir: filepath.Join(fixtures, "users-api"), Env: "prd", Environ: map[string]string{}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `did you mean "prod"?`) {
		t.Errorf("unknown env: %v", err)
	}
	// An empty overlay declares an environment that changes nothing.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(fixtures, "users-api"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "envs", "qa.yaml"), []byte("# same as the base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(context.Background(), Options{Dir: dir, Env: "qa", Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Files, ",") != "compose.yaml,envs/qa.yaml" || m.Service("api").Replicas != 2 {
		t.Errorf("empty overlay: files %v, api replicas %d", m.Files, m.Service("api").Replicas)
	}
}

func TestModelDefaults(t *testing.T) {
	m := load(t, "plain-compose", "", "", nil)
	web := m.Service("web")
	if web.Replicas != 2 {
		t.Errorf("deploy.replicas should give 2 replicas, got %d", web.Replicas)
	}
	if web.Resources != (Resources{MilliCPU: 500, MemoryBytes: 256 << 20}) {
		t.Errorf("deploy limits: %+v", web.Resources)
	}
	if web.Image != "counter-web:1.0.4" || web.Build == nil || !filepath.IsAbs(web.Build.Context) {
		t.Errorf("image %q build %+v", web.Image, web.Build)
	}
	if _, ok := web.Environment["GREETING"]; ok {
		t.Errorf("an unset pass-through variable must not appear: %v", web.Environment)
	}
	if len(m.Routes) != 0 || web.Size != "" {
		t.Errorf("a plain Compose project has no routes and no size: %v %q", m.Routes, web.Size)
	}
	// sorted, deterministic
	if m.Services[0].Name != "redis" || m.Services[1].Name != "web" {
		t.Errorf("services not sorted: %s, %s", m.Services[0].Name, m.Services[1].Name)
	}
	odoo := load(t, "odoo", "", "", nil).Service("odoo")
	if odoo.Resources != (Resources{MilliCPU: 2000, MemoryBytes: 2 << 30}) || odoo.Size != "" {
		t.Errorf("odoo resources %+v size %q", odoo.Resources, odoo.Size)
	}
	if b := odoo.Backup; b == nil || b.Kind != BackupFiles || b.Retention.KeepDaily != 7 {
		t.Errorf("odoo backup %+v", b)
	}
	nc := load(t, "nextcloud", "", "", nil)
	if r := nc.Routes; len(r) != 1 || r[0].Host != "cloud.default.example.net" || r[0].TLS != TLSAuto || r[0].Path != "/" {
		t.Errorf("nextcloud routes %+v", r)
	}
	if b := nc.Service("mariadb").Backup; b == nil || b.Retention != (Retention{KeepLast: 14, KeepWeekly: 4}) {
		t.Errorf("mariadb backup %+v", b)
	}
	if b := load(t, "users-api", "dev", "", nil).Service("db").Backup; b.Schedule != "@daily" {
		t.Errorf("db backup %+v", b)
	}
}

// TestStopGracePeriod: stop_grace_period reaches the model, and changing it
// does not change the hash (the grace is given when a replica stops, it
// needs no new replica).
func TestStopGracePeriod(t *testing.T) {
	dir := t.TempDir()
	write := func(grace string) *Model {
		t.Helper()
		doc := "services:\n  web:\n    image: nginx:1.27\n"
		if grace != "" {
			doc += "    stop_grace_period: " + grace + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	none, short, long := write(""), write("1500ms"), write("1m")
	if got := short.Service("web").StopGracePeriod; got != 1500*time.Millisecond {
		t.Errorf("stop_grace_period 1500ms loaded as %s", got)
	}
	if got := long.Service("web").StopGracePeriod; got != time.Minute {
		t.Errorf("stop_grace_period 1m loaded as %s", got)
	}
	if got := none.Service("web").StopGracePeriod; got != 0 {
		t.Errorf("no stop_grace_period loaded as %s, want 0 (the runtime's default)", got)
	}
	if none.Service("web").Hash != short.Service("web").Hash || short.Service("web").Hash != long.Service("web").Hash {
		t.Errorf("hashes %s, %s, %s: the stop grace period must not change the hash",
			none.Service("web").Hash, short.Service("web").Hash, long.Service("web").Hash)
	}
}

// TestStopFirst: deploy.update_config.order reaches the model, and changing
// it does not change the hash (it says how replicas are replaced, not what
// they run).
func TestStopFirst(t *testing.T) {
	dir := t.TempDir()
	load := func(order string) *Model {
		t.Helper()
		doc := "services:\n  web:\n    image: nginx:1.27\n"
		if order != "" {
			doc += "    deploy:\n      update_config:\n        order: " + order + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	none, start, stop := load(""), load("start-first"), load("stop-first")
	if none.Service("web").StopFirst || start.Service("web").StopFirst || !stop.Service("web").StopFirst {
		t.Errorf("StopFirst: none %v, start-first %v, stop-first %v; want false, false, true",
			none.Service("web").StopFirst, start.Service("web").StopFirst, stop.Service("web").StopFirst)
	}
	if none.Service("web").Hash != stop.Service("web").Hash {
		t.Errorf("hashes %s, %s: the update order must not change the hash", none.Service("web").Hash, stop.Service("web").Hash)
	}
}

// TestServedPort: replicas serve the port their route names, even when the
// service declares another port first; a service routed at its first port
// records nothing (its model and hash are what they were before).
func TestServedPort(t *testing.T) {
	dir := t.TempDir()
	load := func(routePort string) *Service {
		t.Helper()
		doc := "x-quai:\n  routes:\n    - host: a.localhost\n      service: app\n      port: " + routePort + "\n" +
			"services:\n  app:\n    image: nginx:1.27\n    ports: [\"22000:22000\"]\n    expose: [\"8384\"]\n"
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		return m.Service("app")
	}
	gui, first := load("8384"), load("22000")
	if gui.ServedPort() != 8384 || gui.RoutedPort != 8384 {
		t.Errorf("routed at 8384: served port %d, routed port %d; want 8384, 8384", gui.ServedPort(), gui.RoutedPort)
	}
	if first.ServedPort() != 22000 || first.RoutedPort != 0 {
		t.Errorf("routed at its first port 22000: served port %d, routed port %d; want 22000, 0", first.ServedPort(), first.RoutedPort)
	}
	if gui.Hash == first.Hash {
		t.Errorf("the served port changed but the hash did not (%s)", gui.Hash)
	}
}

func TestNoComposeFile(t *testing.T) {
	_, err := Load(context.Background(), Options{Dir: t.TempDir()})
	if !errors.Is(err, ErrNoComposeFile) {
		t.Errorf("err = %v, want ErrNoComposeFile", err)
	}
	_, err = Load(context.Background(), Options{Dir: filepath.Join(t.TempDir(), "missing")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
}

func TestResolvedJSON(t *testing.T) {
	m := load(t, "users-api", "prod", "acme", nil)
	b, err := m.ResolvedJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name     string                     `json:"name"`
		Services map[string]json.RawMessage `json:"services"`
		XQuai    map[string]any             `json:"x-quai"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Name != "users-api" || len(doc.Services) != 4 || doc.XQuai["routes"] == nil {
		t.Errorf("json document: name %q, %d services, x-quai %v", doc.Name, len(doc.Services), doc.XQuai)
	}
}

// BenchmarkLoad loads the largest fixture with all its overlays.
func BenchmarkLoad(b *testing.B) {
	load(b, "users-api", "prod", "acme", nil) // compile the Compose schema once
	b.ResetTimer()
	for b.Loop() {
		load(b, "users-api", "prod", "acme", nil)
	}
}

// BenchmarkLoadSingleFile loads a fixture without overlays.
func BenchmarkLoadSingleFile(b *testing.B) {
	load(b, "nextcloud", "", "", nil)
	b.ResetTimer()
	for b.Loop() {
		load(b, "nextcloud", "", "", nil)
	}
}
