package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ksplitter "github.com/kopia/kopia/repo/splitter"

	"github.com/quai-dev/quai/internal/backup/s3test"
)

var password = []byte("correct horse battery staple")

func testTags(service string) map[string]string {
	return map[string]string{"org": "acme", "project": "shop", "env": "prod", "instance": "shop-prod", "service": service, "kind": "postgres"}
}

// targets runs f on a directory target and on a real S3 server.
func targets(t *testing.T, f func(t *testing.T, tgt Target)) {
	t.Run("file", func(t *testing.T) {
		f(t, Target{URL: "file://" + filepath.Join(t.TempDir(), "repo")})
	})
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		f(t, s3Target(srv))
	})
}

func s3Target(srv *s3test.Server) Target {
	return Target{URL: srv.URL("backups", "acme"), AccessKey: srv.Access, SecretKey: srv.Secret}
}

func open(t *testing.T, tgt Target) *Repo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Open(ctx, tgt, password)
	if err != nil {
		t.Fatalf("Open(%s): %v", redactURL(tgt.URL), err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// dumpLike is n bytes shaped like a SQL dump: repetitive text that
// compresses, with enough variety that chunks differ.
func dumpLike(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b bytes.Buffer
	b.Grow(n + 256)
	words := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d\t%s %s\t%s@example.com\t2026-%02d-%02d %02d:%02d:%02d\t%d.%02d\t%x\n",
			i, words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))],
			1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(100000), rng.IntN(100), rng.Uint64())
	}
	return b.Bytes()[:n]
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, ^seed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func streamOf(data []byte) func(context.Context, io.Writer) error {
	return func(_ context.Context, w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	}
}

func snap(t *testing.T, r *Repo, src Source, tags map[string]string) Snapshot {
	t.Helper()
	s, err := r.Snapshot(testCtx(t), src, tags, nil)
	if err != nil {
		t.Fatalf("Snapshot(%s): %v", src.Name, err)
	}
	return s
}

func restoreBytes(t *testing.T, r *Repo, id string) ([]byte, error) {
	t.Helper()
	var got []byte
	err := r.Restore(testCtx(t), id, func(_ context.Context, rd io.Reader) error {
		var err error
		got, err = io.ReadAll(rd)
		return err
	}, "")
	return got, err
}

