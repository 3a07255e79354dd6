package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

func openTest(t *testing.T) *SQLite {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var testID = stack.Identity{Org: "default", Project: "shop", Env: "dev"}

func putInstance(t *testing.T, s Store, name string) {
	t.Helper()
	if err := s.PutInstance(context.Background(), Instance{Name: name, Identity: testID, Runtime: "process", Dir: "/src/shop"}); err != nil {
		t.Fatal(err)
	}
}

func handle(instance, replica string, release int) runtime.Handle {
	return runtime.Handle{Version: runtime.HandleVersion, Runtime: "process", Instance: testID, Service: "web",
		Replica: replica, Release: release, Hash: "h", ID: "pid-" + replica, Address: "127.0.0.1:1"}
}

func TestOpenSetsWALAndMigrates(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var timeout int
	if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != int(busyTimeout.Milliseconds()) {
		t.Errorf("busy_timeout = %d, want %d", timeout, busyTimeout.Milliseconds())
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != len(ms) || v < 2 {
		t.Errorf("schema version = %d, want %d (every migration)", v, len(ms))
	}
}

// TestMigrateFromEveryVersion builds a database at each older schema
// version, writes data valid at that version, then opens it with the full
// set: the remaining migrations must apply and the data must survive.
func TestMigrateFromEveryVersion(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(ms); n++ {
		t.Run(fmt.Sprintf("from-v%d", n), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "quai.db")
			old, err := openWith(ctx, path, Options{}, ms[:n])
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := old.SchemaVersion(ctx); v != n {
				t.Fatalf("old database at version %d, want %d", v, n)
			}
			// Version 1 has instances, releases and handles.
			putInstance(t, old, "shop-dev")
			insertClearRelease(t, old, "shop-dev", 1, []byte(`{}`), nil)
			// Activated as the old version did: its columns only.
			if _, err := old.db.ExecContext(ctx, `UPDATE releases SET status = ? WHERE instance = ? AND number = 1`, StatusActive, "shop-dev"); err != nil {
				t.Fatal(err)
			}
			if err := old.ReplaceHandles(ctx, "shop-dev", []runtime.Handle{handle("shop-dev", "web-r1-1", 1)}); err != nil {
				t.Fatal(err)
			}
			if _, err := old.db.ExecContext(ctx, `SELECT 1 FROM operations`); n < 2 && err == nil {
				t.Fatal("operations table exists before migration 2")
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}

			s, err := Open(path)
			if err != nil {
				t.Fatalf("open database of version %d: %v", n, err)
			}
			defer func() { _ = s.Close() }()
			if v, _ := s.SchemaVersion(ctx); v != len(ms) {
				t.Fatalf("version after migration = %d, want %d", v, len(ms))
			}
			active, err := s.ActiveRelease(ctx, "shop-dev")
			if err != nil || active.Number != 1 || string(active.Model) != `{}` || !active.Activated.IsZero() {
				t.Fatalf("active release after migration = %+v, %v (activated before the time was recorded: zero)", active, err)
			}
			hs, err := s.Handles(ctx, "shop-dev")
			if err != nil || len(hs) != 1 || hs[0].Replica != "web-r1-1" {
				t.Fatalf("handles after migration = %+v, %v", hs, err)
			}
			if _, err := s.BeginOperation(ctx, Operation{Instance: "shop-dev", Kind: "up", Owner: "t"}); err != nil {
				t.Fatalf("operations after migration: %v", err)
			}
			if err := s.SetSetting(ctx, "k", "v"); err != nil {
				t.Fatalf("settings after migration: %v", err)
			}
		})
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "quai.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := Open(path); err == nil {
		t.Fatal("opening a database from a newer quai succeeded; want an error asking to upgrade")
	}
}

