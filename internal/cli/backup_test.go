package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

func TestBackupSummarySaysWhatNeedsAttention(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	done := &wire.BackupRun{Status: wire.BackupDone, Started: now.Add(-3 * time.Hour), Finished: now.Add(-3 * time.Hour)}
	failed := &wire.BackupRun{Status: wire.BackupFailed, Started: now.Add(-time.Hour), Error: "target unreachable"}
	tests := []struct {
		name    string
		st      *wire.BackupState
		want    string
		failing bool
	}{
		{"none", nil, "-", false},
		{"ok", &wire.BackupState{Last: done}, "ok 3h ago", false},
		{"failed", &wire.BackupState{Last: failed}, "failed 1h ago", true},
		{"missed", &wire.BackupState{Last: done, Missed: []string{"db"}}, "ok 3h ago, missed: db", true},
		{"drill failed", &wire.BackupState{Last: done, Drill: &wire.Drill{Status: wire.BackupFailed, Started: now.Add(-2 * time.Hour)}},
			"ok 3h ago, drill failed 2h ago", true},
		{"verify failed", &wire.BackupState{Last: done, VerifyFailed: []string{"a1", "b2"}}, "ok 3h ago, verify FAILED: 2 snapshot(s)", true},
		{"drill passed", &wire.BackupState{Last: done, Drill: &wire.Drill{Status: wire.BackupDone, Started: now.Add(-2 * time.Hour)}},
			"ok 3h ago, drill passed 2h ago", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, failing := backupSummary(tt.st, now)
			if got != tt.want || failing != tt.failing {
				t.Errorf("backupSummary = %q, %v; want %q, %v", got, failing, tt.want, tt.failing)
			}
		})
	}
}

func TestBackupLsListsRunsAndDrills(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	g := &globals{stdout: &out}
	l := wire.BackupList{
		Runs: []wire.BackupRun{
			{Instance: "shop-prod", Service: "db", Kind: "postgres", Trigger: wire.TriggerSchedule, Status: wire.BackupFailed,
				Error: "open the backup repository: unreachable", Started: now.Add(-time.Hour)},
			{Instance: "shop-prod", Service: "db", Kind: "postgres", Trigger: wire.TriggerManual, Snapshot: "4f2a9c", Status: wire.BackupDone,
				Bytes: 3 << 20, Added: 1 << 20, Duration: 1500 * time.Millisecond, Verified: now.Add(-30 * time.Minute), Started: now.Add(-2 * time.Hour)},
		},
		Drills: []wire.Drill{{ID: 1, Instance: "shop-prod", Status: wire.BackupFailed, Error: "health check\nmore", Started: now.Add(-3 * time.Hour),
			Finished: now.Add(-3*time.Hour + 9*time.Second)}},
	}
	if err := g.printBackups(l, false, now); err != nil {
		t.Fatal(err)
	}
	want := `SNAPSHOT  SERVICE  KIND      SIZE    ADDED   DURATION  STATUS             VERIFIED  STARTED  ERROR
-         db       postgres  -       -       0s        failed (schedule)  -         1h ago   open the backup repository: unreachable
4f2a9c    db       postgres  3.0MiB  1.0MiB  1.5s      done               30m ago   2h ago   -

DRILL  INSTANCE   STATUS  STARTED  TOOK  ERROR
1      shop-prod  failed  3h ago   9s    health check
`
	if out.String() != want {
		t.Errorf("backup ls:\n%s\nwant:\n%s", out.String(), want)
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("colour written to a non-terminal:\n%q", out.String())
	}
}