// writeTree makes a directory with nested files, an empty file, a
// symlink and distinct modes, and returns it.
func writeTree(t *testing.T, dir string, seed uint64) string {
	t.Helper()
	files := map[string][]byte{
		"a.txt":              []byte("hello\n"),
		"empty":              nil,
		"sub/b.bin":          randomBytes(seed, 300<<10),
		"sub/deeper/c.sql":   dumpLike(seed, 2<<20),
		"sub/deeper/d.txt":   []byte(strings.Repeat("quai ", 1000)),
		"other/e with space": []byte("spaces\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "sub/b.bin"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/b.bin", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// treeSum describes a tree: each entry's path, type, mode and content hash.
func treeSum(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			line += " " + hex.EncodeToString(h[:])
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStreamAndDirectoryRoundTrip(t *testing.T) {
	targets(t, func(t *testing.T, tgt Target) {
		r := open(t, tgt)
		data := append(dumpLike(1, 6<<20), randomBytes(2, 1<<20)...)
		var reports []Progress
		s, err := r.Snapshot(testCtx(t), Source{Name: "db.pgdump", Stream: streamOf(data)}, testTags("db"), func(p Progress) { reports = append(reports, p) })
		if err != nil {
			t.Fatal(err)
		}
		if s.Size != int64(len(data)) || s.Files != 1 || s.Added <= 0 || s.Added >= int64(len(data)) || !s.Stream || s.Name != "db.pgdump" {
			t.Errorf("stream snapshot = %+v; want size %d, 1 file, 0 < added < size (it compresses)", s, len(data))
		}
		if len(reports) == 0 || reports[len(reports)-1].Bytes != int64(len(data)) {
			t.Errorf("progress reports %+v; the last should count all %d bytes", reports, len(data))
		}
		got, err := restoreBytes(t, r, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("restored stream differs: %d bytes, want %d", len(got), len(data))
		}

		src := writeTree(t, t.TempDir(), 3)
		d := snap(t, r, Source{Name: "uploads", Dir: src}, testTags("app"))
		if d.Stream || d.Files != 6 {
			t.Errorf("directory snapshot = %+v; want 6 files", d)
		}
		// Unchanged files are not read again: the next snapshot of the
		// series adds only its metadata.
		d2 := snap(t, r, Source{Name: "uploads", Dir: src}, testTags("app"))
		if d2.Added > 64<<10 {
			t.Errorf("a second snapshot of an unchanged tree added %d bytes; want metadata only", d2.Added)
		}
		// The S3 keys never reach the disk (kopia's connection file names
		// the storage this process opened instead).
		if tgt.SecretKey != "" {
			err := filepath.WalkDir(r.tmp, func(p string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				if err == nil && bytes.Contains(b, []byte(tgt.SecretKey)) {
					t.Errorf("%s holds the S3 secret key", p)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}

		dst := filepath.Join(t.TempDir(), "restored")
		// A file the snapshot lacks goes: the directory ends as the snapshot.
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "stray"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := r.Restore(testCtx(t), d.ID, nil, dst); err != nil {
			t.Fatal(err)
		}
		if want, got := treeSum(t, src), treeSum(t, dst); !slices.Equal(want, got) {
			t.Fatalf("restored tree differs:\n got %q\nwant %q", got, want)
		}

		// The wrong kind of restore says what the snapshot holds.
		if err := r.Restore(testCtx(t), s.ID, nil, dst); err == nil || !strings.Contains(err.Error(), "holds a stream") {
			t.Errorf("restoring a stream into a directory: %v", err)
		}
		if _, err := restoreBytes(t, r, "0123456789abcdef0123456789abcdef"); !errors.Is(err, ErrNotFound) {
			t.Errorf("restoring an unknown ID: %v; want ErrNotFound", err)
		}

		// List filters by tags, newest first.
		all, err := r.List(testCtx(t), map[string]string{"org": "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].ID != d2.ID || all[1].ID != d.ID || all[2].ID != s.ID {
			t.Errorf("List(org) = %v; want the directory snapshots then the stream snapshot", ids(all))
		}
		dbs, err := r.List(testCtx(t), map[string]string{"service": "db"})
		if err != nil {
			t.Fatal(err)
		}
		if len(dbs) != 1 || dbs[0].ID != s.ID || dbs[0].Tags["instance"] != "shop-prod" || dbs[0].Added != s.Added {
			t.Errorf("List(service=db) = %+v; want the stream snapshot with its tags and added bytes", dbs)
		}
	})
}

func ids(ss []Snapshot) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// A second snapshot of a 50 MiB dump after a 1 % change stores about that
// 1 %: what the change touches, the chunks around it and the metadata.
func TestDedupAfterOnePercentChange(t *testing.T) {
	r := open(t, Target{URL: "file://" + filepath.Join(t.TempDir(), "repo")})
	const size = 50 << 20
	// Random data: compression cannot hide what dedup misses.
	v1 := randomBytes(7, size)
	first := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(v1)}, testTags("db"))
	if first.Added < size {
		t.Fatalf("the first snapshot added %d bytes for %d of incompressible data", first.Added, size)
	}

	// 1 %: half rewritten in place in the middle, half appended.
	v2 := slices.Clone(v1)
	copy(v2[size/2:], randomBytes(8, size/200))
	v2 = append(v2, randomBytes(9, size/200)...)
	second := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(v2)}, testTags("db"))

	// Bound: the changed bytes, plus the chunks the two edits cut into (at
	// most a maximum-size chunk on each side of each edit), plus metadata.
	maxChunk := int64(ksplitter.GetFactory(splitter)().MaxSegmentSize())
	limit := int64(size/100) + 3*maxChunk + 256<<10
	t.Logf("first snapshot added %d bytes; second (1%% changed) added %d bytes = %.2f%% of %d (limit %d)",
		first.Added, second.Added, 100*float64(second.Added)/size, size, limit)
	if second.Added > limit {
		t.Errorf("the second snapshot added %d bytes; want at most %d", second.Added, limit)
	}
	got, err := restoreBytes(t, r, second.ID)
	if err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("restoring the second snapshot: %v (equal: %v)", err, bytes.Equal(got, v2))
	}
	// A consumer that gives up early ends the restore with its error (the
	// readers ahead of it stop).
	giveUp := errors.New("pg_restore: out of disk space")
	err = r.Restore(testCtx(t), second.ID, func(_ context.Context, rd io.Reader) error {
		if _, err := io.CopyN(io.Discard, rd, 20<<20); err != nil {
			return err
		}
		return giveUp
	}, "")
	if !errors.Is(err, giveUp) || errors.Is(err, ErrCorrupt) {
		t.Errorf("a restore whose consumer fails: %v; want its error, not ErrCorrupt", err)
	}
}

func TestWrongPassword(t *testing.T) {
	targets(t, func(t *testing.T, tgt Target) {
		r := open(t, tgt)
		snap(t, r, Source{Name: "db.pgdump", Stream: streamOf([]byte("data"))}, testTags("db"))
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, err := Open(testCtx(t), tgt, []byte("not the password"))
		if !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("Open with a wrong password: %v; want ErrWrongPassword", err)
		}
		if strings.Contains(err.Error(), "not the password") || (tgt.SecretKey != "" && strings.Contains(err.Error(), tgt.SecretKey)) {
			t.Errorf("the error quotes a secret: %v", err)
		}
	})
}

// A corrupted pack is caught by Verify and refused by Restore, both naming
// the snapshot; a missing pack stops a restore before it writes anything.
func TestCorruptionIsDetected(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	r := open(t, Target{URL: "file://" + dir})
	data := randomBytes(11, 3<<20)
	s := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(data)}, testTags("db"))
	other := snap(t, r, Source{Name: "app.tar", Stream: streamOf(randomBytes(12, 1<<20))}, testTags("app"))

	rep, err := r.Verify(testCtx(t), s.ID, 100)
	if err != nil {
		t.Fatalf("Verify of an intact snapshot: %v", err)
	}
	if rep.Chunks == 0 || rep.ChunksRead != rep.Chunks || rep.Files != 1 || rep.PacksChecked == 0 {
		t.Errorf("Verify report %+v; want every chunk read", rep)
	}
	packs := packFiles(t, dir)

	// Flip a byte in the middle of the pack that holds the first snapshot.
	pack := packOf(t, r, s.ID, packs)
	b, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(pack, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// A fresh connection: nothing comes from memory.
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r = open(t, Target{URL: "file://" + dir})

	_, err = r.Verify(testCtx(t), s.ID, 100)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), s.ID) {
		t.Fatalf("Verify of a corrupted snapshot: %v; want ErrCorrupt naming %s", err, s.ID)
	}
	t.Logf("verify: %v", err)
	_, err = restoreBytes(t, r, s.ID)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), s.ID) {
		t.Fatalf("Restore of a corrupted snapshot: %v; want ErrCorrupt naming %s", err, s.ID)
	}
	t.Logf("restore: %v", err)
	if _, err := r.Verify(testCtx(t), other.ID, 100); err != nil && packOf(t, r, other.ID, packs) != pack {
		t.Errorf("Verify of a snapshot in another pack: %v", err)
	}

	// Remove the pack: the restore is refused before the stream starts.
	if err := os.Remove(pack); err != nil {
		t.Fatal(err)
	}
	called := false
	err = r.Restore(testCtx(t), s.ID, func(context.Context, io.Reader) error { called = true; return nil }, "")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), s.ID) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Restore with a missing pack: %v; want a refusal with ErrCorrupt naming %s", err, s.ID)
	}
	if called {
		t.Error("the restore started the stream although a pack was missing")
	}
	t.Logf("restore with a missing pack: %v", err)
}