func TestFailedMigrationLeavesVersion(t *testing.T) {
	ctx := context.Background()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	bad := append(append([]migration(nil), ms...), migration{Version: len(ms) + 1, Name: "bad.sql",
		SQL: `CREATE TABLE half (x INTEGER); INSERT INTO nonexistent VALUES (1);`})
	path := filepath.Join(t.TempDir(), "quai.db")
	if _, err := openWith(ctx, path, Options{}, bad); err == nil {
		t.Fatal("a failing migration did not fail Open")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if v, _ := s.SchemaVersion(ctx); v != len(ms) {
		t.Fatalf("version = %d, want %d", v, len(ms))
	}
	var n int
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM half`).Scan(&n)
	if err == nil {
		t.Fatal("the failed migration's first statement was kept; migrations must be atomic")
	}
}

func TestInstances(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.Instance(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown instance: err = %v, want ErrNotFound", err)
	}
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	in := Instance{Name: "shop-dev", Identity: testID, Runtime: "process", Dir: "/a", Created: created, Updated: created}
	if err := s.PutInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Dir, in.Stopped, in.Created, in.Updated = "/b", true, created.Add(time.Hour), created.Add(time.Hour)
	if err := s.PutInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance(ctx, "shop-dev")
	if err != nil {
		t.Fatal(err)
	}
	if got.Dir != "/b" || !got.Stopped || !got.Created.Equal(created) || !got.Updated.Equal(created.Add(time.Hour)) || got.Identity != testID {
		t.Fatalf("instance = %+v; want updated dir/stopped/updated and the original created time", got)
	}
	putInstance(t, s, "blog-prod")
	list, err := s.Instances(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "blog-prod" || list[1].Name != "shop-dev" {
		t.Fatalf("instances = %+v, %v", list, err)
	}
	if list[1].Active != 0 {
		t.Fatalf("instance without a release: active = %d, want 0", list[1].Active)
	}
	r, err := s.CreateRelease(ctx, Release{Instance: "shop-dev", Model: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Instance(ctx, "shop-dev"); got.Active != 0 {
		t.Fatalf("pending release counted as active: active = %d", got.Active)
	}
	if err := s.SwitchRelease(ctx, Switch{Instance: "shop-dev", Release: r.Number, At: created}); err != nil {
		t.Fatal(err)
	}
	if list, err := s.Instances(ctx); err != nil || list[0].Active != 0 || list[1].Active != r.Number {
		t.Fatalf("after the switch: instances = %+v, %v; want shop-dev's active release %d", list, err, r.Number)
	}
	if got, _ := s.Instance(ctx, "shop-dev"); got.Active != r.Number {
		t.Fatalf("after the switch: active = %d, want %d", got.Active, r.Number)
	}
	if err := s.ReplaceHandles(ctx, "shop-dev", []runtime.Handle{handle("shop-dev", "web-r1-1", r.Number)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginOperation(ctx, Operation{Instance: "shop-dev", Kind: "remove"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInstance(ctx, "shop-dev"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInstance(ctx, "shop-dev"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: err = %v, want ErrNotFound", err)
	}
	if rs, _ := s.Releases(ctx, "shop-dev"); len(rs) != 0 {
		t.Fatalf("releases survived the instance: %+v", rs)
	}
	if hs, _ := s.Handles(ctx, "shop-dev"); len(hs) != 0 {
		t.Fatalf("handles survived the instance: %+v", hs)
	}
	if ops, _ := s.RunningOperations(ctx); len(ops) != 0 {
		t.Fatalf("operations survived the instance: %+v", ops)
	}
}

func TestReleasesNumberedAndImmutable(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	putInstance(t, s, "shop-dev")
	putInstance(t, s, "blog-prod")
	for i := 1; i <= 3; i++ {
		r, err := s.CreateRelease(ctx, Release{Instance: "shop-dev", Runtime: "process", Model: []byte(`{"n":1}`),
			Resolved: []byte("services: {}\n"), Hashes: map[string]string{"web": fmt.Sprint(i)}, Cause: "up"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Number != i || r.Status != StatusPending {
			t.Fatalf("release %d: number %d status %s", i, r.Number, r.Status)
		}
	}
	if r, err := s.CreateRelease(ctx, Release{Instance: "blog-prod", Model: []byte(`{}`)}); err != nil || r.Number != 1 {
		t.Fatalf("releases are numbered per instance: got %d, %v", r.Number, err)
	}
	if _, err := s.CreateRelease(ctx, Release{Instance: "ghost", Model: []byte(`{}`)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("release of an unknown instance: err = %v, want ErrConflict", err)
	}

	got, err := s.Release(ctx, "shop-dev", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hashes["web"] != "2" || string(got.Resolved) != "services: {}\n" || got.Images == nil || got.Cause != "up" {
		t.Fatalf("release 2 = %+v", got)
	}
	if _, err := s.Release(ctx, "shop-dev", 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown release: err = %v", err)
	}
	list, err := s.Releases(ctx, "shop-dev")
	if err != nil || len(list) != 3 || list[0].Number != 3 || list[2].Number != 1 {
		t.Fatalf("releases newest first = %+v, %v", list, err)
	}

	// The database refuses to change what a release says.
	if _, err := s.db.ExecContext(ctx, `UPDATE releases SET model = '{}' WHERE instance = 'shop-dev' AND number = 1`); err == nil {
		t.Fatal("a release's model could be rewritten; releases must be immutable")
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE releases SET hashes = '{}' WHERE instance = 'shop-dev' AND number = 1`); err == nil {
		t.Fatal("a release's hashes could be rewritten; releases must be immutable")
	}

	if err := s.FailRelease(ctx, "shop-dev", 1, "web never healthy"); err != nil {
		t.Fatal(err)
	}
	if err := s.FailRelease(ctx, "shop-dev", 1, "again"); !errors.Is(err, ErrConflict) {
		t.Fatalf("failing a failed release: err = %v, want ErrConflict", err)
	}
	if err := s.FailRelease(ctx, "shop-dev", 7, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failing an unknown release: err = %v, want ErrNotFound", err)
	}
	r1, _ := s.Release(ctx, "shop-dev", 1)
	if r1.Status != StatusFailed || r1.Error != "web never healthy" {
		t.Fatalf("failed release = %+v", r1)
	}
	if err := s.SwitchRelease(ctx, Switch{Instance: "shop-dev", Release: 1}); !errors.Is(err, ErrConflict) {
		t.Fatalf("activating a failed release: err = %v, want ErrConflict", err)
	}
}

