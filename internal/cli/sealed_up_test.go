package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/wire"
)

// sealedAppProject is a project whose web service receives the sealed
// secret token as APP_TOKEN (x-quai.secret_env) and as a file.
func sealedAppProject(t *testing.T) string {
	t.Helper()
	return testAppProject(t, "sealed", `x-quai:
  project: sealed
  routes:
    - path: /
      service: web
      port: 8080
      tls: "off"
secrets:
  token:
    external: true
services:
  web:
    image: quai-test-app
    environment:
      QUAI_TESTAPP: "1"
    expose: [8080]
    secrets: [token]
    x-quai:
      health: { path: /healthz }
      secret_env:
        APP_TOKEN: token
      process:
        command: [%q]
`)
}

// testAppProject writes compose (a format whose one %q is this test
// binary, which serves as the app) as the compose.yaml of a new project
// directory called name, and returns the directory.
func testAppProject(t *testing.T, name, compose string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(fmt.Sprintf(compose, exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestUpDeliversSealedSecrets: a value sealed with `quai secrets set`
// reaches the replica through the daemon's own keys; a new value replaces
// it and a rollback restores the first; a sealed file that was tampered
// with and a secret no file holds are refused before anything changes,
// naming the file or the command that fixes it, and the running release
// keeps its value.
func TestUpDeliversSealedSecrets(t *testing.T) {
	d, log := secretsDaemon(t)
	var tr transcript
	dir := sealedAppProject(t)
	const inst = "sealed-dev"
	const v1, v2 = "first-sealed-token-6d0b2f", "second-sealed-token-a91c47"
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	appToken := func() string {
		t.Helper()
		// Not through the transcript: the app prints the value on purpose.
		return strings.TrimSpace(mustRun(t, d, "exec", inst, "web", "--", exe, "getenv", "APP_TOKEN").stdout)
	}

	tr.must(t, d, v1+"\n", "secrets", "set", dir, "--env", "dev", "token")
	tr.must(t, d, "", "up", dir, "--env", "dev", "-y")
	if got := appToken(); got != v1 {
		t.Fatalf("APP_TOKEN = %q, want the sealed value", got)
	}
	tr.must(t, d, v2+"\n", "secrets", "set", dir, "--env", "dev", "token")
	tr.must(t, d, "", "up", dir, "--env", "dev", "-y")
	if got := appToken(); got != v2 {
		t.Fatalf("after a new value: APP_TOKEN = %q, want the new one", got)
	}

	// A tampered file: the MAC no longer matches.
	sealed := filepath.Join(dir, "secrets", "dev.yaml")
	b, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "data:")
	if i < 0 {
		t.Fatalf("%s holds no encrypted value", sealed)
	}
	tampered := []byte(string(b[:i+5]) + flip(b[i+5]) + string(b[i+6:]))
	if err := os.WriteFile(sealed, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	r := tr.runIn(t, d, "", "up", dir, "--env", "dev", "-y")
	if r.code == 0 || !strings.Contains(r.stderr, "secrets/dev.yaml") || !strings.Contains(r.stderr, "MAC mismatch") {
		t.Errorf("up with a tampered sealed file: exit %d, %s; want a refusal naming the file", r.code, r.stderr)
	}
	// A secret no file holds.
	if err := os.Remove(sealed); err != nil {
		t.Fatal(err)
	}
	r = tr.runIn(t, d, "", "up", dir, "--env", "dev", "-y")
	if r.code == 0 || !strings.Contains(r.stderr, "quai secrets set "+dir+" --env dev token") {
		t.Errorf("up without the secret: exit %d, %s; want the command that sets it", r.code, r.stderr)
	}
	if got := appToken(); got != v2 {
		t.Fatalf("after the refusals: APP_TOKEN = %q, want release 2's value still", got)
	}

	// Rollback restores release 1's value although no file holds it now.
	tr.must(t, d, "", "rollback", inst, "--to", "1")
	if got := appToken(); got != v1 {
		t.Fatalf("after rollback: APP_TOKEN = %q, want release 1's", got)
	}
	var rels []wire.Release
	if err := json.Unmarshal([]byte(tr.must(t, d, "", "releases", inst, "--json").stdout), &rels); err != nil {
		t.Fatal(err)
	}
	if len(rels) != 3 || rels[0].Secrets["token"] != rels[2].Secrets["token"] || rels[1].Secrets["token"] == rels[2].Secrets["token"] {
		t.Errorf("releases' token versions: %v", summarizeSecrets(rels))
	}
	tr.must(t, d, "", "releases", inst)
	for _, where := range []struct{ what, text string }{{"the verbs' output", tr.out.String()}, {"the daemon log", log.String()}} {
		for _, v := range []string{v1, v2} {
			if strings.Contains(where.text, v) {
				t.Errorf("%s holds a sealed value", where.what)
			}
		}
	}
	scanFor(t, "the data dir", d.DataDir, []string{v1, v2})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func summarizeSecrets(rels []wire.Release) []string {
	var out []string
	for _, r := range rels {
		out = append(out, fmt.Sprintf("%d:%v", r.Number, r.Secrets))
	}
	return out
}
