package stack

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestPromotionRules: x-quai.promotion is read from the stack as loaded
// for the target: the target environment's overlay sets the rules of that
// environment only, with where each rule is written; a rule in the base
// applies to every environment; the overlay's keys override its keys, but
// lists are merged as Compose merges them (appended), so from in both
// allows the environments of both.
func TestPromotionRules(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml": "services:\n  api:\n    image: ghcr.io/example/api:1.0\nx-quai:\n  promotion:\n    from: [dev]\n",
		"envs/prod.yaml": "x-quai:\n  promotion:\n    from: [staging, qa, staging]\n    min_healthy: 10m\n" +
			"    backup_max_age: 24h\n    require_approval: true\n",
		"envs/staging.yaml": "services:\n  api:\n    environment:\n      MODE: staging\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func(env string) *Promotion {
		t.Helper()
		m, err := Load(context.Background(), Options{Dir: dir, Env: env, Environ: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		return m.Promotion
	}
	prod := load("prod")
	if prod == nil {
		t.Fatal("prod has no promotion rules")
	}
	want := Promotion{From: []string{"dev", "qa", "staging"}, MinHealthy: 10 * time.Minute, BackupMaxAge: 24 * time.Hour, RequireApproval: true}
	if !slices.Equal(prod.From, want.From) || prod.MinHealthy != want.MinHealthy ||
		prod.BackupMaxAge != want.BackupMaxAge || !prod.RequireApproval {
		t.Errorf("prod rules %+v, want %+v", prod, want)
	}
	if got := prod.Where["min_healthy"]; got != (Position{File: "envs/prod.yaml", Line: 4, Column: 5}) {
		t.Errorf("min_healthy is written at %v, want envs/prod.yaml:4:5", got)
	}
	staging := load("staging")
	if staging == nil || len(staging.From) != 1 || staging.From[0] != "dev" || staging.MinHealthy != 0 {
		t.Errorf("staging rules %+v: want the base's from: [dev] only", staging)
	}
	if got := staging.Where["from"]; got.File != "compose.yaml" {
		t.Errorf("staging's from is written at %v, want compose.yaml", got)
	}
}

// TestWithImages: pinned services run the pin without their build, their
// hash changes with the image, and the model given is left alone.
func TestWithImages(t *testing.T) {
	id := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	api := &Service{Name: "api", Image: "example/api:1", Build: &Build{Context: "/p"}}
	api.Hash = serviceHash(api, "/p")
	db := &Service{Name: "db", Image: "postgres:16"}
	m := &Model{Dir: "/p", Services: []*Service{api, db}}
	got := m.WithImages(map[string]string{"api": id, "gone": id})
	a := got.Service("api")
	if a.Image != id || a.Build != nil || a.Hash == api.Hash || a.Hash != serviceHash(a, "/p") {
		t.Errorf("pinned api %+v (hash was %s)", a, api.Hash)
	}
	if got.Service("db") != db {
		t.Error("a service without a pin must be shared as it is")
	}
	if api.Image != "example/api:1" || api.Build == nil {
		t.Errorf("WithImages changed the model it was given: %+v", api)
	}
}
