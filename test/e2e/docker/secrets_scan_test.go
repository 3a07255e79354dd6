package dockere2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

const sealedInstance = "scan/users-api-dev"

// TestSealedSecretsScan is the secrets scan on Docker: the example for org
// scan with its generated database password and an api_token sealed with
// `quai secrets set`;
// install, rotate the token, update, roll back to the first release (its
// token comes back from the store); then no file under the data dir, no
// output of the verbs (events included), `quai config`, `quai releases
// [--json]` and no line of the daemon's log holds a value. The values
// reach the containers: the password in their environment
// (x-quai.secret_env), the token as a file bind-mounted from the run dir.
func TestSealedSecretsScan(t *testing.T) {
	cli, host := engine(t)
	dir := e2etest.Project(t, map[string]string{"orgs/scan/dev.yaml": e2etest.SealedOverlay})
	e2etest.SetVersion(t, dir, "1")
	tok1, tok2 := []byte("first-docker-token-83be07c1"), []byte("second-docker-token-4d19a6f2")
	var tr e2etest.Transcript
	dataDir := t.TempDir()
	d := daemontest.Start(t, daemontest.Options{DataDir: dataDir, DockerHost: host, HealthTimeout: 2 * time.Minute, DrainTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(&tr, os.Stderr), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	up := []string{"up", dir, "--org", "scan", "--env", "dev", "--runtime", "docker", "-y"}

	tr.Seal(t, d.Socket, dir, "scan", "dev", "api_token", tok1)
	tr.Quai(t, d.Socket, up...)
	site := e2etest.NewSite(d.ProxyHTTPAddr(), "users-api.dev.scan.localhost")
	alice := site.CreateUser(t, "alice") // the API reached PostgreSQL with the generated password
	pw := containerEnv(t, cli, "db", "POSTGRES_PASSWORD")
	if got := containerEnv(t, cli, "api", "PGPASSWORD"); got != pw || len(pw) != 32 {
		t.Fatalf("the API's PGPASSWORD (%d bytes) is not the database's generated password (%d bytes)", len(got), len(pw))
	}
	token := func() string {
		m := e2etest.RunFiles(t, dataDir, "secrets/scan-users-api-dev/api-*/api_token")
		if len(m) != 1 {
			t.Fatalf("api_token files in the run dir: %v, want one", m)
		}
		b, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if token() != string(tok1) {
		t.Fatal("the API's api_token file is not the sealed value")
	}
	r1 := releasesJSON(t, &tr, d.Socket)[0]

	tr.Seal(t, d.Socket, dir, "scan", "dev", "api_token", tok2)
	tr.Quai(t, d.Socket, up...)
	if r2 := releasesJSON(t, &tr, d.Socket)[0]; r2.Secrets["api_token"] == r1.Secrets["api_token"] || r2.Secrets["db_password"] != r1.Secrets["db_password"] {
		t.Fatalf("after the rotation: release %d secrets %v, release %d %v", r2.Number, r2.Secrets, r1.Number, r1.Secrets)
	}
	if token() != string(tok2) {
		t.Fatal("after the rotation the API's api_token file is not the new value")
	}
	site.HasUser(t, alice, "after the rotation")

	e2etest.SetVersion(t, dir, "2")
	tr.Quai(t, d.Socket, up...)
	tr.Quai(t, d.Socket, "rollback", sealedInstance, "--to", "1")
	if token() != string(tok1) {
		t.Fatal("the rollback did not restore release 1's api_token")
	}
	site.HasUser(t, alice, "after the rollback")
	if rels := releasesJSON(t, &tr, d.Socket); rels[0].Secrets["api_token"] != r1.Secrets["api_token"] {
		t.Fatalf("the rollback's release records %v, want release 1's %v", rels[0].Secrets, r1.Secrets)
	}
	for _, args := range [][]string{
		{"config", dir, "--org", "scan", "--env", "dev"},
		{"config", dir, "--org", "scan", "--env", "dev", "--json"},
		{"releases", sealedInstance},
		{"status", sealedInstance, "--json"},
		{"logs", sealedInstance},
	} {
		tr.Quai(t, d.Socket, args...)
	}
	files, size := e2etest.ScanSecrets(t, dataDir, tr.Bytes(), []byte(pw), tok1, tok2)
	t.Logf("secrets scan: %d files (%d bytes) under the data dir and %d bytes of output and daemon log: no value found", files, size, len(tr.Bytes()))
}

// containerEnv returns the variable name of the instance's only running
// container of service.
func containerEnv(t *testing.T, cli *client.Client, service, name string) string {
	t.Helper()
	ids := containers(t, cli, sealedInstance, service)
	if len(ids) != 1 {
		t.Fatalf("%d containers of %s, want one", len(ids), service)
	}
	for id := range ids {
		ins, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ins.Container.Config.Env {
			if v, ok := strings.CutPrefix(e, name+"="); ok {
				return v
			}
		}
	}
	t.Fatalf("%s has no %s", service, name)
	return ""
}

// releasesJSON runs `quai releases --json`, newest first.
func releasesJSON(t *testing.T, tr *e2etest.Transcript, socket string) []wire.Release {
	t.Helper()
	var rels []wire.Release
	if err := json.Unmarshal([]byte(tr.Quai(t, socket, "releases", sealedInstance, "--json")), &rels); err != nil {
		t.Fatal(err)
	}
	return rels
}
