package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
)

// TestPromoteVerb drives `quai promote` against a daemon on the process
// runtime: by project name, a dry run that changes nothing (text and
// JSON), a refusal that names the rule at its file:line, then the
// promotion, whose release says where it came from.
func TestPromoteVerb(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "shop"})
	if err := os.MkdirAll(filepath.Join(dir, "envs"), 0o755); err != nil {
		t.Fatal(err)
	}
	rules := func(from string) {
		body := "x-quai:\n  promotion:\n    from: [" + from + "]\n"
		if err := os.WriteFile(filepath.Join(dir, "envs", "prod.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "envs", "staging.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rules("qa")
	mustRun(t, d, "up", dir, "--env", "staging", "-y")

	// The prod route is plain HTTP, a lint error in prod that promote,
	// like up, refuses unless allowed.

	refused := run(t, d, "promote", "shop", "--from", "staging", "--to", "prod", "--allow", "QL016", "--dry-run")
	if refused.code == 0 {
		t.Fatal("a promotion from staging was allowed by from: [qa]")
	}
	for _, want := range []string{"promoting shop-staging release 1 to shop-prod is refused", "from (envs/prod.yaml:3:5) allows promotions to shop-prod only from qa, not from staging"} {
		if !strings.Contains(refused.stderr, want) {
			t.Errorf("refusal lacks %q", want)
		}
	}

	rules("staging")
	dry := mustRun(t, d, "promote", "shop", "--from", "staging", "--to", "prod", "--allow", "QL016", "--dry-run")
	if !strings.HasPrefix(dry.stdout, "promote shop-staging release 1 to shop-prod\n  web: image quai-test-app (new service)\n") {
		t.Errorf("dry-run plan:\n%s", dry.stdout)
	}
	if !strings.Contains(dry.stderr, "warning: the process runtime runs no images") {
		t.Errorf("no warning that the process runtime has no images to pin: %q", dry.stderr)
	}
	js := mustRun(t, d, "promote", dir, "--from", "staging", "--to", "prod", "--allow", "QL016", "--dry-run", "--json")
	var plan struct {
		Instance, Source, Text, Fingerprint string
		Release                             int
	}
	if err := json.Unmarshal([]byte(js.stdout), &plan); err != nil {
		t.Fatalf("--dry-run --json: %v", err)
	}
	if plan.Instance != "shop-prod" || plan.Source != "shop-staging" || plan.Release != 1 ||
		!strings.HasPrefix(plan.Text, "promote shop-staging") || !strings.HasPrefix(plan.Fingerprint, "sha256:") {
		t.Errorf("JSON plan %+v", plan)
	}
	if r := run(t, d, "status", "shop-prod"); r.code == 0 {
		t.Error("a dry run installed shop-prod")
	}

	mustRun(t, d, "promote", "shop", "--from", "staging", "--to", "prod", "--allow", "QL016", "-y")
	rels := mustRun(t, d, "releases", "shop-prod")
	if !strings.Contains(rels.stdout, "promoted from shop-staging release 1") {
		t.Errorf("releases of shop-prod lack the promotion's cause:\n%s", rels.stdout)
	}
	if r := run(t, d, "promote", "nosuch", "--from", "staging", "--to", "prod", "--allow", "QL016"); r.code == 0 ||
		!strings.Contains(r.stderr, "nosuch is neither a project directory nor a project with an installed staging instance (nosuch-staging)") {
		t.Errorf("unknown project: exit %d, %q", r.code, r.stderr)
	}
}
