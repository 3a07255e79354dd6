package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/content/indexblob"
	"github.com/kopia/kopia/repo/maintenance"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/snapshotgc"
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
	return r.delete(ctx, doomed, "prune")
}

// ErrNoTags: Forget was asked to delete without naming whose snapshots.
var ErrNoTags = errors.New("backup: forget needs tags naming whose snapshots to delete")

// Forget deletes every snapshot whose tags include all of tags (an
// instance's, when tags name its org and instance), then reclaims the
// space no remaining snapshot references, as Prune does. Snapshots of
// other sources sharing data with the deleted ones keep that data. It
// returns the deleted snapshots; empty tags are refused (ErrNoTags), so a
// mistake never empties a repository.
func (r *Repo) Forget(ctx context.Context, tags map[string]string) ([]Snapshot, error) {
	if len(tags) == 0 {
		return nil, ErrNoTags
	}
	if err := r.tgt.reachable(ctx); err != nil {
		return nil, err
	}
	r.excl.Lock()
	defer r.excl.Unlock()
	mans, err := r.manifests(ctx, tags)
	if err != nil {
		return nil, err
	}
	return r.delete(ctx, mans, "forget")
}

// delete deletes the manifests of doomed and runs full maintenance; the
// caller holds r.excl.
func (r *Repo) delete(ctx context.Context, doomed []*snapshot.Manifest, verb string) ([]Snapshot, error) {
	deleted := make([]Snapshot, 0, len(doomed))
	err := repo.DirectWriteSession(ctx, r.kr, repo.WriteSessionOptions{Purpose: "quai " + verb}, func(ctx context.Context, w repo.DirectRepositoryWriter) error {
		for _, m := range doomed {
			if err := w.DeleteManifest(ctx, m.ID); err != nil {
				return fmt.Errorf("delete snapshot %s: %w", m.ID, err)
			}
			deleted = append(deleted, fromManifest(m))
		}
		if err := w.Flush(ctx); err != nil {
			return err
		}
		return reclaim(ctx, w)
	})
	if err != nil {
		return nil, r.tgt.classify(ctx, fmt.Errorf("backup: %s %s: %w", verb, r.display, err))
	}
	return deleted, nil
}

// reclaim is kopia's full maintenance with the deleted data dropped before
// packs are rewritten: collect the chunks no snapshot references, drop
// them from the index at once, then rewrite short packs and delete the
// unreferenced ones. Kopia's own order rewrites short packs with their
// deleted chunks still in them, and the one big pack that makes is never
// rewritten again, so what was deleted would stay on disk. No safety
// delays: this process is the only writer and holds every snapshot off
// while it runs.
func reclaim(ctx context.Context, w repo.DirectRepositoryWriter) error {
	return maintenance.RunExclusive(ctx, w, maintenance.ModeFull, true, func(ctx context.Context, rp maintenance.RunParameters) error {
		if err := snapshotgc.Run(ctx, w, true, maintenance.SafetyNone, rp.MaintenanceStartTime); err != nil {
			return fmt.Errorf("collect unreferenced data: %w", err)
		}
		if err := w.Flush(ctx); err != nil {
			return err
		}
		// The index keeps a second's precision: a second ahead covers
		// every chunk deleted just now.
		if _, err := w.ContentManager().CompactIndexes(ctx, indexblob.CompactOptions{AllIndexes: true,
			DropDeletedBefore: w.Time().Add(time.Second), DisableEventualConsistencySafety: true}); err != nil {
			return fmt.Errorf("drop deleted data from the index: %w", err)
		}
		return maintenance.Run(ctx, rp, maintenance.SafetyNone)
	})
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
