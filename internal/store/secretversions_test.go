package store

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"regexp"
	"testing"
)

// TestSecretVersions: a value is kept sealed, its version changes with the
// value and with nothing else, reveals nothing of it, survives removing the
// instance and goes with a purge; a release records versions by name.
func TestSecretVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quai.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	const value = "Wq7-correct-horse-battery-staple"
	v1, err := s.PutSecretVersion(ctx, SecretVersion{Instance: "shop-dev", Name: "db_password", Source: SourceGenerated, Value: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(v1.Version) {
		t.Fatalf("version %q is not 16 hex digits", v1.Version)
	}
	again, err := s.PutSecretVersion(ctx, SecretVersion{Instance: "shop-dev", Name: "db_password", Source: "secrets/dev.yaml", Value: []byte(value)})
	if err != nil || again.Version != v1.Version || again.Source != SourceGenerated {
		t.Fatalf("the same value again = %+v, %v; want version %s from %s", again, err, v1.Version, SourceGenerated)
	}
	v2, err := s.PutSecretVersion(ctx, SecretVersion{Instance: "shop-dev", Name: "db_password", Source: "secrets/dev.yaml", Value: []byte(value + "!")})
	if err != nil || v2.Version == v1.Version {
		t.Fatalf("a new value kept the version: %+v, %v", v2, err)
	}
	other, err := s.PutSecretVersion(ctx, SecretVersion{Instance: "shop-prod", Name: "db_password", Source: SourceGenerated, Value: []byte(value)})
	if err != nil || other.Version == v1.Version {
		t.Fatalf("the same value in another instance has the same version (it tells the two are equal): %+v, %v", other, err)
	}
	got, err := s.SecretVersion(ctx, "shop-dev", "db_password", v1.Version)
	if err != nil || string(got.Value) != value {
		t.Fatalf("read back = %q, %v", got.Value, err)
	}
	latest, err := s.LatestSecretVersion(ctx, "shop-dev", "db_password", SourceGenerated)
	if err != nil || latest.Version != v1.Version {
		t.Fatalf("latest generated = %+v, %v", latest, err)
	}
	if _, err := s.LatestSecretVersion(ctx, "shop-dev", "api_key", SourceGenerated); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown secret: err = %v, want ErrNotFound", err)
	}

	putInstance(t, s, "shop-dev")
	rel, err := s.CreateRelease(ctx, Release{Instance: "shop-dev", Model: []byte(`{}`), Secrets: map[string]string{"db_password": v1.Version}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Release(ctx, "shop-dev", rel.Number); err != nil || r.Secrets["db_password"] != v1.Version {
		t.Fatalf("release secrets = %v, %v", r.Secrets, err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE releases SET secrets = '{}' WHERE instance = 'shop-dev'`); err == nil {
		t.Fatal("a release's secret versions could be rewritten; releases must be immutable")
	}

	if err := s.DeleteInstance(ctx, "shop-dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SecretVersion(ctx, "shop-dev", "db_password", v1.Version); err != nil {
		t.Fatalf("removing the instance dropped its secrets (its volumes still need them): %v", err)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	assertNoneContains(t, storeFiles(path), value, base64.StdEncoding.EncodeToString([]byte(value)))
	if err := s.DeleteSecretVersions(ctx, "shop-dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SecretVersion(ctx, "shop-dev", "db_password", v1.Version); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a purge: err = %v, want ErrNotFound", err)
	}
	if _, err := s.SecretVersion(ctx, "shop-prod", "db_password", other.Version); err != nil {
		t.Fatalf("a purge of one instance dropped another's secrets: %v", err)
	}
}
