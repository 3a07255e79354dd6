package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeProject writes files (name → content; content "->target" makes a
// symbolic link) under a new project directory beside an "outside"
// directory holding secret.txt, and returns the project directory.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	dir := filepath.Join(root, "project")
	for _, d := range []string{outside, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("SECRET=outside\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const routedWeb = "services:\n  web:\n    image: nginx:1.27\n    expose: [\"80\"]\n"

// TestHostPathsRefused: every path a stack names that leaves the project,
// directly or through a symbolic link, is refused at the line naming it,
// before the file is read.
func TestHostPathsRefused(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		files map[string]string
		want  string // "file:line:col: key" the diagnostic starts with
	}{
		{"env file absolute", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    env_file: /etc/shadow\n",
		}, "compose.yaml:4:5: services.web.env_file.0"},
		{"env file dot-dot", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    env_file: [../outside/secret.txt]\n",
		}, "compose.yaml:4:16: services.web.env_file.0"},
		{"env file symlink", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    env_file: [app.env]\n",
			"app.env":      "->../outside/secret.txt",
		}, "compose.yaml:4:16: services.web.env_file.0"},
		{"label file", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    label_file: [../outside/secret.txt]\n",
		}, "compose.yaml:4:18: services.web.label_file.0"},
		{"dot env symlink", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n",
			".env":         "->../outside/secret.txt",
		}, ".env: .env file .env is outside the project directory"},
		{"secret file in a linked directory", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    secrets: [key]\nsecrets:\n  key:\n    file: secrets/key.txt\n",
			"secrets":      "->../outside",
		}, "compose.yaml:7:5: secrets.key.file"},
		{"config file", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    configs: [conf]\nconfigs:\n  conf:\n    file: /etc/passwd\n",
		}, "compose.yaml:7:5: configs.conf.file"},
		{"tls key", "", map[string]string{
			"compose.yaml": "x-quai:\n  routes:\n    - {service: web, port: 80, tls: custom, cert: site.pem, key: ../../etc/shadow}\n" + routedWeb,
			"site.pem":     "pem",
		}, "compose.yaml:3:61: x-quai.routes.0.key"},
		{"tls cert symlink", "", map[string]string{
			"compose.yaml": "x-quai:\n  routes:\n    - {service: web, port: 80, tls: custom, cert: site.pem, key: site.key}\n" + routedWeb,
			"site.pem":     "->/etc/passwd",
			"site.key":     "key",
		}, "compose.yaml:3:45: x-quai.routes.0.cert"},
		{"build context", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    build: ../outside\n",
		}, "compose.yaml:3:5: services.web.build.context"},
		{"dockerfile", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    build:\n      context: .\n      dockerfile: ../outside/secret.txt\n",
		}, "compose.yaml:5:7: services.web.build.dockerfile"},
		{"additional context", "", map[string]string{
			"compose.yaml": "services:\n  web:\n    build:\n      context: .\n      additional_contexts:\n        etc: /etc\n",
		}, "compose.yaml:6:9: services.web.build.additional_contexts.etc"},
		{"bind mount outside dev", "prod", map[string]string{
			"compose.yaml":   "services:\n  web:\n    image: nginx:1.27\n    volumes: [\"/etc:/host-etc:ro\"]\n",
			"envs/prod.yaml": "",
		}, "compose.yaml:4:15: services.web.volumes.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, tc.files)
			_, err := Load(context.Background(), Options{Dir: dir, Env: tc.env, Environ: map[string]string{}})
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("want a LoadError, got %v", err)
			}
			if got := le.Diagnostics[0].String(); len(le.Diagnostics) != 1 || !strings.HasPrefix(got, tc.want) || !strings.Contains(got, "outside the project directory") {
				t.Errorf("got  %s\nwant %s...: ... outside the project directory", le.Error(), tc.want)
			}
		})
	}
}

// TestHostPathsAllowed: paths inside the project (also through links that
// stay inside), bind mounts in dev, and allowed host paths load.
func TestHostPathsAllowed(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "x-quai:\n  allow_host_paths: [../outside]\nservices:\n  web:\n    image: nginx:1.27\n" +
			"    env_file: [app.env, ../outside/secret.txt]\n    volumes: [\"/etc:/host-etc:ro\"]\n",
		"app.env":        "->config/app.env",
		"config/app.env": "APP=inside\n",
	})
	m, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	env := m.Service("web").Environment
	if env["APP"] != "inside" || env["SECRET"] != "outside" {
		t.Errorf("environment %v: want APP from the linked env file and SECRET from the allowed one", env)
	}
	if len(m.AllowHostPaths) != 1 || m.Pos("x-quai.allow_host_paths.0").Line != 2 {
		t.Errorf("AllowHostPaths %v at %v", m.AllowHostPaths, m.Pos("x-quai.allow_host_paths.0"))
	}
}

