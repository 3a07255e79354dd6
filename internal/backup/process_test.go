package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/backup/s3test"
)

// TestMain makes the test binary, re-executed with QUAI_BACKUP_HELPER set,
// play a daemon on another (or a crashed) host.
func TestMain(m *testing.M) {
	if mode := os.Getenv("QUAI_BACKUP_HELPER"); mode != "" {
		if err := helperMain(mode); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperMain(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tgt := Target{URL: os.Getenv("QUAI_BACKUP_URL"), AccessKey: os.Getenv("QUAI_BACKUP_ACCESS"), SecretKey: os.Getenv("QUAI_BACKUP_SECRET")}
	r, err := Open(ctx, tgt, []byte(os.Getenv("QUAI_BACKUP_PASSWORD")))
	if err != nil {
		return err
	}
	defer func() { _ = r.Close(ctx) }()
	switch mode {
	case "restore":
		// Only the target and the password: find the snapshot by its tags.
		list, err := r.List(ctx, map[string]string{"instance": "shop-prod", "service": "db"})
		if err != nil {
			return fmt.Errorf("List: %w", err)
		}
		if len(list) == 0 {
			return errors.New("List: no snapshots")
		}
		h := sha256.New()
		if err := r.Restore(ctx, list[0].ID, func(_ context.Context, rd io.Reader) error {
			_, err := io.Copy(h, rd)
			return err
		}, ""); err != nil {
			return err
		}
		fmt.Printf("stream %s %s\n", list[0].ID, hex.EncodeToString(h.Sum(nil)))
		dirs, err := r.List(ctx, map[string]string{"instance": "shop-prod", "service": "app"})
		if err != nil {
			return fmt.Errorf("List: %w", err)
		}
		if len(dirs) == 0 {
			return errors.New("List: no snapshots")
		}
		if err := r.Restore(ctx, dirs[0].ID, nil, os.Getenv("QUAI_BACKUP_DIR")); err != nil {
			return err
		}
		fmt.Println("dir restored")
		return nil
	case "snapshot-forever":
		mark := os.Getenv("QUAI_BACKUP_MARK")
		_, err := r.Snapshot(ctx, Source{Name: "db.pgdump", Stream: func(ctx context.Context, w io.Writer) error {
			for i := uint64(0); ; i++ {
				if _, err := w.Write(randomBytes(i, 1<<20)); err != nil {
					return err
				}
				if i == 48 {
					if err := os.WriteFile(mark, []byte("written"), 0o600); err != nil {
						return err
					}
				}
				if i > 48 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}}, testTags("db"), nil)
		if err == nil {
			return errors.New("the snapshot was meant to be killed, it returned")
		}
		return fmt.Errorf("the snapshot was meant to be killed, it returned %w", err)
	default:
		return fmt.Errorf("unknown helper mode %q", mode)
	}
}

func helper(t *testing.T, mode string, tgt Target, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		"QUAI_BACKUP_HELPER="+mode,
		"QUAI_BACKUP_URL="+tgt.URL,
		"QUAI_BACKUP_ACCESS="+tgt.AccessKey,
		"QUAI_BACKUP_SECRET="+tgt.SecretKey,
		"QUAI_BACKUP_PASSWORD="+string(password),
		// The child has only what a fresh host would: no shared cache.
		"TMPDIR="+t.TempDir(),
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// A host that is gone: a fresh process with the target and the password
// finds the snapshots by their tags and restores them.
func TestFreshProcessRestoresFromS3(t *testing.T) {
	srv := s3test.Start(t)
	tgt := s3Target(srv)
	r := open(t, tgt)
	data := dumpLike(21, 5<<20)
	s := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(data)}, testTags("db"))
	src := writeTree(t, t.TempDir(), 22)
	snap(t, r, Source{Name: "uploads", Dir: src}, testTags("app"))
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := helper(t, "restore", tgt, "QUAI_BACKUP_DIR="+dst)
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env, c.SysProcAttr = cmd.Env, cmd.SysProcAttr
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("the fresh process failed: %v\n%s", err, out)
	}
	sum := sha256.Sum256(data)
	if want := fmt.Sprintf("stream %s %s", s.ID, hex.EncodeToString(sum[:])); !strings.Contains(string(out), want) {
		t.Fatalf("the fresh process restored something else; want %q in:\n%s", want, out)
	}
	if w, g := treeSum(t, src), treeSum(t, dst); strings.Join(w, "\n") != strings.Join(g, "\n") {
		t.Fatalf("the fresh process restored a different tree:\n got %q\nwant %q", g, w)
	}
}

// kill -9 of the writer mid-snapshot leaves no lock and no half snapshot:
// the next snapshot, in a new process, works and verifies.
func TestKilledSnapshotLeavesNothingInTheWay(t *testing.T) {
	tgt := Target{URL: "file://" + filepath.Join(t.TempDir(), "repo")}
	r := open(t, tgt)
	before := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(dumpLike(31, 1<<20))}, testTags("db"))
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	mark := filepath.Join(t.TempDir(), "mark")
	cmd := helper(t, "snapshot-forever", tgt, "QUAI_BACKUP_MARK="+mark)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the child exited before it was killed: %v\n%s", err, out.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("the child did not write 48 MiB within 2 minutes:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, not by SIGKILL:\n%s", err, out.String())
	}

	// The killed run wrote data packs (48 MiB is more than a pack) but no
	// snapshot; a new process snapshots, lists and verifies as usual.
	r = open(t, tgt)
	data := dumpLike(32, 2<<20)
	after := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(data)}, testTags("db"))
	list, err := r.List(testCtx(t), testTags("db"))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != after.ID || list[1].ID != before.ID {
		t.Fatalf("snapshots after the kill: %+v; want the new one and the one before", list)
	}
	for _, s := range list {
		if _, err := r.Verify(testCtx(t), s.ID, 100); err != nil {
			t.Fatal(err)
		}
	}
	// Maintenance removes what the killed run left behind.
	packsBefore := len(packFiles(t, strings.TrimPrefix(tgt.URL, "file://")))
	if _, err := r.Prune(testCtx(t), testTags("db"), Retention{KeepLast: 10}, time.Now()); err != nil {
		t.Fatal(err)
	}
	packsAfter := len(packFiles(t, strings.TrimPrefix(tgt.URL, "file://")))
	t.Logf("data packs: %d before prune, %d after", packsBefore, packsAfter)
	if packsAfter >= packsBefore {
		t.Errorf("prune left the killed run's packs: %d before, %d after", packsBefore, packsAfter)
	}
	got, err := restoreBytes(t, r, after.ID)
	if err != nil || string(got) != string(data) {
		t.Fatalf("restore after the kill: %v", err)
	}
}

