package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/stack"
)

// Passwords of the test project: one written in compose.yaml, one in an
// env_file.
const (
	inlinePassword  = "inline-pw-7f3a9c1e"
	envFilePassword = "envfile-pw-52b8d0aa"
)

// secretProject loads a real project whose database password is in the
// service's environment and whose API token is in an env_file.
func secretProject(t *testing.T) *stack.Model {
	t.Helper()
	dir := t.TempDir()
	compose := `x-quai:
  project: vault
services:
  web:
    image: nginx:1.27
    env_file: [app.env]
    environment:
      DB_PASSWORD: ` + inlinePassword + `
    healthcheck:
      test: ["CMD", "check", "--password", "` + inlinePassword + `"]
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.env"), []byte("API_TOKEN="+envFilePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := stack.Load(context.Background(), stack.Options{Dir: dir, Env: "prod", Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Services[0].Environment["API_TOKEN"] != envFilePassword {
		t.Fatalf("the env_file's value did not reach the model: %v", m.Services[0].Environment)
	}
	return m
}

// storeFiles are the database's files on disk.
func storeFiles(path string) []string { return []string{path, path + "-wal", path + "-shm"} }

// assertNoneContains fails when any existing file holds one of the secrets.
func assertNoneContains(t *testing.T, files []string, secrets ...string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s (%d bytes) contains the secret %q", filepath.Base(f), len(b), s)
			}
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
	}
}

func TestStoreFilesArePrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	putInstance(t, s, "shop-dev")
	if _, err := s.CreateRelease(context.Background(), Release{Instance: "shop-dev", Model: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(storeFiles(path), filepath.Join(filepath.Dir(path), MasterKeyName)) {
		assertMode(t, f, FileMode)
	}
}

func TestOpenTightensWideStoreFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	// A first store keeps the -wal and -shm files in place (the last
	// connection to close removes them).
	first, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Close() })
	putInstance(t, first, "shop-dev")
	for _, f := range storeFiles(path) {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logged bytes.Buffer
	s, err := OpenWith(path, Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, f := range storeFiles(path) {
		assertMode(t, f, FileMode)
		if !strings.Contains(logged.String(), f) {
			t.Errorf("the log does not name the tightened %s:\n%s", filepath.Base(f), logged.String())
		}
	}
}

func TestNoSecretOnDiskAfterRecordingARelease(t *testing.T) {
	m := secretProject(t)
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	putInstance(t, s, "vault-prod")
	r, err := s.CreateRelease(ctx, Release{Instance: "vault-prod", Model: mj, Resolved: m.Resolved, Cause: "up"})
	if err != nil {
		t.Fatal(err)
	}
	// Checked while the store is open: the WAL holds the newest writes.
	assertNoneContains(t, storeFiles(path), inlinePassword, envFilePassword)
	var secureDelete int
	if err := s.db.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&secureDelete); err != nil || secureDelete != 1 {
		t.Errorf("secure_delete = %d (%v); want 1, so deleted content is zeroed", secureDelete, err)
	}

	got, err := s.Release(ctx, "vault-prod", r.Number)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Model, mj) || !bytes.Equal(got.Resolved, m.Resolved) {
		t.Error("the release read back differs from the one recorded")
	}
}

func TestSealedReleaseDoesNotOpenAsAnotherRelease(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	putInstance(t, s, "shop-dev")
	if _, err := s.CreateRelease(ctx, Release{Instance: "shop-dev", Model: []byte(`{"pw":"one"}`), Resolved: []byte("doc")}); err != nil {
		t.Fatal(err)
	}
	var model, resolved []byte
	if err := s.db.QueryRowContext(ctx, `SELECT model, resolved FROM releases WHERE number = 1`).Scan(&model, &resolved); err != nil {
		t.Fatal(err)
	}
	// Release 1's sealed bytes, copied as release 2, and with its columns swapped.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO releases(instance, number, status, created, runtime, model, resolved, hashes, images, cause, sealed)
		VALUES ('shop-dev', 2, 'pending', 1, 'process', ?, ?, '{}', '{}', 'up', 1), ('shop-dev', 3, 'pending', 1, 'process', ?, ?, '{}', '{}', 'up', 1)`,
		model, resolved, resolved, model); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3} {
		if _, err := s.Release(ctx, "shop-dev", n); !errors.Is(err, secrets.ErrUnseal) {
			t.Errorf("release %d made of release 1's sealed columns: err %v; want ErrUnseal", n, err)
		}
	}
	if _, err := s.Release(ctx, "shop-dev", 1); err != nil {
		t.Errorf("release 1: %v", err)
	}
}

func TestReleasesStoredInTheClearGetSealed(t *testing.T) {
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	old, err := openWith(ctx, path, Options{}, ms[:2])
	if err != nil {
		t.Fatal(err)
	}
	putInstance(t, old, "shop-dev")
	putInstance(t, old, "gone-dev")
	model := []byte(`{"env":{"DB_PASSWORD":"` + inlinePassword + `"}}`)
	insertClearRelease(t, old, "shop-dev", 1, model, []byte("DB_PASSWORD: "+inlinePassword+"\n"))
	insertClearRelease(t, old, "shop-dev", 2, model, nil)
	// An instance removed by an older quai (without secure_delete) leaves
	// its clear text in free pages (the model's size puts it on overflow
	// pages of its own).
	insertClearRelease(t, old, "gone-dev", 1, []byte(`{"env":{"TOKEN":"`+envFilePassword+`"},"pad":"`+strings.Repeat("x", 20000)+`"}`), nil)
	old.db.SetMaxOpenConns(1)
	if _, err := old.db.ExecContext(ctx, `PRAGMA secure_delete = 0`); err != nil {
		t.Fatal(err)
	}
	if err := old.DeleteInstance(ctx, "gone-dev"); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Contains(b, []byte(envFilePassword)) {
		t.Fatalf("the removed release's clear text is not in the old file's free space (%v); the test proves nothing", err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	assertNoneContains(t, storeFiles(path), inlinePassword, envFilePassword)
	var clear int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM releases WHERE sealed = 0`).Scan(&clear); err != nil || clear != 0 {
		t.Errorf("%d releases still in the clear (%v)", clear, err)
	}
	r1, err := s.Release(ctx, "shop-dev", 1)
	if err != nil || !bytes.Equal(r1.Model, model) || string(r1.Resolved) != "DB_PASSWORD: "+inlinePassword+"\n" {
		t.Errorf("release 1 after sealing: %q %q, %v; want the values as written", r1.Model, r1.Resolved, err)
	}
	if r2, err := s.Release(ctx, "shop-dev", 2); err != nil || r2.Resolved != nil {
		t.Errorf("release 2 after sealing: resolved %q, %v; want none", r2.Resolved, err)
	}
	// Sealed once, never again.
	if _, err := s.db.ExecContext(ctx, `UPDATE releases SET model = x'00', sealed = 1 WHERE number = 1`); err == nil {
		t.Error("a sealed release's model could be rewritten; releases must be immutable")
	}
}
