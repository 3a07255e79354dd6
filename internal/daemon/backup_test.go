package daemon

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

func TestBackupSettingsSealCredentialsAndPasswords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, err := secrets.LoadOrCreateKey(filepath.Join(dir, "master.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenWith(filepath.Join(dir, "state.db"), store.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	b := &backupSettings{dataDir: dir, store: st, key: key}

	def, err := b.target(ctx, "acme")
	if err != nil || def.URL != "file://"+filepath.Join(dir, "backups", "acme") {
		t.Fatalf("default target = %+v, %v", def, err)
	}
	const secret = "s3cr3t-key-value"
	if err := b.setTarget(ctx, wire.BackupTarget{Org: "acme", URL: "s3://bk/acme?endpoint=127.0.0.1:7070", AccessKey: "AK", SecretKey: secret}); err != nil {
		t.Fatal(err)
	}
	if err := b.setTarget(ctx, wire.BackupTarget{Org: "acme", URL: "ftp://x"}); err == nil {
		t.Error("an ftp target was accepted")
	}
	got, err := b.target(ctx, "acme")
	if err != nil || got.SecretKey != secret || got.AccessKey != "AK" {
		t.Fatalf("target = %+v, %v", got, err)
	}
	if raw, _ := st.Setting(ctx, targetKey("acme")); strings.Contains(raw, secret) {
		t.Errorf("the secret key is stored in the clear: %s", raw)
	}
	admin := &backupAdmin{settings: b, store: st, now: time.Now}
	if shown, _ := admin.BackupTarget(ctx, "acme"); shown.SecretKey != "" {
		t.Error("BackupTarget answers the secret key")
	}

	pw, err := b.password("acme")
	if err != nil || len(pw) != 64 {
		t.Fatalf("password = %d bytes, %v", len(pw), err)
	}
	again, err := b.password("acme")
	if err != nil || !bytes.Equal(pw, again) {
		t.Fatal("the password changed on its second use")
	}
	sealed, err := os.ReadFile(filepath.Join(dir, "keys", "backup-acme.sealed"))
	if err != nil || bytes.Contains(sealed, pw) {
		t.Fatalf("password file: %v; must exist and not hold the password in the clear", err)
	}
	k, err := admin.BackupKey(ctx, "acme")
	if err != nil || k.Password != string(pw) || !strings.HasPrefix(k.Target, "s3://") {
		t.Errorf("BackupKey = %+v, %v", k, err)
	}

	// An imported password never silently replaces a different one.
	if err := admin.ImportBackupKey(ctx, "acme", wire.BackupKeyImport{Password: "other"}); !errors.Is(err, ErrKeyDiffers) {
		t.Errorf("importing a different password: %v; want ErrKeyDiffers", err)
	}
	if err := admin.ImportBackupKey(ctx, "acme", wire.BackupKeyImport{Password: string(pw)}); err != nil {
		t.Errorf("importing the same password: %v", err)
	}
	if err := admin.ImportBackupKey(ctx, "globex", wire.BackupKeyImport{Password: "exported"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.password("globex"); err != nil || string(got) != "exported" {
		t.Errorf("imported password = %q, %v", got, err)
	}
	if err := admin.ImportBackupKey(ctx, "globex", wire.BackupKeyImport{Password: "newer", Replace: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.password("globex"); string(got) != "newer" {
		t.Errorf("replaced password = %q", got)
	}
	b.dropPassword("globex")

	// The age keys of sealed secrets live in a directory per organization.
	if err := os.MkdirAll(filepath.Join(dir, "keys", "acme", "prod"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "acme", "prod", "1.age"), []byte("sealed"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb, err := admin.SystemBackup(ctx, filepath.Join(dir, "sys"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "sys", "state.db"), filepath.Join(dir, "sys", "keys", "acme", "prod", "1.age"),
		filepath.Join(dir, "sys", "keys", "backup-acme.sealed")}
	if strings.Join(sb.Files, ",") != strings.Join(want, ",") {
		t.Errorf("system backup files = %v, want %v", sb.Files, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "sys", "master.key")); err == nil {
		t.Error("the system backup holds the master key beside what it opens")
	}
}

// TestBackupAgesTakeEachServicesNewestBackup: the age the promotion rule
// backup_max_age checks is the oldest of the services' newest completed
// backups; failed runs and other instances do not count.
func TestBackupAgesTakeEachServicesNewestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, err := secrets.LoadOrCreateKey(filepath.Join(dir, "master.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenWith(filepath.Join(dir, "state.db"), store.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ages := backupAges{st}
	if last, err := ages.LastBackup(ctx, "shop-prod"); err != nil || !last.IsZero() {
		t.Fatalf("no backups: %v, %v; want zero", last, err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	run := func(instance, service, status string, started time.Time) {
		t.Helper()
		r, err := st.BeginBackupRun(ctx, store.BackupRun{Instance: instance, Org: "default", Service: service, Kind: "postgres", Trigger: "manual", Status: store.RunRunning, Started: started})
		if err != nil {
			t.Fatal(err)
		}
		r.Status, r.Finished = status, started.Add(time.Minute)
		if err := st.FinishBackupRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	run("shop-prod", "db", store.RunDone, t0)
	run("shop-prod", "db", store.RunDone, t0.Add(48*time.Hour))
	run("shop-prod", "cache", store.RunDone, t0.Add(24*time.Hour))
	run("shop-prod", "cache", store.RunFailed, t0.Add(72*time.Hour))
	run("shop-staging", "db", store.RunDone, t0.Add(96*time.Hour))
	last, err := ages.LastBackup(ctx, "shop-prod")
	if err != nil || !last.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("LastBackup = %v, %v; want the cache's newest completed run, %v", last, err, t0.Add(24*time.Hour))
	}
}