// S3 down: every operation fails with ErrUnreachable on its own (before
// the test's deadline), a snapshot does not start its dump, a snapshot cut
// off mid-stream fails the same way; once the server is back the same Repo
// and a new one work.
func TestS3Unreachable(t *testing.T) {
	srv := s3test.Start(t)
	tgt := s3Target(srv)
	r := open(t, tgt)
	first := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(dumpLike(41, 1<<20))}, testTags("db"))

	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := false
	_, err := r.Snapshot(ctx, Source{Name: "db.pgdump", Stream: func(context.Context, io.Writer) error { started = true; return nil }}, testTags("db"), nil)
	if !errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
		t.Fatalf("Snapshot with S3 down: %v; want ErrUnreachable before the deadline", err)
	}
	if started {
		t.Error("the dump started although the target was down")
	}
	t.Logf("snapshot: %v", err)
	if _, err := r.List(ctx, nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("List with S3 down: %v; want ErrUnreachable", err)
	}
	if _, err := Open(ctx, tgt, password); !errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
		t.Errorf("Open with S3 down: %v; want ErrUnreachable", err)
	}
	if _, err := restoreBytes(t, r, first.ID); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Restore with S3 down: %v; want ErrUnreachable", err)
	}

	// Down in the middle of a snapshot: the stream's writes start failing.
	srv.Restart()
	_, err = r.Snapshot(ctx, Source{Name: "db.pgdump", Stream: func(ctx context.Context, w io.Writer) error {
		for i := uint64(0); i < 200; i++ {
			if i == 4 {
				srv.Stop()
			}
			if _, err := w.Write(randomBytes(i, 1<<20)); err != nil {
				return err
			}
		}
		return nil
	}}, testTags("db"), nil)
	if !errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
		t.Fatalf("Snapshot cut off mid-stream: %v; want ErrUnreachable before the deadline", err)
	}
	t.Logf("mid-stream: %v", err)

	srv.Restart()
	data := dumpLike(42, 2<<20)
	again := snap(t, r, Source{Name: "db.pgdump", Stream: streamOf(data)}, testTags("db"))
	if got, err := restoreBytes(t, r, again.ID); err != nil || string(got) != string(data) {
		t.Fatalf("restore once S3 is back: %v", err)
	}
	r2 := open(t, tgt)
	if list, err := r2.List(testCtx(t), testTags("db")); err != nil || len(list) != 2 {
		t.Fatalf("List from a new connection once S3 is back: %v, %v", ids(list), err)
	}
}
