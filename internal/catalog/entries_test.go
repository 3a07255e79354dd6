package catalog_test

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/catalog/catalogtest"
	"github.com/quai-dev/quai/internal/lint"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/stack"
)

// builtinNames are the entries the catalog promises (docs/catalog.md).
var builtinNames = []string{
	"django", "gitlab", "grafana", "headscale", "metabase", "n8n", "nextcloud", "nextcloud-postgres",
	"odoo", "onlyoffice", "syncthing", "users-api", "wordpress",
}

// TestBuiltinEntriesAreProductionReady loads every built-in entry as an
// installed folder for env prod and checks it against quai lint --env prod
// --fail-on warning (suppressions only with reasons, which QL030 enforces),
// and what the catalog promises beyond lint: pinned images, TLS on every
// route, a health check on every routed service, a size class on every
// service, a backup policy on every service with a named volume, and
// generated (sealed) secrets rather than literal passwords.
func TestBuiltinEntriesAreProductionReady(t *testing.T) {
	entries := catalogtest.Builtin(t)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, builtinNames) {
		t.Errorf("built-in entries %v, want %v", names, builtinNames)
	}
	for _, e := range entries {
		t.Run(e.Name, func(t *testing.T) {
			_, m := catalogtest.Install(t, e, "prod", "acme")
			src, err := lint.ReadSources(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range lint.Check(m, lint.Options{Sources: src}) {
				if f.Severity.AtLeast(lint.SeverityWarning) {
					t.Errorf("%s:%d: %s %s %s: %s", f.File, f.Line, f.Severity, f.Rule, f.Service, f.Message)
				}
			}
			if len(m.Routes) == 0 {
				t.Error("no route")
			}
			routed := map[string]bool{}
			for _, r := range m.Routes {
				routed[r.Service] = true
				if r.TLS == stack.TLSOff {
					t.Errorf("route %s%s serves plain HTTP", r.Host, r.Path)
				}
			}
			for _, s := range m.Services {
				if s.Size == "" {
					t.Errorf("service %s has no size class", s.Name)
				}
				if routed[s.Name] && s.HealthPath == "" {
					t.Errorf("routed service %s has no x-quai.health", s.Name)
				}
				hasVolume := slices.ContainsFunc(s.Mounts, func(mt stack.Mount) bool { return mt.Type == stack.MountVolume })
				if hasVolume && s.Backup == nil && !slices.ContainsFunc(m.Services, func(o *stack.Service) bool {
					return o.Backup != nil && sharesVolume(o, s)
				}) {
					t.Errorf("service %s keeps a named volume and nothing backs it up", s.Name)
				}
			}
			if e.Major() > 1 && len(e.UpgradeNotes("1.0.0")) == 0 {
				t.Errorf("version %s has no upgrade notes", e.Version)
			}
		})
	}
}

func sharesVolume(a, b *stack.Service) bool {
	for _, x := range a.Mounts {
		for _, y := range b.Mounts {
			if x.Type == stack.MountVolume && y.Type == stack.MountVolume && x.Source == y.Source {
				return true
			}
		}
	}
	return false
}

// TestBuiltinEntriesRenderForDockerCompose renders every entry as quai
// render --target compose does and has Debian's docker-compose accept it
// (docker-compose config), for the teams that hand a Compose file on.
func TestBuiltinEntriesRenderForDockerCompose(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		msg := "docker-compose is not installed: run scripts/deps.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, e := range catalogtest.Builtin(t) {
		t.Run(e.Name, func(t *testing.T) {
			_, m := catalogtest.Install(t, e, "prod", "acme")
			if out, err := composeConfig(t, bin, m); err != nil {
				t.Fatalf("docker-compose config refused the rendering of %s: %v\n%s", e.Name, err, out)
			} else if out != "" {
				t.Logf("docker-compose config: %s", out)
			}
		})
	}
}

// composeConfig has Debian's docker-compose (bin) check m's Compose
// rendering; it returns what docker-compose said, and the rendering too
// when it refused it.
func composeConfig(t *testing.T, bin string, m *stack.Model) (string, error) {
	t.Helper()
	b, err := render.ComposeWith(m, render.ComposeOptions{NoName: true})
	if err != nil {
		return "", err
	}
	f := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-p", m.Identity.Slug(), "-f", f, "config", "-q") //nolint:gosec // the test's own files
	cmd.Dir = filepath.Dir(f)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s\n--- rendered:\n%s", out, b), err
	}
	return strings.TrimSpace(string(out)), nil
}

// provenOnDocker names, per entry, the end-to-end test that runs it on a
// real Docker Engine (docs/catalog.md).
var provenOnDocker = map[string]string{
	"django":    "TestCatalogDjangoOnDocker: site image built by quai from the installed app/, page, static files and admin through the proxy, pg_dump backup and restore, settings update",
	"syncthing": "TestCatalogSyncthingOnDocker: install, GUI and health through the proxy, volume backup and restore (file and device keys back), settings update (stop-first)",
	"wordpress": "TestCatalogWordPressOnDocker: install, page through the proxy, mariadb-dump backup and restore, settings update and entry upgrade",
}

// TestCatalogReport prints the catalog's table for docs/catalog.md (run
// with -v, or bench/catalog/run.sh): each entry, its version, services and
// images, its lint result for env prod (findings at warning or above,
// infos, suppressions with reasons), whether Debian's docker-compose
// accepts its Compose rendering (when installed), and what runs it end to
// end. The Kubernetes server-side dry run needs the test cluster:
// TestDryRunEveryEntry (internal/catalog/catalogkube) runs it.
func TestCatalogReport(t *testing.T) {
	bin, _ := exec.LookPath("docker-compose")
	var b strings.Builder
	b.WriteString("| entry | version | services (images) | lint --env prod --fail-on warning | suppressed (with reasons) | docker-compose config | end to end on Docker |\n|---|---|---|---|---|---|---|\n")
	for _, e := range catalogtest.Builtin(t) {
		_, m := catalogtest.Install(t, e, "prod", "acme")
		src, err := lint.ReadSources(m)
		if err != nil {
			t.Fatal(err)
		}
		var bad, infos int
		for _, f := range lint.Check(m, lint.Options{Sources: src}) {
			if f.Severity.AtLeast(lint.SeverityWarning) {
				bad++
			} else {
				infos++
			}
		}
		var svcs, suppressed []string
		for _, s := range m.Services {
			svcs = append(svcs, s.Name+" ("+s.Image+")")
			for _, sup := range s.Suppress {
				suppressed = append(suppressed, sup.Rule+" on "+s.Name)
			}
		}
		verdict := "pass"
		if bad > 0 {
			verdict = "FAIL"
		}
		if infos > 0 {
			verdict += fmt.Sprintf(" (%d info)", infos)
		}
		compose := "not run (no docker-compose)"
		if bin != "" {
			compose = "pass"
			if out, err := composeConfig(t, bin, m); err != nil {
				compose = "FAIL"
				t.Logf("docker-compose config refused %s: %v\n%s", e.Name, err, out)
			}
		}
		e2e := cmp.Or(provenOnDocker[e.Name], "none")
		fmt.Fprintf(&b, "| %s | %s (app %s) | %s | %s | %s | %s | %s |\n", e.Name, e.Version, e.AppVersion, strings.Join(svcs, ", "), verdict,
			cmp.Or(strings.Join(suppressed, ", "), "none"), compose, e2e)
	}
	t.Logf("catalog report:\n%s", b.String())
}
