package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/secrets/sops"
)

// sealInto seals values into the project file of (org, env) in dir through
// Keyring.Change, as the CLI does, and returns the result.
func sealInto(t *testing.T, kr *Keyring, dir string, c FileChange) FileResult {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(ProjectFile(c.Org, c.Env)))
	if b, err := os.ReadFile(path); err == nil {
		c.Sealed = b
	}
	if c.Org == "" && len(c.Sealed) == 0 && len(c.SealFor) == 0 {
		c.SealFor = []string{"default"}
	}
	res, err := kr.Change(c)
	if err != nil {
		t.Fatalf("Change %+v: %v", c.Set, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, res.Sealed, 0o644); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestOpenerOrgFileOverridesBaseFile(t *testing.T) {
	dir := t.TempDir()
	kr := newTestKeyring(t, t.TempDir())
	res := sealInto(t, kr, dir, FileChange{Env: "prod", SealFor: []string{"default", "acme"},
		Set: map[string]string{"db_password": "base-pw", "smtp": "base-smtp"}})
	if len(res.Created) != 2 || len(res.Recipients) != 2 {
		t.Fatalf("a new base file for two orgs: created %v, recipients %v; want both keys made and listed", res.Created, res.Recipients)
	}
	sealInto(t, kr, dir, FileChange{Org: "acme", Env: "prod", Set: map[string]string{"db_password": "acme-pw"}})

	op := NewOpener(kr)
	got, err := op.Open(dir, "acme", "prod", []string{"db_password", "smtp", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Opened{
		"db_password": {Value: []byte("acme-pw"), Source: "orgs/acme/secrets/prod.yaml"},
		"smtp":        {Value: []byte("base-smtp"), Source: "secrets/prod.yaml"},
	}
	if len(got) != len(want) {
		t.Fatalf("Open = %v, want %v (a missing name is left out)", got, want)
	}
	for n, w := range want {
		if g := got[n]; !bytes.Equal(g.Value, w.Value) || g.Source != w.Source {
			t.Errorf("%s = %q from %s, want %q from %s", n, g.Value, g.Source, w.Value, w.Source)
		}
	}
	def, err := op.Open(dir, "default", "prod", nil)
	if err != nil || string(def["db_password"].Value) != "base-pw" || len(def) != 2 {
		t.Errorf("default org gets %v, %v; want the base file's values", def, err)
	}
}

func TestOpenerRefusesWhatItsOrgAndEnvCannotOpen(t *testing.T) {
	dir := t.TempDir()
	kr := newTestKeyring(t, t.TempDir())
	sealInto(t, kr, dir, FileChange{Env: "prod", Set: map[string]string{"db_password": "base-pw"}})
	op := NewOpener(kr)

	// globex has no key and the base file is not sealed for it.
	_, err := op.Open(dir, "globex", "prod", []string{"db_password"})
	if !errors.Is(err, ErrNotSealedFor) || !strings.Contains(err.Error(), "secrets/prod.yaml") ||
		!strings.Contains(err.Error(), "quai secrets rotate "+dir+" --env prod --add-org globex") {
		t.Errorf("open for an org the base file is not sealed for: %v; want ErrNotSealedFor with the file and the rotate --add-org fix", err)
	}
	// A name the file does not hold needs nothing opened.
	if got, err := op.Open(dir, "globex", "prod", []string{"other"}); err != nil || len(got) != 0 {
		t.Errorf("a name in no file: %v, %v; want nothing and no error", got, err)
	}

	// Another env's key never opens prod's file, even when it is listed:
	// the opener tries (org, env)'s keys only.
	path := filepath.Join(dir, "secrets", "prod.yaml")
	prodFile, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "staging.yaml"), prodFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kr.Ensure("default", "staging"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Open(dir, "default", "staging", nil); !errors.Is(err, ErrNotSealedFor) {
		t.Errorf("prod's file under staging's name opened with staging's key: %v", err)
	}

	// A tampered value is an error naming the file, never a value.
	tampered := bytes.Replace(prodFile, []byte("ENC[AES256_GCM,data:"), []byte("ENC[AES256_GCM,data:AA"), 1)
	if err := os.WriteFile(path, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = op.Open(dir, "default", "prod", []string{"db_password"})
	if err == nil || !strings.Contains(err.Error(), "secrets/prod.yaml") || strings.Contains(err.Error(), "base-pw") {
		t.Errorf("tampered file: %v; want an error naming the file", err)
	}
	// A file that is not SOPS says how to seal it.
	if err := os.WriteFile(path, []byte("db_password: plain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = op.Open(dir, "default", "prod", nil)
	if !errors.Is(err, sops.ErrNotSOPS) || strings.Contains(err.Error(), "plain") {
		t.Errorf("a plain YAML file: %v; want ErrNotSOPS without its content", err)
	}
}

func TestChangeRotateAndRecipients(t *testing.T) {
	dir := t.TempDir()
	kr := newTestKeyring(t, t.TempDir())
	first := sealInto(t, kr, dir, FileChange{Env: "prod", Set: map[string]string{"a": "value-a", "b": "value-b"}})
	def := first.Recipients[0].Key
	if def == nil || def.Org != "default" || def.Env != "prod" {
		t.Fatalf("recipients of a new base file: %+v; want default/prod's key", first.Recipients)
	}

	// Rotating: every ciphertext changes, no value does.
	rotated := sealInto(t, kr, dir, FileChange{Env: "prod", Rotate: true})
	ciphers := func(b []byte) []string {
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if i := strings.Index(l, "ENC["); i >= 0 {
				out = append(out, l[i:])
			}
		}
		return out
	}
	before, after := ciphers(first.Sealed), ciphers(rotated.Sealed)
	// Two values and the MAC.
	if len(before) != 3 || len(after) != 3 {
		t.Fatalf("ciphertexts before %v, after %v", before, after)
	}
	for _, c := range after {
		if slices.Contains(before, c) {
			t.Errorf("ciphertext %s survived a rotation", c)
		}
	}
	ids, _, err := kr.Identities("default", "prod")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sops.Decrypt(rotated.Sealed, ids...)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := doc.Get("a"); v != "value-a" {
		t.Errorf("a after rotation = %q", v)
	}

	// --add-org then --remove-org; --new-key moves to a new generation.
	added := sealInto(t, kr, dir, FileChange{Env: "prod", Rotate: true, AddOrgs: []string{"acme"}})
	if len(added.Created) != 1 || added.Created[0].Org != "acme" || len(added.Recipients) != 2 {
		t.Fatalf("--add-org acme: created %v, recipients %v", added.Created, added.Recipients)
	}
	if got, err := NewOpener(kr).Open(dir, "acme", "prod", nil); err != nil || string(got["b"].Value) != "value-b" {
		t.Errorf("acme opens the base file after --add-org: %v, %v", got, err)
	}
	renewed := sealInto(t, kr, dir, FileChange{Env: "prod", Rotate: true, RemoveOrgs: []string{"acme"}, NewKey: true})
	if len(renewed.Recipients) != 1 || renewed.Recipients[0].Key.Generation != 2 {
		t.Fatalf("--remove-org acme --new-key: recipients %+v; want default/prod#2 alone", renewed.Recipients)
	}
	if _, err := NewOpener(kr).Open(dir, "acme", "prod", nil); !errors.Is(err, ErrNotSealedFor) {
		t.Errorf("acme after --remove-org: %v, want ErrNotSealedFor", err)
	}

	// Generation 1 retires once no file lists it; acme's key is listed by
	// an old copy of the file.
	files := map[string][]byte{"secrets/prod.yaml": renewed.Sealed, "secrets/old.yaml": added.Sealed}
	if _, err := kr.Retire("default", "prod", 1, files); !errors.Is(err, ErrKeyInUse) || !strings.Contains(err.Error(), "secrets/old.yaml") {
		t.Errorf("retire a generation a file lists: %v; want ErrKeyInUse naming secrets/old.yaml", err)
	}
	delete(files, "secrets/old.yaml")
	if _, err := kr.Retire("default", "prod", 1, files); err != nil {
		t.Errorf("retire a generation no file lists: %v", err)
	}

	// Removing a name that is not there changes nothing.
	if _, err := kr.Change(FileChange{Env: "prod", Sealed: renewed.Sealed, Delete: []string{"nope"}}); !errors.Is(err, ErrNoSecret) {
		t.Errorf("delete of a missing name: %v, want ErrNoSecret", err)
	}
	if _, err := kr.Change(FileChange{Env: "prod", Sealed: renewed.Sealed, Set: map[string]string{"c": ""}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty value: %v, want ErrInvalid", err)
	}
}
