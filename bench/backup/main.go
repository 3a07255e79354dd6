// Command backupbench is the quai side of bench/backup/run.sh: it makes the
// data (a SQL dump shaped like pg_dump's plain output and a tree of files),
// applies the "1 % change", and backs up and restores with quai's
// repository (internal/backup), printing one line of figures per step.
//
//	backupbench gen    -dump FILE -tree DIR -dump-mib 700 -tree-mib 300 [-changed]
//	backupbench backup -repo DIR -dump FILE -tree DIR
//	backupbench restore -repo DIR -dump FILE -tree DIR
//
// -cpuprofile FILE profiles any of them.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/quai-dev/quai/internal/backup"
)

// The bench's repository password; the data is generated, nothing secret.
var password = []byte("backup-bench")

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: backupbench gen|backup|restore [flags]")
		os.Exit(2)
	}
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dump := fl.String("dump", "", "the SQL dump file")
	tree := fl.String("tree", "", "the tree of files")
	repo := fl.String("repo", "", "the repository directory")
	dumpMiB := fl.Int("dump-mib", 700, "dump size (MiB)")
	treeMiB := fl.Int("tree-mib", 300, "tree size (MiB)")
	changed := fl.Bool("changed", false, "make the second version: about 1 % of rows and files changed")
	cpuprofile := fl.String("cpuprofile", "", "write a CPU profile of the command to this file")
	_ = fl.Parse(os.Args[2:])
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile) //nolint:gosec // the path is the operator's own -cpuprofile flag
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "backupbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(*dump, *tree, *dumpMiB<<20, *treeMiB<<20, *changed)
	case "backup":
		err = runBackup(*repo, *dump, *tree)
	case "restore":
		err = runRestore(*repo, *dump, *tree)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "backupbench:", err)
		os.Exit(1)
	}
}

var tags = map[string]string{"org": "bench", "project": "shop", "env": "prod", "instance": "shop-prod", "service": "db", "kind": "postgres"}

func treeTags() map[string]string {
	t := map[string]string{}
	for k, v := range tags {
		t[k] = v
	}
	t["service"], t["kind"] = "app", "volume"
	return t
}

func runBackup(repoDir, dump, tree string) error {
	ctx := context.Background()
	start := time.Now()
	r, err := backup.Open(ctx, backup.Target{URL: "file://" + repoDir}, password)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close(ctx) }() // read-only use after the snapshots are committed
	d, err := r.Snapshot(ctx, backup.Source{Name: "db.sql", Stream: func(_ context.Context, w io.Writer) error {
		f, err := os.Open(dump) //nolint:gosec // a path from the bench's own -dump/-tree flags
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }() // read-only
		_, err = io.Copy(w, f)
		return err
	}}, tags, nil)
	if err != nil {
		return err
	}
	t, err := r.Snapshot(ctx, backup.Source{Name: "files", Dir: tree}, treeTags(), nil)
	if err != nil {
		return err
	}
	fmt.Printf("seconds=%.2f bytes=%d added=%d\n", time.Since(start).Seconds(), d.Size+t.Size, d.Added+t.Added)
	return nil
}

func runRestore(repoDir, dump, tree string) error {
	ctx := context.Background()
	start := time.Now()
	r, err := backup.Open(ctx, backup.Target{URL: "file://" + repoDir}, password)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close(ctx) }() // read-only use after the snapshots are committed
	ds, err := r.List(ctx, tags)
	if err != nil || len(ds) == 0 {
		return errors.Join(errors.New("no dump snapshot"), err)
	}
	ts, err := r.List(ctx, treeTags())
	if err != nil || len(ts) == 0 {
		return errors.Join(errors.New("no tree snapshot"), err)
	}
	if err := os.MkdirAll(filepath.Dir(dump), 0o755); err != nil { //nolint:gosec // a path from the bench's own -dump/-tree flags
		return err
	}
	err = r.Restore(ctx, ds[0].ID, func(_ context.Context, rd io.Reader) error {
		f, err := os.Create(dump) //nolint:gosec // a path from the bench's own -dump/-tree flags
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, rd); err != nil {
			return errors.Join(err, f.Close())
		}
		return f.Close()
	}, "")
	if err != nil {
		return err
	}
	if err := r.Restore(ctx, ts[0].ID, nil, tree); err != nil {
		return err
	}
	fmt.Printf("seconds=%.2f\n", time.Since(start).Seconds())
	return nil
}

