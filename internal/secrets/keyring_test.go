package secrets

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func newTestKeyring(t *testing.T, dir string) *Keyring {
	t.Helper()
	master, err := LoadOrCreateKey(filepath.Join(dir, "master.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kr := NewKeyring(filepath.Join(dir, "keys"), master, nil, nil)
	// age's default scrypt work factor takes many seconds under -race.
	kr.workFactor = 10
	return kr
}

// roundTrip encrypts a message to recipient and decrypts it with ids.
func roundTrip(t *testing.T, recipient string, ids []age.Identity) error {
	t.Helper()
	rcp, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcp)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, "hello")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(&buf, ids...)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "hello" {
		t.Fatalf("decrypted %q, %v", b, err)
	}
	return nil
}

func TestKeyringCreatesOneKeyPerOrgAndEnvSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	kr := newTestKeyring(t, dir)
	prod, created, err := kr.Ensure("acme", "prod")
	if err != nil || !created || prod.Generation != 1 || !prod.Current {
		t.Fatalf("Ensure = %+v, %v, %v; want generation 1, created", prod, created, err)
	}
	again, created, err := kr.Ensure("acme", "prod")
	if err != nil || created || again.Recipient != prod.Recipient {
		t.Fatalf("second Ensure = %+v, %v, %v; want the same key, not created", again, created, err)
	}
	staging, _, err := kr.Ensure("acme", "staging")
	if err != nil || staging.Recipient == prod.Recipient {
		t.Fatalf("staging key %+v, %v; want a key of its own", staging, err)
	}

	ids, _, err := kr.Identities("acme", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, prod.Recipient, ids); err != nil {
		t.Errorf("prod's key does not open what was sealed for it: %v", err)
	}
	stagingIDs, _, err := kr.Identities("acme", "staging")
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, prod.Recipient, stagingIDs); err == nil {
		t.Error("staging's key opens what was sealed for prod")
	}
	if _, _, err := kr.Identities("globex", "prod"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Identities of an org without a key: %v, want ErrNoKey", err)
	}

	// On disk: 0600 files in 0700 directories, no private key in clear.
	err = filepath.WalkDir(filepath.Join(dir, "keys"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := KeyFileMode
		if d.IsDir() {
			want = KeyDirMode
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(bytes.ToUpper(b), []byte("AGE-SECRET-KEY-1")) {
				t.Errorf("%s holds a private key in clear", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeyFileIsBoundToItsOrgEnvAndGeneration(t *testing.T) {
	dir := t.TempDir()
	kr := newTestKeyring(t, dir)
	if _, _, err := kr.Ensure("acme", "prod"); err != nil {
		t.Fatal(err)
	}
	// Moving acme's key to globex (and saying so inside) must not make it
	// globex's: the seal is bound to acme/prod#1.
	b, err := os.ReadFile(kr.keyPath("acme", "prod", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(kr.scopeDir("globex", "prod"), KeyDirMode); err != nil {
		t.Fatal(err)
	}
	moved := bytes.Replace(b, []byte(`"org": "acme"`), []byte(`"org": "globex"`), 1)
	if err := os.WriteFile(kr.keyPath("globex", "prod", 1), moved, KeyFileMode); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kr.Identities("globex", "prod"); !errors.Is(err, ErrUnseal) {
		t.Fatalf("a key moved to another org opened: %v; want ErrUnseal", err)
	}
	// Another master key opens nothing.
	other := newTestKeyring(t, t.TempDir())
	other.dir = kr.dir
	if _, _, err := other.Identities("acme", "prod"); !errors.Is(err, ErrUnseal) {
		t.Fatalf("another master key opened acme/prod: %v; want ErrUnseal", err)
	}
}

func TestRotateKeepsOldGenerationsForDecryption(t *testing.T) {
	kr := newTestKeyring(t, t.TempDir())
	g1, _, err := kr.Ensure("default", "prod")
	if err != nil {
		t.Fatal(err)
	}
	g2, err := kr.Rotate("default", "prod")
	if err != nil || g2.Generation != 2 || g2.Recipient == g1.Recipient {
		t.Fatalf("Rotate = %+v, %v; want a new generation 2", g2, err)
	}
	cur, created, err := kr.Ensure("default", "prod")
	if err != nil || created || cur.Recipient != g2.Recipient {
		t.Fatalf("current key after rotate = %+v, %v; want generation 2", cur, err)
	}
	ids, infos, err := kr.Identities("default", "prod")
	if err != nil || len(ids) != 2 || infos[0].Generation != 2 || !infos[0].Current || infos[1].Current {
		t.Fatalf("Identities = %d, %+v, %v; want generations 2 (current) and 1", len(ids), infos, err)
	}
	if err := roundTrip(t, g1.Recipient, ids); err != nil {
		t.Errorf("what generation 1 sealed no longer opens: %v", err)
	}
	if _, err := kr.Retire("default", "prod", 2, nil); !errors.Is(err, ErrKeyInUse) {
		t.Errorf("retiring the current generation: %v, want ErrKeyInUse", err)
	}
	if _, err := kr.Retire("default", "prod", 1, nil); err != nil {
		t.Fatalf("retire generation 1 that no file lists: %v", err)
	}
	if _, _, err := kr.Identities("default", "prod"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := kr.Keys("default", "prod"); len(keys) != 1 || keys[0].Generation != 2 {
		t.Errorf("keys after retiring generation 1: %+v", keys)
	}
}

func TestExportImportMovesKeysToAnotherHost(t *testing.T) {
	src := newTestKeyring(t, t.TempDir())
	prod, _, err := src.Ensure("acme", "prod")
	if err != nil {
		t.Fatal(err)
	}
	g2, err := src.Rotate("acme", "prod")
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := src.Ensure("default", "dev")
	if err != nil {
		t.Fatal(err)
	}
	const pass = "correct horse battery staple"
	bundle, keys, err := src.Export("", "", pass)
	if err != nil || len(keys) != 3 {
		t.Fatalf("Export = %d keys, %v", len(keys), err)
	}
	if !bytes.HasPrefix(bundle, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) || bytes.Contains(bundle, []byte("AGE-SECRET-KEY")) {
		t.Fatalf("an export with a passphrase is not an armored age file:\n%s", bundle)
	}

	dst := newTestKeyring(t, t.TempDir())
	if _, err := dst.Import(bundle, "wrong", "", ""); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("import with a wrong passphrase: %v, want ErrPassphrase", err)
	}
	res, err := dst.Import(bundle, pass, "", "")
	if err != nil || len(res.Imported) != 3 || len(res.Present) != 0 {
		t.Fatalf("Import = %+v, %v; want 3 keys imported", res, err)
	}
	ids, infos, err := dst.Identities("acme", "prod")
	if err != nil || len(ids) != 2 || infos[0].Recipient != g2.Recipient || infos[1].Recipient != prod.Recipient {
		t.Fatalf("imported acme/prod = %+v, %v; want both generations in order", infos, err)
	}
	if err := roundTrip(t, prod.Recipient, ids); err != nil {
		t.Errorf("imported key does not open what the original sealed: %v", err)
	}
	if k, _, _ := dst.Ensure("default", "dev"); k.Recipient != dev.Recipient {
		t.Errorf("imported default/dev = %+v, want %s", k, dev.Recipient)
	}
	again, err := dst.Import(bundle, pass, "", "")
	if err != nil || len(again.Imported) != 0 || len(again.Present) != 3 {
		t.Errorf("second import = %+v, %v; want every key present", again, err)
	}
}

func TestImportPlainIdentityFileNeedsOrgAndEnv(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file := []byte("# created: 2026-01-01T00:00:00Z\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n")
	kr := newTestKeyring(t, t.TempDir())
	if _, err := kr.Import(file, "", "", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("import of a key that does not say where it belongs, without --org/--env: %v, want ErrInvalid", err)
	}
	// The newly created key of staging is generation 1; the imported one
	// comes after it and becomes current.
	if _, _, err := kr.Ensure("acme", "staging"); err != nil {
		t.Fatal(err)
	}
	res, err := kr.Import(file, "", "acme", "staging")
	if err != nil || len(res.Imported) != 1 || res.Imported[0].Generation != 2 || !res.Imported[0].Current {
		t.Fatalf("Import = %+v, %v; want generation 2, current", res, err)
	}
	plain, _, err := kr.Export("acme", "staging", "")
	if err != nil || !bytes.Contains(plain, []byte(id.String())) || strings.Count(string(plain), "AGE-SECRET-KEY-1") != 2 {
		t.Fatalf("plain export:\n%s\n%v", plain, err)
	}
	if _, err := age.ParseIdentities(bytes.NewReader(plain)); err != nil {
		t.Errorf("a plain export is not an age identity file: %v", err)
	}
}
