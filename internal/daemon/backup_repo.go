package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/backup"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// repos keeps one open repository per organization for the daemon's
// lifetime: the repository's own guards (one maintenance at a time, prune
// excluding snapshots) hold within one Repo, and connecting is not free.
type repos struct {
	settings *backupSettings

	mu   sync.Mutex
	open map[string]*backup.Repo
}

// get returns the organization's repository, opening (and on first use
// creating) it. A target that does not answer is not remembered, so the
// next operation tries again.
func (r *repos) get(ctx context.Context, org string) (engine.BackupRepository, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if repo, ok := r.open[org]; ok {
		return repoAdapter{repo}, nil
	}
	t, err := r.settings.target(ctx, org)
	if err != nil {
		return nil, err
	}
	pw, created, err := r.settings.passwordCreated(org)
	if err != nil {
		return nil, err
	}
	repo, err := backup.Open(ctx, backup.Target{URL: t.URL, AccessKey: t.AccessKey, SecretKey: t.SecretKey}, pw)
	if err != nil {
		if created {
			r.settings.dropPassword(org)
		}
		if errors.Is(err, backup.ErrWrongPassword) {
			err = fmt.Errorf("%w; give this host that password with `quai backup key import --org %s FILE`", err, org)
		}
		return nil, err
	}
	if r.open == nil {
		r.open = map[string]*backup.Repo{}
	}
	r.open[org] = repo
	return repoAdapter{repo}, nil
}

// forget closes the organization's repository, so the next use opens its
// new target.
func (r *repos) forget(org string) {
	r.mu.Lock()
	repo := r.open[org]
	delete(r.open, org)
	r.mu.Unlock()
	if repo != nil {
		_ = repo.Close(context.Background())
	}
}

func (r *repos) close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for org, repo := range r.open {
		if err := repo.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close the backup repository of org %s: %w", org, err))
		}
	}
	r.open = nil
	return errors.Join(errs...)
}

// repoAdapter is a backup.Repo as the engine sees it. Close is a no-op:
// the daemon closes its repositories at shutdown.
type repoAdapter struct{ r *backup.Repo }

func fromBackup(s backup.Snapshot) engine.Snapshot {
	return engine.Snapshot{ID: s.ID, Tags: s.Tags, Start: s.Start, End: s.End, Size: s.Size, Added: s.Added,
		Files: int64(s.Files), Incomplete: s.Incomplete, Dir: !s.Stream}
}

func (a repoAdapter) Snapshot(ctx context.Context, src engine.BackupSource, tags map[string]string, progress func(wire.BackupProgress)) (engine.Snapshot, error) {
	s, err := a.r.Snapshot(ctx, backup.Source{Name: src.Name, Stream: src.Stream, Dir: src.Dir}, tags, func(p backup.Progress) {
		if progress != nil {
			progress(wire.BackupProgress{Bytes: p.Bytes, Files: p.Files, Added: p.Added, Rate: p.Rate, ETA: p.ETA})
		}
	})
	return fromBackup(s), err
}

func (a repoAdapter) List(ctx context.Context, tags map[string]string) ([]engine.Snapshot, error) {
	list, err := a.r.List(ctx, tags)
	out := make([]engine.Snapshot, 0, len(list))
	for _, s := range list {
		out = append(out, fromBackup(s))
	}
	return out, err
}

func (a repoAdapter) Restore(ctx context.Context, id string, stream func(ctx context.Context, r io.Reader) error, dir string) error {
	return a.r.Restore(ctx, id, stream, dir)
}

// Verify reads all of the snapshot's data back when percent is 0 (the
// engine's "all"); the repository itself reads none then and only checks
// that every chunk's pack is present.
func (a repoAdapter) Verify(ctx context.Context, id string, percent float64) error {
	if percent <= 0 {
		percent = 100
	}
	_, err := a.r.Verify(ctx, id, percent)
	return err
}

func (a repoAdapter) Prune(ctx context.Context, tags map[string]string, keep stack.Retention, now time.Time) ([]engine.Snapshot, error) {
	gone, err := a.r.Prune(ctx, tags, backup.Retention{KeepLast: keep.KeepLast, KeepDaily: keep.KeepDaily,
		KeepWeekly: keep.KeepWeekly, KeepMonthly: keep.KeepMonthly}, now)
	out := make([]engine.Snapshot, 0, len(gone))
	for _, s := range gone {
		out = append(out, fromBackup(s))
	}
	return out, err
}

func (a repoAdapter) Forget(ctx context.Context, tags map[string]string) ([]engine.Snapshot, error) {
	gone, err := a.r.Forget(ctx, tags)
	out := make([]engine.Snapshot, 0, len(gone))
	for _, s := range gone {
		out = append(out, fromBackup(s))
	}
	return out, err
}

func (repoAdapter) Close(context.Context) error { return nil }

// wireRepos connects the engine's backups to the organizations'
// repositories and the dumpers.
func (d *Daemon) wireRepos(o *engine.BackupOptions) {
	d.repos = &repos{settings: d.backups}
	o.Open = d.repos.get
	o.Dumper = newDumper
}
