package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/secrets/sops"
)

// TestCatalogVerbs lists and shows entries, adds and removes a team's
// catalog, and installs an entry without deploying it: the folder holds
// the entry, its settings and host, and its generated secrets sealed for
// the org's key, and no value reaches the output unless --show-secrets.
func TestCatalogVerbs(t *testing.T) {
	d, _ := secretsDaemon(t)
	var tr transcript
	r := tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "ls")
	for _, want := range []string{"wordpress", "nextcloud-postgres", "gitlab", "headscale", "users-api", "builtin"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("catalog ls lacks %q", want)
		}
	}
	r = tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "show", "wordpress")
	for _, want := range []string{"builtin/wordpress 1.0.0", "GPL-2.0-or-later", "WORDPRESS_REPLICAS", "compose.yaml", "Upgrade notes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("catalog show lacks %q", want)
		}
	}
	if r := tr.runIn(t, d, "", "--data-dir", d.DataDir, "catalog", "show", "nope"); r.code == 0 || !strings.Contains(r.stderr, "catalog ls") {
		t.Errorf("show of a missing entry: %+v", r)
	}

	team := filepath.Join(t.TempDir(), "team")
	if err := os.MkdirAll(filepath.Join(team, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"broken/catalog.yaml": "name: broken\ndescription: x\nversion: 1.0.0\nupstream: https://example.com\nlicence: MIT\n",
		"broken/compose.yaml": "services:\n  web:\n    image: nginx:1.27.2\n    x-quai:\n      sizee: small\n",
	} {
		if err := os.WriteFile(filepath.Join(team, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r := tr.runIn(t, d, "", "--data-dir", d.DataDir, "catalog", "add", team); r.code == 0 || !strings.Contains(r.stderr, "sizee") {
		t.Fatalf("adding a catalog whose entry does not load: %+v", r)
	}
	if err := os.WriteFile(filepath.Join(team, "broken/compose.yaml"), []byte("services:\n  web:\n    image: nginx:1.27.2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "add", team)
	if r := tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "ls", "--catalogs"); !strings.Contains(r.stdout, team) {
		t.Errorf("catalog ls --catalogs:\n%s", r.stdout)
	}
	tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "rm", "team")

	dir := filepath.Join(t.TempDir(), "site")
	r = tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "install", "wordpress", "--org", "acme", "--env", "prod",
		"--dir", dir, "--host", "blog.acme.example", "--set", "WORDPRESS_REPLICAS=3", "--no-up")
	if !strings.Contains(r.stdout, "generated and sealed db_password, db_root_password in orgs/acme/secrets/prod.yaml") ||
		!strings.Contains(r.stdout, "quai up "+dir+" --env prod --org acme") {
		t.Errorf("install --no-up output:\n%s", r.stdout)
	}
	sealed, err := os.ReadFile(filepath.Join(dir, "orgs", "acme", "secrets", "prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := sops.Inspect(sealed)
	if err != nil || strings.Join(meta.Names, ",") != "db_password,db_root_password" {
		t.Fatalf("sealed file: %+v, %v", meta, err)
	}
	env, _ := os.ReadFile(filepath.Join(dir, ".env"))
	if !strings.Contains(string(env), "WORDPRESS_REPLICAS=3") || !strings.Contains(string(env), "QUAI_HOST=blog.acme.example") {
		t.Errorf(".env:\n%s", env)
	}
	ids, _ := tr.exportedIDs(t, d, "acme", "prod")
	pw, err := openValue(t, filepath.Join(dir, "orgs", "acme", "secrets", "prod.yaml"), "db_password", ids)
	if err != nil || len(pw) != 32 {
		t.Fatalf("db_password: %d characters, %v", len(pw), err)
	}
	if strings.Contains(tr.out.String(), pw) {
		t.Fatal("a generated password reached the output")
	}
	// Again on the same folder: secrets kept, nothing generated.
	r = tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "install", "wordpress", "--org", "acme", "--env", "prod", "--dir", dir, "--no-up", "--show-secrets")
	if strings.Contains(r.stdout, "generated") || !strings.Contains(r.stdout, "updated "+dir+": builtin/wordpress 1.0.0 -> 1.0.0") {
		t.Errorf("second install:\n%s", r.stdout)
	}
	if again, _ := openValue(t, filepath.Join(dir, "orgs", "acme", "secrets", "prod.yaml"), "db_password", ids); again != pw {
		t.Error("a second install changed the sealed password")
	}
	// --show-secrets prints what it generates, once.
	other := filepath.Join(t.TempDir(), "other")
	r = tr.must(t, d, "", "--data-dir", d.DataDir, "catalog", "install", "grafana", "--env", "prod", "--dir", other, "--no-up", "--show-secrets")
	if !strings.Contains(r.stdout, "admin_password=") || !strings.Contains(r.stdout, "secrets/prod.yaml") {
		t.Errorf("install --show-secrets:\n%s", r.stdout)
	}
}
