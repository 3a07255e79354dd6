package daemon

import (
	"os"
	"sync"
	"testing"
)

// TestDaemonIDIsStablePerDataDir: a data directory keeps its identity
// across starts, even when two starts race to create it, and two data
// directories get different ones.
func TestDaemonIDIsStablePerDataDir(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := daemonID(dir)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("identities of one data directory differ: %q", ids)
		}
	}
	again, err := daemonID(dir)
	if err != nil || again != ids[0] {
		t.Errorf("identity on the next start = %q, %v; want %q", again, err, ids[0])
	}
	other, err := daemonID(t.TempDir())
	if err != nil || other == ids[0] {
		t.Errorf("another data directory's identity = %q, %v; want a different one", other, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want daemon.id alone", len(entries))
	}
	if err := os.WriteFile(IdentityPath(dir), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := daemonID(dir); err == nil {
		t.Error("an empty identity file was accepted")
	}
}
