package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBackupRunsDrillsAndSchedule(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	t0 := time.Unix(1_700_000_000, 0)

	r, err := s.BeginBackupRun(ctx, BackupRun{Instance: "shop-prod", Org: "default", Service: "db", Kind: "postgres", Trigger: "manual", Started: t0})
	if err != nil {
		t.Fatal(err)
	}
	r.Status, r.Snapshot, r.Bytes, r.Added, r.Duration, r.Facts = RunDone, "k123", 4096, 1024, 3*time.Second, []byte(`{"tables":{"users":3}}`)
	if err := s.FinishBackupRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	// A second run left running, as a daemon killed mid-backup leaves it.
	if _, err := s.BeginBackupRun(ctx, BackupRun{Instance: "shop-prod", Service: "db", Kind: "postgres", Started: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.InterruptBackupRuns(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("InterruptBackupRuns = %d, %v; want 1 run cleared", n, err)
	}
	runs, err := s.BackupRuns(ctx, "shop-prod", 0)
	if err != nil || len(runs) != 2 {
		t.Fatalf("BackupRuns = %v, %v; want 2", runs, err)
	}
	if runs[0].Status != RunInterrupted || runs[0].Error == "" {
		t.Errorf("newest run = %+v; want interrupted with a reason", runs[0])
	}
	got := runs[1]
	if got.Snapshot != "k123" || got.Bytes != 4096 || got.Duration != 3*time.Second || string(got.Facts) != `{"tables":{"users":3}}` || !got.Started.Equal(t0) {
		t.Errorf("done run = %+v", got)
	}

	if err := s.SetBackupVerified(ctx, "k123", t0.Add(3*time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBackupVerified(ctx, "k123", t0.Add(4*time.Hour), "chunk abc is corrupt"); err != nil {
		t.Fatal(err)
	}
	got, err = s.BackupRunBySnapshot(ctx, "k123")
	if err != nil || !got.Verified.Equal(t0.Add(3*time.Hour)) || got.VerifyError != "chunk abc is corrupt" {
		t.Errorf("after verifies: %+v, %v; want verified at +3h and the later failure kept", got, err)
	}
	if err := s.SetBackupPruned(ctx, []string{"k123"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.BackupRunBySnapshot(ctx, "k123"); got.Status != RunPruned {
		t.Errorf("status after prune = %s", got.Status)
	}
	if _, err := s.BackupRunBySnapshot(ctx, "nope"); err == nil {
		t.Error("unknown snapshot found")
	}
	// Removing the instance keeps its backup history.
	if err := s.PutInstance(ctx, Instance{Name: "shop-prod", Created: t0, Updated: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInstance(ctx, "shop-prod"); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.BackupRuns(ctx, "", 1); len(runs) != 1 {
		t.Errorf("runs after rm = %d; want kept (limit 1)", len(runs))
	}

	d, err := s.BeginDrill(ctx, Drill{Instance: "shop-prod", Name: "shop-drill1", Started: t0})
	if err != nil {
		t.Fatal(err)
	}
	d.Status, d.Error, d.Report = RunFailed, "health check of web failed", "db: 3 tables match"
	if err := s.FinishDrill(ctx, d); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Drills(ctx, "shop-prod", 5)
	if err != nil || len(ds) != 1 || ds[0].Status != RunFailed || ds[0].Report == "" || ds[0].Name != "shop-drill1" {
		t.Fatalf("Drills = %+v, %v", ds, err)
	}

	st := ScheduleState{Instance: "shop-prod", Service: "db", Job: "backup", LastRun: t0, LastSuccess: t0}
	if err := s.PutScheduleState(ctx, st); err != nil {
		t.Fatal(err)
	}
	st.LastRun = t0.Add(time.Hour)
	if err := s.PutScheduleState(ctx, st); err != nil {
		t.Fatal(err)
	}
	sts, err := s.ScheduleStates(ctx)
	if err != nil || len(sts) != 1 || !sts[0].LastRun.Equal(t0.Add(time.Hour)) || !sts[0].LastSuccess.Equal(t0) {
		t.Fatalf("ScheduleStates = %+v, %v", sts, err)
	}
}

func TestCopyToIsAConsistentOpenableCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if _, err := s.BeginBackupRun(ctx, BackupRun{Instance: "a-prod", Service: "db", Kind: "postgres"}); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "copy.db")
	if err := s.CopyTo(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyTo(ctx, cp); err == nil {
		t.Error("CopyTo overwrote an existing file")
	}
	c, err := Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if runs, err := c.BackupRuns(ctx, "", 0); err != nil || len(runs) != 1 {
		t.Errorf("copy holds %d runs, %v; want 1", len(runs), err)
	}
	if fi, err := os.Stat(cp); err != nil || fi.Mode().Perm() != FileMode {
		t.Errorf("copy mode = %v, %v; want %v", fi.Mode().Perm(), err, FileMode)
	}
}

// TestDeleteBackupHistoryTakesOneInstance: an instance's runs, drills and
// schedule state go; another instance's stay.
func TestDeleteBackupHistoryTakesOneInstance(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for _, inst := range []string{"shop-prod", "shop-dev"} {
		if _, err := s.BeginBackupRun(ctx, BackupRun{Instance: inst, Service: "db", Kind: "postgres"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginDrill(ctx, Drill{Instance: inst, Name: inst + "-drill1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutScheduleState(ctx, ScheduleState{Instance: inst, Service: "db", Job: "backup"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBackupHistory(ctx, "shop-dev"); err != nil {
		t.Fatal(err)
	}
	runs, err := s.BackupRuns(ctx, "", 0)
	if err != nil || len(runs) != 1 || runs[0].Instance != "shop-prod" {
		t.Errorf("runs after deleting shop-dev's history: %+v, %v; want shop-prod's", runs, err)
	}
	ds, err := s.Drills(ctx, "", 0)
	if err != nil || len(ds) != 1 || ds[0].Instance != "shop-prod" {
		t.Errorf("drills after deleting shop-dev's history: %+v, %v; want shop-prod's", ds, err)
	}
	sts, err := s.ScheduleStates(ctx)
	if err != nil || len(sts) != 1 || sts[0].Instance != "shop-prod" {
		t.Errorf("schedule states after deleting shop-dev's history: %+v, %v; want shop-prod's", sts, err)
	}
}
