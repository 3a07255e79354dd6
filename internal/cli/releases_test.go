package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/wire"
)

// secretProject is a project whose web service has a password in its
// environment and a token in an env_file.
func secretProject(t *testing.T, password, token string) string {
	return daemontest.AppProject(t, daemontest.App{Project: "vault", Secret: password, EnvFile: "API_TOKEN=" + token + "\n"})
}

func TestReleasesShowNoSecretAndRollbackRestoresThem(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	const (
		pw1, token1 = "first-pw-93c1d7", "first-token-4e0a2b"
		pw2, token2 = "second-pw-6b5f18", "second-token-d27c90"
	)
	// The stack puts a literal password in prod on purpose, which the lint gate refuses unless allowed.
	mustRun(t, d, "up", secretProject(t, pw1, token1), "--env", "prod", "-y", "--allow", "QL011", "--allow", "QL016")
	mustRun(t, d, "up", secretProject(t, pw2, token2), "--env", "prod", "-y", "--allow", "QL011", "--allow", "QL016")
	secrets := []string{pw1, token1, pw2, token2}

	// Neither the store's files nor the releases' output hold a value.
	for _, f := range []string{datadir.StorePath(d.DataDir), datadir.StorePath(d.DataDir) + "-wal", datadir.StorePath(d.DataDir) + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q", filepath.Base(f), s)
			}
		}
	}
	for _, args := range [][]string{{"releases", "vault-prod"}, {"releases", "vault-prod", "--json"}} {
		out := mustRun(t, d, args...).stdout
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("quai %s prints the secret %q", strings.Join(args, " "), s)
			}
		}
	}
	var rels []wire.Release
	if err := json.Unmarshal([]byte(mustRun(t, d, "releases", "vault-prod", "--json").stdout), &rels); err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[1].Model == nil {
		t.Fatalf("releases: %+v; want 2 with their models", summarize(rels))
	}
	var model struct {
		Services []struct {
			Environment map[string]string `json:"environment"`
		} `json:"services"`
	}
	if err := json.Unmarshal(rels[1].Model, &model); err != nil || len(model.Services) != 1 {
		t.Fatalf("release 1's model %s: %v; want one service", rels[1].Model, err)
	}
	env := model.Services[0].Environment
	if env["DB_PASSWORD"] != "(redacted)" || env["API_TOKEN"] != "(redacted)" {
		t.Errorf("release 1's environment as shown: %v; want its keys with (redacted) values", env)
	}

	// Rollback runs release 1 with its real values.
	mustRun(t, d, "rollback", "vault-prod")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"DB_PASSWORD": pw1, "API_TOKEN": token1} {
		got := mustRun(t, d, "exec", "vault-prod", "web", "--", exe, "getenv", name).stdout
		if strings.TrimSpace(got) != want {
			t.Errorf("after rollback the app's %s = %q, want release 1's %q", name, strings.TrimSpace(got), want)
		}
	}
}
