package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/maintenance"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/snapshotmaintenance"
)

// Prune deletes the snapshots matching tags that keep does not retain,
// series by series (a series is one source: the same tags and name), and
// then removes the data no remaining snapshot references (and what a
// crashed writer left behind), even when it deleted no snapshot. It
// returns the deleted snapshots. A Retention with every count zero keeps everything:
// an unset policy never empties a repository.
//
// Periods are calendar days, ISO weeks and months in now's location; now
// also protects an incomplete snapshot (a checkpoint) that no complete
// snapshot has superseded. Prune waits for running snapshots of the same
// repository in this process and holds off new ones while it runs, which
// is what lets its maintenance delete unreferenced data at once.
func (r *Repo) Prune(ctx context.Context, tags map[string]string, keep Retention, now time.Time) ([]Snapshot, error) {
	if err := r.tgt.reachable(ctx); err != nil {
		return nil, err
	}
	r.excl.Lock()
	defer r.excl.Unlock()

	mans, err := r.manifests(ctx, tags)
	if err != nil {
		return nil, err
	}
	series := map[string][]*snapshot.Manifest{}
	for _, m := range mans {
		series[m.Source.Path] = append(series[m.Source.Path], m)
	}
	var doomed []*snapshot.Manifest
	for _, ms := range series {
		doomed = append(doomed, expired(ms, keep, now)...)
	}
	deleted := make([]Snapshot, 0, len(doomed))
	err = repo.DirectWriteSession(ctx, r.kr, repo.WriteSessionOptions{Purpose: "quai prune"}, func(ctx context.Context, w repo.DirectRepositoryWriter) error {
		for _, m := range doomed {
			if err := w.DeleteManifest(ctx, m.ID); err != nil {
				return fmt.Errorf("delete snapshot %s: %w", m.ID, err)
			}
			deleted = append(deleted, fromManifest(m))
		}
		if err := w.Flush(ctx); err != nil {
			return err
		}
		// Full maintenance: collect chunks no snapshot references, drop
		// them from the index, rewrite mostly-empty packs and delete
		// unreferenced ones. No safety delays: this process is the only
		// writer and holds every snapshot off while it runs.
		return snapshotmaintenance.Run(ctx, w, maintenance.ModeFull, true, maintenance.SafetyNone)
	})
	if err != nil {
		return nil, r.tgt.classify(ctx, fmt.Errorf("backup: prune %s: %w", r.display, err))
	}
	return deleted, nil
}

// expired returns the snapshots of one series (newest first) that keep
// does not retain.
func expired(ms []*snapshot.Manifest, keep Retention, now time.Time) []*snapshot.Manifest {
	if keep == (Retention{}) {
		return nil
	}
	loc := now.Location()
	type rule struct {
		n      int
		period func(time.Time) string
		seen   map[string]bool
	}
	rules := []*rule{
		{n: keep.KeepDaily, period: func(t time.Time) string { return t.Format(time.DateOnly) }},
		{n: keep.KeepWeekly, period: func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, "W", w) }},
		{n: keep.KeepMonthly, period: func(t time.Time) string { return t.Format("2006-01") }},
	}
	for _, ru := range rules {
		ru.seen = map[string]bool{}
	}
	var (
		out            []*snapshot.Manifest
		complete       int
		newestComplete time.Time
	)
	for _, m := range ms {
		if m.IncompleteReason == "" && newestComplete.IsZero() {
			newestComplete = m.StartTime.ToTime()
		}
	}
	for _, m := range ms {
		t := m.StartTime.ToTime().In(loc)
		if m.IncompleteReason != "" {
			// A checkpoint is worth keeping only until a complete snapshot
			// of the series follows it.
			if !newestComplete.IsZero() && t.Before(newestComplete) {
				out = append(out, m)
			}
			continue
		}
		kept := t.After(now) // a clock that went back must not cost data
		if complete < keep.KeepLast {
			kept = true
		}
		complete++
		for _, ru := range rules {
			p := ru.period(t)
			if ru.seen[p] {
				continue
			}
			if len(ru.seen) < ru.n {
				ru.seen[p] = true
				kept = true
			}
		}
		if !kept {
			out = append(out, m)
		}
	}
	return out
}