// gen writes the dump and the tree. The changed version differs from the
// first by about 1 %: a contiguous 0.5 % of the rows updated (PostgreSQL
// writes updated rows anew, so pg_dump moves them to the table's end) and
// 0.5 % new rows, and 1 % of the files rewritten.
func gen(dump, tree string, dumpSize, treeSize int, changed bool) error {
	if err := genDump(dump, dumpSize, changed); err != nil {
		return err
	}
	return genTree(tree, treeSize, changed)
}

const rowSize = 118 // about, for sizing

func genDump(path string, size int, changed bool) error {
	f, err := os.Create(path) //nolint:gosec // a path from the bench's own -dump/-tree flags
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// bufio.Writer keeps its first write error and Flush returns it.
	_, _ = fmt.Fprint(w, "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n\n")
	_, _ = fmt.Fprint(w, "CREATE TABLE public.orders (\n    id bigint NOT NULL,\n    customer text NOT NULL,\n    email text NOT NULL,\n    created_at timestamp with time zone NOT NULL,\n    amount numeric(12,2) NOT NULL,\n    token text NOT NULL,\n    note text\n);\n\n")
	_, _ = fmt.Fprint(w, "COPY public.orders (id, customer, email, created_at, amount, token, note) FROM stdin;\n")
	n := size / rowSize
	lo, hi := n/3, n/3+n/200 // the updated range
	for i := range n {
		if changed && i >= lo && i < hi {
			continue
		}
		row(w, i, 0)
	}
	if changed {
		for i := lo; i < hi; i++ {
			row(w, i, 1)
		}
		for i := n; i < n+n/200; i++ {
			row(w, i, 0)
		}
	}
	_, _ = fmt.Fprint(w, "\\.\n\n\nALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);\n\n--\n-- PostgreSQL database dump complete\n--\n")
	if err := w.Flush(); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

var (
	names = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter"}
	notes = []string{`\N`, "gift wrap", "leave at the door", "call before delivery", "fragile", "second attempt", "express"}
)

// row writes into a bufio.Writer, which keeps the first write error for Flush.
func row(w io.Writer, i, version int) {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(version))) //nolint:gosec // reproducible benchmark data, not a secret
	a, b := names[rng.IntN(len(names))], names[rng.IntN(len(names))]
	_, _ = fmt.Fprintf(w, "%d\t%s %s\t%s.%s%d@example.com\t2026-%02d-%02d %02d:%02d:%02d.%06d+00\t%d.%02d\t%016x%016x\t%s\n",
		i, a, b, a, b, rng.IntN(1000), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000000),
		rng.IntN(100000), rng.IntN(100), rng.Uint64(), rng.Uint64(), notes[rng.IntN(len(notes))])
}

// genTree writes files of 4 KiB to 1 MiB: two thirds text (logs, sources),
// one third incompressible (images, archives).
func genTree(dir string, size int, changed bool) error {
	rng := rand.New(rand.NewPCG(42, 42)) //nolint:gosec // reproducible benchmark data, not a secret
	total := 0
	for i := 0; total < size; i++ {
		n := 4<<10 + rng.IntN(1<<20)
		total += n
		version := 0
		if changed && i%100 == 7 {
			version = 1
		}
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%37), fmt.Sprintf("s%d", i%5), fmt.Sprintf("f%05d.dat", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil { //nolint:gosec // a path from the bench's own -dump/-tree flags
			return err
		}
		if err := writeFile(p, i, version, n, i%3 == 2); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, i, version, n int, binary bool) error {
	if _, err := os.Stat(path); err == nil && version == 0 { //nolint:gosec // a path from the bench's own -dump/-tree flags
		return nil // unchanged: keep its mtime, as a real tree would
	}
	f, err := os.Create(path) //nolint:gosec // a path from the bench's own -dump/-tree flags
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(uint64(i)+1000, uint64(version))) //nolint:gosec // reproducible benchmark data, not a secret
	written := 0
	for written < n {
		var k int
		if binary {
			var b [8]byte
			v := rng.Uint64()
			for j := range b {
				b[j] = byte(v >> (8 * j))
			}
			k, _ = w.Write(b[:])
		} else {
			k, _ = fmt.Fprintf(w, "%s [%s] request %x took %dms status %d\n", time.Unix(1_700_000_000+int64(written), 0).UTC().Format(time.RFC3339), names[rng.IntN(len(names))], rng.Uint32(), rng.IntN(900), 200+rng.IntN(4)*100)
		}
		written += k
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
