package dockere2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

const (
	djangoHost     = "site.acme.localhost"
	djangoInstance = "acme/django-prod"
)

// pythonImage is Python 3.11 with Debian's Django, psycopg2 and gunicorn,
// plus the few programs the template's Dockerfile runs (mkdir, chown);
// cmd is its CMD.
func pythonImage(t *testing.T, cli *client.Client, name string, cmd string) string {
	t.Helper()
	var programs []string
	for _, g := range []string{"/usr/lib/python3.11/lib-dynload/*.so", "/usr/lib/python3/dist-packages/psycopg2/*.so"} {
		m, _ := filepath.Glob(g)
		programs = append(programs, m...)
	}
	if _, err := os.Stat("/usr/lib/python3/dist-packages/django"); err != nil || len(programs) == 0 {
		msg := "Debian's python3-django, python3-psycopg2 and gunicorn are not installed: run scripts/deps.sh"
		if dockertest.CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dockertest.HostImage(t, cli, dockertest.HostImageSpec{
		Name:     name,
		Programs: append([]string{"/usr/bin/python3", "/usr/bin/gunicorn", "/bin/mkdir", "/bin/chown"}, programs...),
		// Debian's Django links its admin's jQuery from libjs-jquery.
		Trees:   []string{"/usr/lib/python3.11", "/usr/lib/python3/dist-packages", "/usr/share/zoneinfo", "/usr/share/javascript"},
		Changes: []string{"ENV PATH=/usr/bin:/bin", "ENV PYTHONDONTWRITEBYTECODE=1", "CMD " + cmd},
	})
}

// TestCatalogDjangoOnDocker installs the catalog's Django template on a
// real Docker Engine: the site's image built by quai from the installed
// app/ (its Dockerfile's base swapped for Python from Debian's packages,
// as a team would edit its own template), PostgreSQL, and the static-files
// server; the site and its static files answer through the proxy; the
// database is backed up, changed and restored; a settings change is an
// ordinary up with a plan.
func TestCatalogDjangoOnDocker(t *testing.T) {
	cli, host := engine(t)
	base := pythonImage(t, cli, "catalog-python", `["python3"]`)
	static := pythonImage(t, cli, "catalog-static", `["python3", "-m", "http.server", "8080", "--directory", "/usr/share/nginx/html"]`)
	pg := dockertest.PostgresImage(t, cli)
	tagForTest(t, cli, map[string]string{static: "nginxinc/nginx-unprivileged:1.27.2-alpine", pg: "postgres:16.4"})
	// quai builds the site's image from app/ and tags it with the stack's name.
	t.Cleanup(func() { untag(t, cli, "registry.example.com/site/web:1.0.0") })
	d := daemontest.Start(t, daemontest.Options{DockerHost: host, HealthTimeout: 3 * time.Minute, DrainTimeout: 5 * time.Second})
	dir := filepath.Join(t.TempDir(), "django-acme-prod")
	e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "install", "django", "--org", "acme", "--env", "prod", "--host", djangoHost, "--dir", dir, "--no-up")
	// The template is the team's from here on: build on Debian's Python
	// instead of pip-installing on python:3.12-slim (no registry here).
	df := filepath.Join(dir, "app", "Dockerfile")
	b, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var kept []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "FROM "):
			kept = append(kept, "FROM "+base)
		case strings.HasPrefix(l, "RUN pip "):
		default:
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(df, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	out := e2etest.MustQuai(t, d.Socket, "up", dir, "--org", "acme", "--env", "prod", "--runtime", "docker", "-y")
	t.Logf("quai up (django from the catalog) in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	site := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+d.ProxyHTTPAddr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = djangoHost
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s through the proxy: %v", path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		var sb strings.Builder
		_, _ = io.Copy(&sb, resp.Body)
		return resp.StatusCode, sb.String()
	}
	if code, body := site("/"); code != http.StatusOK || !strings.Contains(body, "Your Django site is running") {
		t.Fatalf("/ through the proxy: %d\n%s", code, body)
	}
	if code, body := site("/static/robots.txt"); code != http.StatusOK || !strings.Contains(body, "Disallow: /admin/") {
		t.Fatalf("/static/robots.txt (collectstatic's output, served by the static service): %d\n%s", code, body)
	}
	if code, body := site("/admin/login/"); code != http.StatusOK || !strings.Contains(body, "Django") {
		t.Fatalf("/admin/login/: %d\n%.500s", code, body)
	}

	psql := func(sql string) string {
		t.Helper()
		return e2etest.MustQuai(t, d.Socket, "exec", djangoInstance, "db", "--", "psql", "-X", "-At", "-U", "site", "-d", "site", "-c", sql)
	}
	psql("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')")
	out = e2etest.MustQuai(t, d.Socket, "backup", djangoInstance)
	t.Logf("quai backup:\n%s", out)
	snapOut := e2etest.MustQuai(t, d.Socket, "backup", "ls", djangoInstance)
	snap := ""
	for _, l := range strings.Split(snapOut, "\n") {
		if f := strings.Fields(l); len(f) > 2 && strings.Contains(l, " db ") && strings.Contains(l, "postgres") && snap == "" {
			for _, w := range f {
				if len(w) == 32 {
					snap = w
				}
			}
		}
	}
	if snap == "" {
		t.Fatalf("no postgres snapshot of db in:\n%s", snapOut)
	}
	psql("INSERT INTO notes VALUES ('lost')")
	out = e2etest.MustQuai(t, d.Socket, "restore", djangoInstance, "--snapshot", snap, "-y")
	t.Logf("quai restore:\n%s", out)
	if got := strings.TrimSpace(psql("SELECT string_agg(body, ',') FROM notes")); got != "kept" {
		t.Fatalf("notes after the restore: %q, want kept", got)
	}
	if code, _ := site("/healthz/"); code != http.StatusOK {
		t.Fatalf("/healthz/ after the restore: %d", code)
	}

	out = e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "install", "django", "--org", "acme", "--env", "prod", "--dir", dir, "--set", "GUNICORN_WORKERS=2", "-y")
	t.Logf("quai catalog install --set GUNICORN_WORKERS=2:\n%s", out)
	if !strings.Contains(out, "web") || !strings.Contains(out, "updated "+dir) || !strings.Contains(out, "kept your app/Dockerfile") {
		t.Errorf("settings update output:\n%s", out)
	}
	if code, body := site("/"); code != http.StatusOK || !strings.Contains(body, "Your Django site is running") {
		t.Fatalf("/ after the update: %d\n%s", code, body)
	}
}