func TestSwitchReleaseIsAtomic(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	putInstance(t, s, "shop-dev")
	if _, err := s.ActiveRelease(ctx, "shop-dev"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("active release of a new instance: err = %v", err)
	}
	r1, _ := s.CreateRelease(ctx, Release{Instance: "shop-dev", Model: []byte(`{}`)})
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	if err := s.SwitchRelease(ctx, Switch{Instance: "shop-dev", Release: r1.Number, At: at,
		Handles: []runtime.Handle{handle("shop-dev", "web-r1-1", 1), handle("shop-dev", "web-r1-2", 1)}}); err != nil {
		t.Fatal(err)
	}
	r2, _ := s.CreateRelease(ctx, Release{Instance: "shop-dev", Model: []byte(`{}`)})

	// A switch whose handles collide must change nothing at all.
	dup := []runtime.Handle{handle("shop-dev", "web-r2-1", 2), handle("shop-dev", "web-r2-1", 2)}
	if err := s.SwitchRelease(ctx, Switch{Instance: "shop-dev", Release: r2.Number, Handles: dup}); !errors.Is(err, ErrConflict) {
		t.Fatalf("switch with duplicate handles: err = %v, want ErrConflict", err)
	}
	active, _ := s.ActiveRelease(ctx, "shop-dev")
	pending, _ := s.Release(ctx, "shop-dev", 2)
	hs, _ := s.Handles(ctx, "shop-dev")
	if active.Number != 1 || pending.Status != StatusPending || len(hs) != 2 || hs[0].Replica != "web-r1-1" {
		t.Fatalf("a failed switch was half-applied: active %d, release 2 %s, handles %+v", active.Number, pending.Status, hs)
	}

	if err := s.SwitchRelease(ctx, Switch{Instance: "shop-dev", Release: r2.Number, At: at.Add(time.Minute),
		Handles: []runtime.Handle{handle("shop-dev", "web-r2-1", 2)}}); err != nil {
		t.Fatal(err)
	}
	active, _ = s.ActiveRelease(ctx, "shop-dev")
	old, _ := s.Release(ctx, "shop-dev", 1)
	hs, _ = s.Handles(ctx, "shop-dev")
	in, _ := s.Instance(ctx, "shop-dev")
	if active.Number != 2 || old.Status != StatusSuperseded || len(hs) != 1 || hs[0].Replica != "web-r2-1" || hs[0].ID != "pid-web-r2-1" {
		t.Fatalf("after switch: active %d, release 1 %s, handles %+v", active.Number, old.Status, hs)
	}
	if !in.Updated.Equal(at.Add(time.Minute)) {
		t.Fatalf("instance updated = %s, want the switch time", in.Updated)
	}
	// Each release keeps when it became active; a pending one has no time.
	if !active.Activated.Equal(at.Add(time.Minute)) || !old.Activated.Equal(at) {
		t.Fatalf("activated: release 2 %s, release 1 %s; want their switch times", active.Activated, old.Activated)
	}
	if r3, _ := s.CreateRelease(ctx, Release{Instance: "shop-dev", Model: []byte(`{}`)}); !r3.Activated.IsZero() {
		t.Fatalf("a new release has an activation time: %s", r3.Activated)
	}
	if r3, _ := s.Release(ctx, "shop-dev", 3); !r3.Activated.IsZero() {
		t.Fatalf("a pending release has an activation time: %s", r3.Activated)
	}
	if err := s.ReplaceHandles(ctx, "shop-dev", nil); err != nil {
		t.Fatal(err)
	}
	if hs, _ := s.Handles(ctx, "shop-dev"); len(hs) != 0 {
		t.Fatalf("handles after replacing with none: %+v", hs)
	}
}

