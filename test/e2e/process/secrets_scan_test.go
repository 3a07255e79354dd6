package processe2e

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

const sealedInstance = "acme/users-api-dev"

// TestSealedSecretsScan deploys the example for org acme with its
// generated database password and an api_token sealed with `quai secrets
// set` in the project's orgs/acme/secrets/dev.yaml: install, rotate the token, update, roll back to
// the first release (its token comes back from the store), then shows that
// no file under the data dir (store, WAL, logs, replica directories), no
// output of the verbs (events included), `quai config`, `quai releases
// [--json]` and the daemon's log holds any of the values, as is, in base64
// or in hex.
func TestSealedSecretsScan(t *testing.T) {
	needPostgres(t)
	dir := e2etest.Project(t, map[string]string{"orgs/acme/dev.yaml": e2etest.SealedOverlay})
	e2etest.SetVersion(t, dir, "1")
	tok1, tok2 := []byte("first-api-token-0b7d2e91c4"), []byte("second-api-token-5fa83c60d1")
	var tr e2etest.Transcript
	dataDir := e2etest.DataDir(t)
	d := daemontest.Start(t, daemontest.Options{DataDir: dataDir, HealthTimeout: 2 * time.Minute, DrainTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(&tr, os.Stderr), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	up := []string{"up", dir, "--env", "dev", "--org", "acme", "-y"}

	tr.Seal(t, d.Socket, dir, "acme", "dev", "api_token", tok1)
	tr.Quai(t, d.Socket, up...)
	site := e2etest.NewSite(d.ProxyHTTPAddr(), "users-api.dev.acme.localhost")
	alice := site.CreateUser(t, "alice") // the API reached PostgreSQL with the generated password
	pw := runFile(t, dataDir, "acme-users-api-dev/db-*/env/POSTGRES_PASSWORD")
	if got := runFile(t, dataDir, "acme-users-api-dev/api-*/env/PGPASSWORD"); string(got) != string(pw) || len(pw) != 32 {
		t.Fatalf("the API's PGPASSWORD (%d bytes) is not the database's generated password (%d bytes)", len(got), len(pw))
	}
	if got := runFile(t, dataDir, "acme-users-api-dev/api-*/secrets/api_token"); string(got) != string(tok1) {
		t.Fatal("the API's api_token file is not the sealed value")
	}
	r1 := releases(t, &tr, d.Socket)[0]

	// Rotation: a new sealed value replaces the API; the password stays.
	tr.Seal(t, d.Socket, dir, "acme", "dev", "api_token", tok2)
	tr.Quai(t, d.Socket, up...)
	r2 := releases(t, &tr, d.Socket)[0]
	if r2.Secrets["api_token"] == r1.Secrets["api_token"] || r2.Secrets["db_password"] != r1.Secrets["db_password"] {
		t.Fatalf("after the rotation: release %d secrets %v, release %d %v", r2.Number, r2.Secrets, r1.Number, r1.Secrets)
	}
	if got := runFile(t, dataDir, "acme-users-api-dev/api-*/secrets/api_token"); string(got) != string(tok2) {
		t.Fatal("after the rotation the API's api_token file is not the new value")
	}
	site.HasUser(t, alice, "after the rotation")

	// An update, then a rollback to release 1 with release 1's token.
	e2etest.SetVersion(t, dir, "2")
	tr.Quai(t, d.Socket, up...)
	tr.Quai(t, d.Socket, "rollback", sealedInstance, "--to", "1")
	if got := runFile(t, dataDir, "acme-users-api-dev/api-*/secrets/api_token"); string(got) != string(tok1) {
		t.Fatal("the rollback did not restore release 1's api_token")
	}
	if v := site.Version(t); v != "1" {
		t.Fatalf("after the rollback: version %q", v)
	}
	site.HasUser(t, alice, "after the rollback")
	rels := releases(t, &tr, d.Socket)
	if rels[0].Secrets["api_token"] != r1.Secrets["api_token"] || rels[0].Secrets["db_password"] != r1.Secrets["db_password"] {
		t.Fatalf("the rollback's release records %v, want release 1's %v", rels[0].Secrets, r1.Secrets)
	}

	for _, args := range [][]string{
		{"config", dir, "--env", "dev", "--org", "acme"},
		{"config", dir, "--env", "dev", "--org", "acme", "--json"},
		{"releases", sealedInstance},
		{"status", sealedInstance, "--json"},
		{"logs", sealedInstance},
	} {
		tr.Quai(t, d.Socket, args...)
	}
	files, size := e2etest.ScanSecrets(t, dataDir, tr.Bytes(), pw, tok1, tok2)
	t.Logf("secrets scan: %d files (%d bytes) under the data dir and %d bytes of output and daemon log: no value found", files, size, len(tr.Bytes()))
}

// runFile reads the one file matching pattern under the daemon's run dir.
func runFile(t *testing.T, dataDir, pattern string) []byte {
	t.Helper()
	m := e2etest.RunFiles(t, dataDir, pattern)
	if len(m) != 1 {
		t.Fatalf("run dir files %s: %v, want one", pattern, m)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// releases runs `quai releases --json`, newest first.
func releases(t *testing.T, tr *e2etest.Transcript, socket string) []wire.Release {
	t.Helper()
	var rels []wire.Release
	if err := json.Unmarshal([]byte(tr.Quai(t, socket, "releases", sealedInstance, "--json")), &rels); err != nil {
		t.Fatal(err)
	}
	return rels
}