// packFiles lists a directory repository's data packs (kopia names them
// p…; q… hold metadata).
func packFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Sharded: blob p0123abc is in p01/23a/bc.f.
		id := strings.TrimSuffix(strings.ReplaceAll(strings.TrimPrefix(p, dir+"/"), "/", ""), ".f")
		if !d.IsDir() && strings.HasPrefix(id, "p") && strings.HasSuffix(d.Name(), ".f") {
			out[id] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no pack files in %s", dir)
	}
	return out
}

// packOf is the file of the pack holding a snapshot's first data chunk.
func packOf(t *testing.T, r *Repo, id string, packs map[string]string) string {
	t.Helper()
	ctx := testCtx(t)
	m, err := r.load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cids, err := r.kr.VerifyObject(ctx, m.RootEntry.ObjectID)
	if err != nil {
		t.Fatal(err)
	}
	for _, cid := range cids {
		ci, err := r.kr.ContentInfo(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := packs[string(ci.PackBlobID)]; ok {
			return p
		}
	}
	t.Fatalf("no data pack file holds snapshot %s (packs %v)", id, packs)
	return ""
}

func TestPruneKeepsWhatThePolicySays(t *testing.T) {
	r := open(t, Target{URL: "file://" + filepath.Join(t.TempDir(), "repo")})
	loc := time.UTC
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, loc)
	// Two snapshots a day for 40 days of one service, each a distinct
	// dump, and one snapshot of another service that the tags leave alone.
	var made []Snapshot
	for day := 39; day >= 0; day-- {
		for _, hour := range []int{2, 14} {
			at := now.AddDate(0, 0, -day).Truncate(24 * time.Hour).Add(time.Duration(hour) * time.Hour)
			if at.After(now) {
				continue
			}
			r.now = func() time.Time { return at }
			made = append(made, snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(randomBytes(uint64(day*100+hour), 64<<10))}, testTags("db")))
		}
	}
	r.now = func() time.Time { return now }
	keepOther := snap(t, r, Source{Name: "app.tar", Stream: streamOf([]byte("other"))}, testTags("app"))

	keep := Retention{KeepLast: 3, KeepDaily: 5, KeepWeekly: 3, KeepMonthly: 2}
	deleted, err := r.Prune(testCtx(t), testTags("db"), keep, now)
	if err != nil {
		t.Fatal(err)
	}
	left, err := r.List(testCtx(t), testTags("db"))
	if err != nil {
		t.Fatal(err)
	}
	var leftAt []string
	for _, s := range left {
		leftAt = append(leftAt, s.Start.UTC().Format("01-02T15"))
	}
	// Newest first: the last 3 (12-07 02h, 12-06 14h, 12-06 02h); days:
	// 12-07..12-03 (newest of each); weeks: ISO week 49 (12-07, a Monday
	// is 12-07), week 48 (12-06), week 47 (11-29); months: 12 (12-07), 11
	// (11-30 14h).
	want := []string{"12-07T02", "12-06T14", "12-06T02", "12-05T14", "12-04T14", "12-03T14", "11-29T14", "11-30T14"}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(leftAt))
	if !slices.Equal(got, want) {
		t.Errorf("kept %v; want %v", got, want)
	}
	if len(deleted)+len(left) != len(made) {
		t.Errorf("deleted %d + kept %d != made %d", len(deleted), len(left), len(made))
	}
	if other, err := r.List(testCtx(t), testTags("app")); err != nil || len(other) != 1 || other[0].ID != keepOther.ID {
		t.Errorf("the other service's snapshots: %v, %v; want untouched", ids(other), err)
	}
	// What is left still restores and verifies: maintenance removed only
	// the data of the deleted snapshots.
	for _, s := range left {
		if _, err := r.Verify(testCtx(t), s.ID, 100); err != nil {
			t.Fatalf("Verify after prune: %v", err)
		}
	}
	if _, err := restoreBytes(t, r, deleted[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("restoring a pruned snapshot: %v; want ErrNotFound", err)
	}

	// A zero policy keeps everything.
	if d, err := r.Prune(testCtx(t), testTags("db"), Retention{}, now); err != nil || len(d) != 0 {
		t.Errorf("Prune with an empty policy deleted %d: %v", len(d), err)
	}
}

