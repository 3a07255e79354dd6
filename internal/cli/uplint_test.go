package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

// TestUpRefusesLintErrors: up runs the lint rules and deploys nothing while
// an error finding is not allowed; --allow deploys it and the release
// records the allowed rule; an unknown rule is a usage error.
func TestUpRefusesLintErrors(t *testing.T) {
	dir := daemontest.AppProject(t, daemontest.App{Project: "capped", Replicas: 1})
	compose := filepath.Join(dir, "compose.yaml")
	b, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "  web:\n", "  web:\n    cap_add: [SYS_ADMIN]\n", 1))
	if err := os.WriteFile(compose, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// Refused before the daemon is asked anything: no daemon runs.
	t.Setenv("QUAI_NO_AUTOSTART", "1")
	none := filepath.Join(t.TempDir(), "none.sock")
	r := run(t, nil, "up", dir, "--env", "dev", "-y", "--socket", none)
	if r.code != cli.ExitFailed || !strings.Contains(r.stderr, "QL008") || !strings.Contains(r.stderr, "--allow QL008") || !strings.Contains(r.stderr, "nothing was deployed") {
		t.Fatalf("exit %d, stderr %q; want exit 2 naming QL008 and --allow QL008", r.code, r.stderr)
	}
	r = run(t, nil, "up", dir, "--env", "dev", "-y", "--allow", "QL999", "--socket", none)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--allow QL999: no such lint rule") {
		t.Fatalf("exit %d, stderr %q; want the unknown rule refused", r.code, r.stderr)
	}

	d := daemontest.Start(t, daemontest.Options{})
	mustRun(t, d, "up", dir, "--env", "dev", "-y", "--allow", "QL008")
	var rels []wire.Release
	if err := json.Unmarshal([]byte(mustRun(t, d, "releases", "capped-dev", "--json").stdout), &rels); err != nil || len(rels) != 1 {
		t.Fatalf("releases: %v (%v)", rels, err)
	}
	var model struct {
		AllowedRules []string `json:"allowed_rules"`
	}
	if err := json.Unmarshal(rels[0].Model, &model); err != nil || !slices.Equal(model.AllowedRules, []string{"QL008"}) {
		t.Errorf("release records allowed rules %v (%v), want [QL008]", model.AllowedRules, err)
	}
	mustRun(t, d, "rm", "capped-dev", "-y")
}
