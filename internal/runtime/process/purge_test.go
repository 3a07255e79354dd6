package process_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/stack"
)

// leftoverReplicas lays out n replica directories of id as interrupted
// starts leave them: a half-written spec holding a password, initdb's
// password file, no state, so that List names none of them.
func leftoverReplicas(t *testing.T, dataDir string, id stack.Identity, n int) []string {
	t.Helper()
	var files []string
	for i := range n {
		dir := filepath.Join(dataDir, "instances", id.Slug(), "replicas", fmt.Sprintf("web-%d", i))
		if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{filepath.Join(dir, ".spec.json.tmp123456"), filepath.Join(dir, "run", ".pwfile")} {
			if err := os.WriteFile(f, []byte(`{"env":["POSTGRES_PASSWORD=s3cret"]}`), 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	return files
}

func TestRuntimeStartSweepsWhatInterruptedStartsLeft(t *testing.T) {
	dataDir := t.TempDir()
	files := leftoverReplicas(t, dataDir, testID, 3)
	newRuntime(t, dataDir, nil)
	for _, f := range files {
		if !sweptSoon(f) {
			t.Errorf("%s is still there after the runtime started", f)
		}
	}
}

// sweptSoon reports whether path is gone, or goes within a minute: the
// runtime sweeps in the background.
func sweptSoon(path string) bool {
	for deadline := time.Now().Add(time.Minute); fileExists(path); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func TestPurgeRemovesTheWholeInstance(t *testing.T) {
	dataDir := t.TempDir()
	killLeftovers(t, dataDir)
	rt := newRuntime(t, dataDir, nil)
	ctx := context.Background()
	inst := filepath.Join(dataDir, "instances", testID.Slug())

	h, err := rt.Start(ctx, appSpec(testExecutable(t), "web-live", func(svc *stack.Service) {
		svc.Mounts = []stack.Mount{{Type: stack.MountVolume, Source: "uploads", Target: "/srv/uploads"}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	leftoverReplicas(t, dataDir, testID, 300)
	readOnly := filepath.Join(inst, "volumes", "uploads", "ro", "deeper")
	if err := os.MkdirAll(readOnly, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(readOnly, "f"), []byte("x"), 0o400); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{readOnly, filepath.Dir(readOnly)} {
		if err := os.Chmod(d, 0o500); err != nil {
			t.Fatal(err)
		}
	}
	// As the engine does: remove the replicas it knows, then purge.
	if err := rt.Remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveVolumes(ctx, testID); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if fileExists(inst) {
		out, _ := exec.Command("find", inst, "-maxdepth", "3").CombinedOutput()
		t.Fatalf("purge reported success but left %s behind:\n%.2000s", inst, out)
	}
}

func TestPurgeNamesWhatItCouldNotRemove(t *testing.T) {
	chattr, err := exec.LookPath("chattr")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs chattr and root to make an undeletable file")
	}
	dataDir := t.TempDir()
	rt := newRuntime(t, dataDir, nil)
	inst := filepath.Join(dataDir, "instances", testID.Slug())
	leftoverReplicas(t, dataDir, testID, 5)
	stuck := filepath.Join(inst, "volumes", "data", "immutable")
	if err := os.MkdirAll(filepath.Dir(stuck), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stuck, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(chattr, "+i", stuck).CombinedOutput(); err != nil {
		t.Skipf("the file system of %s has no immutable files: %s", dataDir, out)
	}
	t.Cleanup(func() { _ = exec.Command(chattr, "-i", stuck).Run() })

	err = rt.RemoveVolumes(context.Background(), testID)
	if err == nil || !strings.Contains(err.Error(), stuck) {
		t.Fatalf("purge with an undeletable file: %v, want an error naming %s", err, stuck)
	}
	if strings.Contains(err.Error(), filepath.Dir(stuck)+":") {
		t.Errorf("the error names the directory holding the file too: %v", err)
	}
	ents, _ := os.ReadDir(inst)
	if len(ents) != 1 || ents[0].Name() != "volumes" || !fileExists(stuck) {
		t.Errorf("after a failed purge %s holds %v; want only the volume with the undeletable file", inst, ents)
	}
}