// TestForgetDeletesOneInstanceOnly: Forget deletes exactly the snapshots
// of the instance its tags name, the space they took comes back, and
// every other instance's snapshot still restores byte for byte.
func TestForgetDeletesOneInstanceOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	r := open(t, Target{URL: "file://" + dir})
	staging := func(service string) map[string]string {
		tags := testTags(service)
		tags["env"], tags["instance"] = "staging", "shop-staging"
		return tags
	}
	kept := map[string][]byte{}
	for i, tags := range []map[string]string{testTags("db"), testTags("app"), testTags("db")} {
		data := randomBytes(uint64(i+1), 2<<20)
		kept[snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(data)}, tags).ID] = data
	}
	for i, svc := range []string{"db", "db", "app"} {
		snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(randomBytes(uint64(100+i), 4<<20))}, staging(svc))
	}
	before := treeSize(t, dir)

	if _, err := r.Forget(testCtx(t), nil); !errors.Is(err, ErrNoTags) {
		t.Fatalf("Forget(nil) = %v; want ErrNoTags", err)
	}
	deleted, err := r.Forget(testCtx(t), map[string]string{"org": "acme", "instance": "shop-staging"})
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 3 {
		t.Errorf("Forget deleted %d snapshots; want the 3 of shop-staging", len(deleted))
	}
	for _, s := range deleted {
		if s.Tags["instance"] != "shop-staging" {
			t.Errorf("Forget deleted %s of %s", s.ID, s.Tags["instance"])
		}
	}
	if left, err := r.List(testCtx(t), staging("db")); err != nil || len(left) != 0 {
		t.Errorf("shop-staging after Forget: %v, %v; want none", ids(left), err)
	}
	all, err := r.List(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(kept) {
		t.Fatalf("%d snapshots left; want the %d of shop-prod", len(all), len(kept))
	}
	for id, want := range kept {
		got, err := restoreBytes(t, r, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restore %s of shop-prod after Forget: %d bytes, %v; want its %d bytes", id, len(got), err, len(want))
		}
	}
	// 12 MiB of incompressible data went: at least 10 MiB of it must leave
	// the disk (kopia's own maintenance order would pack it with the kept
	// data into one big pack and keep it).
	if after := treeSize(t, dir); before-after < 10<<20 {
		t.Errorf("repository %d bytes before, %d after Forget; want at least 10 MiB reclaimed", before, after)
	}
}

func treeSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		n += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