// TestComposeFileLinkedOut: a compose file that links into another
// project is refused; a project reached through a link to its directory is
// that directory.
func TestComposeFileLinkedOut(t *testing.T) {
	victim := writeProject(t, map[string]string{"compose.yaml": "name: victim\nservices:\n  web:\n    image: nginx:1.27\n"})
	dir := writeProject(t, map[string]string{"compose.yaml": "->" + filepath.Join(victim, "compose.yaml")})
	_, err := Load(context.Background(), Options{Dir: dir, Environ: map[string]string{}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "compose.yaml is a link out of the project directory") {
		t.Fatalf("want the linked compose file refused, got %v", err)
	}

	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	m, err := Load(context.Background(), Options{Dir: link, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if real, _ := filepath.EvalSymlinks(victim); m.Dir != real {
		t.Errorf("Dir %s, want the real directory %s", m.Dir, real)
	}
}

func TestHostPath(t *testing.T) {
	dir := writeProject(t, map[string]string{"a/b.txt": "x", "up": "->.."})
	for _, tc := range []struct {
		p     string
		allow []string
		ok    bool
	}{
		{"a/b.txt", nil, true},
		{"a/missing/new.txt", nil, true},
		{filepath.Join(dir, "a"), nil, true},
		{"../outside/secret.txt", nil, false},
		{"up/outside/secret.txt", nil, false},
		{"up/outside/secret.txt", []string{"../outside"}, true},
		{"/etc/passwd", []string{"/etc/pass"}, false},
		{"/", nil, false},
	} {
		_, err := HostPath(dir, tc.p, tc.allow)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrOutsideProject)) {
			t.Errorf("HostPath(%q, allow %v) = %v, want ok %v", tc.p, tc.allow, err, tc.ok)
		}
	}
}

// TestCheckHostPaths: what the daemon checks in a model it did not load.
func TestCheckHostPaths(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n",
		"key.txt":      "k",
		"leak.txt":     "->/etc/passwd",
	})
	dir, _ = filepath.EvalSymlinks(dir)
	base := func(mod func(*Model)) *Model {
		m := &Model{Identity: Identity{Org: DefaultOrg, Project: "shop", Env: "prod"}, Dir: dir, Files: []string{"compose.yaml"},
			Services: []*Service{{Name: "web"}}}
		mod(m)
		return m
	}
	for _, tc := range []struct {
		name string
		m    *Model
		ok   bool
	}{
		{"secret inside", base(func(m *Model) { m.Secrets = []Secret{{Name: "k", File: "key.txt"}} }), true},
		{"no host files, no project", &Model{Dir: "/nowhere", Services: []*Service{{Name: "web"}}}, true},
		{"secret escaping", base(func(m *Model) { m.Secrets = []Secret{{Name: "k", File: "../../../../etc/shadow"}} }), false},
		{"secret through a link", base(func(m *Model) { m.Secrets = []Secret{{Name: "k", File: "leak.txt"}} }), false},
		{"tls key absolute", base(func(m *Model) { m.Routes = []Route{{Host: "a.example", KeyFile: "/etc/shadow"}} }), false},
		{"build context", base(func(m *Model) { m.Services[0].Build = &Build{Context: "/etc"} }), false},
		{"bind mount in prod", base(func(m *Model) { m.Services[0].Mounts = []Mount{{Type: MountBind, Source: "/etc", Target: "/x"}} }), false},
		{"/etc as the project", base(func(m *Model) {
			m.Dir, m.Files = "/etc", []string{"passwd"}
			m.Secrets = []Secret{{Name: "k", File: "shadow"}}
		}), false},
		{"allowance not allowed", base(func(m *Model) { m.AllowHostPaths = []string{"/etc"} }), false},
		{"allowance allowed", base(func(m *Model) {
			m.AllowHostPaths, m.AllowedRules = []string{"/etc"}, []string{RuleHostPaths}
			m.Secrets = []Secret{{Name: "k", File: "/etc/hostname"}}
		}), true},
	} {
		err := tc.m.CheckHostPaths()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrOutsideProject)) {
			t.Errorf("%s: CheckHostPaths() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