func TestOperationLock(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	op, err := s.BeginOperation(ctx, Operation{Instance: "shop-dev", Kind: "up", Owner: "daemon-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginOperation(ctx, Operation{Instance: "shop-dev", Kind: "down", Owner: "daemon-b"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second operation: err = %v, want ErrConflict", err)
	}
	if _, err := s.BeginOperation(ctx, Operation{Instance: "blog-prod", Kind: "up", Owner: "daemon-a"}); err != nil {
		t.Fatalf("an operation on another instance must not conflict: %v", err)
	}
	if err := s.SetOperationRelease(ctx, op.ID, 4); err != nil {
		t.Fatal(err)
	}
	running, err := s.RunningOperations(ctx)
	if err != nil || len(running) != 2 || running[0].ID != op.ID || running[0].Release != 4 || running[0].Owner != "daemon-a" {
		t.Fatalf("running = %+v, %v", running, err)
	}
	if err := s.FinishOperation(ctx, op.ID, OpInterrupted, "daemon restarted", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishOperation(ctx, op.ID, OpDone, "", time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("finishing twice: err = %v, want ErrNotFound", err)
	}
	if _, err := s.BeginOperation(ctx, Operation{Instance: "shop-dev", Kind: "down"}); err != nil {
		t.Fatalf("after the stale lock was cleared: %v", err)
	}
}

// TestConcurrentWriters checks that concurrent transactions from many
// goroutines neither fail with SQLITE_BUSY nor lose release numbers.
func TestConcurrentWriters(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	putInstance(t, s, "shop-dev")
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.CreateRelease(ctx, Release{Instance: "shop-dev", Model: []byte(`{}`)}); err != nil {
					errs <- err
				}
				if _, err := s.Releases(ctx, "shop-dev"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, _ := s.Releases(ctx, "shop-dev")
	if len(list) != workers*each || list[0].Number != workers*each {
		t.Fatalf("got %d releases, newest %d; want %d without gaps", len(list), list[0].Number, workers*each)
	}
}

func TestSettings(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.Setting(ctx, "acme.email"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unset setting: err = %v", err)
	}
	for _, v := range []string{"a@example.com", "b@example.com"} {
		if err := s.SetSetting(ctx, "acme.email", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Setting(ctx, "acme.email"); err != nil || got != v {
			t.Fatalf("setting = %q, %v; want %q", got, err, v)
		}
	}
	if err := s.DeleteSetting(ctx, "acme.email"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSetting(ctx, "acme.email"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Setting(ctx, "acme.email"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted setting: err = %v", err)
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "quai.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	putInstance(t, s, "shop-dev")
	if err := s.SetSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if _, err := s.Instance(ctx, "shop-dev"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	ms, _ := loadMigrations()
	if n != len(ms) {
		t.Fatalf("reopening re-ran migrations: %d rows in schema_migrations, want %d", n, len(ms))
	}
}

// insertClearRelease writes a pending release as a quai before sealing did:
// model and document in the clear, with the columns of schema version 1.
func insertClearRelease(t *testing.T, s *SQLite, instance string, number int, model, resolved []byte) {
	t.Helper()
	if _, err := s.db.ExecContext(context.Background(), `INSERT INTO releases(instance, number, status, created, runtime, model, resolved, hashes, images, cause)
		VALUES (?, ?, ?, 1, 'process', ?, ?, '{}', '{}', 'up')`, instance, number, StatusPending, model, resolved); err != nil {
		t.Fatal(err)
	}
}
