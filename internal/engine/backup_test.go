package engine

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

func TestExpiredKeepsWhatRetentionSays(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	// Two snapshots a day from March 1 to 20.
	var snaps []Snapshot
	for d := 1; d <= 20; d++ {
		for _, h := range []int{3, 15} {
			snaps = append(snaps, Snapshot{ID: day(d, h).Format("0102-15"), Start: day(d, h)})
		}
	}
	kept := func(keep stack.Retention) []string {
		gone := map[string]bool{}
		for _, s := range expired(snaps, keep) {
			gone[s.ID] = true
		}
		var out []string
		for _, s := range snaps {
			if !gone[s.ID] {
				out = append(out, s.ID)
			}
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name string
		keep stack.Retention
		want []string
	}{
		{"last 3", stack.Retention{KeepLast: 3}, []string{"0319-15", "0320-03", "0320-15"}},
		{"daily 2", stack.Retention{KeepDaily: 2}, []string{"0319-15", "0320-15"}},
		{"last 1 and weekly 2", stack.Retention{KeepLast: 1, KeepWeekly: 2}, []string{"0315-15", "0320-15"}},
		{"monthly 5 with one month", stack.Retention{KeepMonthly: 5}, []string{"0320-15"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kept(tt.keep); !slices.Equal(got, tt.want) {
				t.Errorf("kept %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStableFactsDropsWhatChangedDuringTheDump(t *testing.T) {
	before := Facts{Tables: map[string]int64{"users": 3, "events": 10}, Files: map[string]string{"a": "h1", "b": "h2"}}
	after := Facts{Tables: map[string]int64{"users": 3, "events": 12}, Files: map[string]string{"a": "h1", "b": "h3"}}
	got := stableFacts(before, after)
	if len(got.Tables) != 1 || got.Tables["users"] != 3 || len(got.Files) != 1 || got.Files["a"] != "h1" {
		t.Errorf("stableFacts = %+v; want users and a only", got)
	}
}

func TestDueAtCatchesUpAMissedRunAndWaitsOtherwise(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		lastRun  time.Time
		now      time.Time
		wantDue  bool
		wantWhen time.Time
	}{
		{"never run, before the first time", time.Time{}, created.Add(time.Hour), false, time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)},
		{"never run, first time passed", time.Time{}, time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC), true, time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)},
		{"ran today", time.Date(2026, 3, 5, 3, 0, 1, 0, time.UTC), time.Date(2026, 3, 5, 20, 0, 0, 0, time.UTC), false, time.Date(2026, 3, 6, 3, 0, 0, 0, time.UTC)},
		// The daemon was down for three days: one catch-up run at start.
		{"missed while down", time.Date(2026, 3, 5, 3, 0, 1, 0, time.UTC), time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC), true, time.Date(2026, 3, 6, 3, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			when, due := dueAt("0 3 * * *", tt.lastRun, created, tt.now)
			if due != tt.wantDue || !when.Equal(tt.wantWhen) {
				t.Errorf("dueAt = %v, %v; want %v, %v", when, due, tt.wantWhen, tt.wantDue)
			}
		})
	}
	if iv, ok := interval("@every 90s", created); !ok || iv != 90*time.Second {
		t.Errorf("interval(@every 90s) = %v, %v", iv, ok)
	}
}

func TestDataModelKeepsTheDataServicesAndWhatTheyNeed(t *testing.T) {
	m := &stack.Model{
		Services: []*stack.Service{
			{Name: "web", DependsOn: []stack.Dependency{{Service: "db"}, {Service: "cache"}}},
			{Name: "worker", DependsOn: []stack.Dependency{{Service: "db"}}},
			{Name: "db", DependsOn: []stack.Dependency{{Service: "vault"}}},
			{Name: "vault"},
			{Name: "cache"},
		},
		Routes: []stack.Route{{Service: "web"}, {Service: "vault"}},
	}
	dm := dataModel(m, []string{"db"})
	var names []string
	for _, s := range dm.Services {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"db", "vault"}) || len(dm.Routes) != 1 || dm.Routes[0].Service != "vault" {
		t.Errorf("dataModel = %v routes %v; want db and vault with vault's route", names, dm.Routes)
	}
	if len(m.Services) != 5 || len(m.Routes) != 2 {
		t.Error("dataModel changed the model it reduces")
	}
	if got := dependents(m, "db"); !slices.Equal(got, []string{"web", "worker"}) && !slices.Equal(got, []string{"worker", "web"}) {
		t.Errorf("dependents(db) = %v; want web and worker", got)
	}
}

func TestCompareFactsNamesEveryDifference(t *testing.T) {
	b := &BackupOptions{Store: factsStore{facts: []byte(`{"tables":{"users":3,"orders":5},"files":{"a.txt":"h1"}}`)}}
	lines, err := compareFacts(context.Background(), b, "s1", "db", Facts{Tables: map[string]int64{"users": 3, "orders": 5}, Files: map[string]string{"a.txt": "h1"}})
	if err != nil || len(lines) != 1 {
		t.Fatalf("matching facts: %v, %v", lines, err)
	}
	lines, err = compareFacts(context.Background(), b, "s1", "db", Facts{Tables: map[string]int64{"users": 2}})
	if err == nil || len(lines) != 1 {
		t.Fatalf("differing facts passed: %v", lines)
	}
	for _, want := range []string{"table orders is missing", "table users has 2 rows, 3 at backup time", "file a.txt is missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// factsStore answers BackupRunBySnapshot with recorded facts; the rest of
// the store is not used by compareFacts.
type factsStore struct {
	store.BackupStore
	facts []byte
}

func (f factsStore) BackupRunBySnapshot(_ context.Context, id string) (store.BackupRun, error) {
	return store.BackupRun{Snapshot: id, Facts: f.facts}, nil
}

func TestDumpProgressGetsAnETAFromThePreviousSnapshot(t *testing.T) {
	var got []wire.BackupProgress
	rec := func(p wire.BackupProgress) { got = append(got, p) }
	withExpected(rec, 300<<20)(wire.BackupProgress{Bytes: 100 << 20, Rate: 50 << 20})
	withExpected(rec, 300<<20)(wire.BackupProgress{Bytes: 400 << 20, Rate: 50 << 20})
	withExpected(rec, 0)(wire.BackupProgress{Bytes: 100 << 20, Rate: 50 << 20})
	withExpected(rec, 300<<20)(wire.BackupProgress{Bytes: 100 << 20, Rate: 50 << 20, ETA: time.Second})
	want := []time.Duration{4 * time.Second, 0, 0, time.Second}
	for i, p := range got {
		if p.ETA != want[i] {
			t.Errorf("progress %d: ETA %v, want %v", i, p.ETA, want[i])
		}
	}
	if !strings.Contains(progressText(got[0]), "ETA 4s") {
		t.Errorf("progress line %q does not show the ETA", progressText(got[0]))
	}
}
