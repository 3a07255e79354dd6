package backup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/fs/localfs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/format"
	"github.com/kopia/kopia/repo/manifest"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/policy"
	"github.com/kopia/kopia/snapshot/upload"
)

// The repository's formats, fixed when it is created. Measured on SQL dumps
// and file trees against restic (bench/backup): see newRepositoryOptions.
const (
	// splitter is the content-defined chunker: buzhash over a rolling
	// window, chunks of 1 MiB on average (512 KiB to 2 MiB). Smaller
	// chunks find more duplicates in a slightly changed dump; larger ones
	// cost less index. 1 MiB adds about 1 % plus a few chunks for a 1 %
	// change spread over a dump.
	splitter = "DYNAMIC-1M-BUZHASH"
	// compressor is applied per chunk; kopia keeps a chunk raw when it
	// does not shrink. zstd's default level rather than its fastest: on
	// SQL dumps the repository came out 3 % larger than restic's with the
	// fastest, and snapshots were still well ahead of restic's.
	compressor = "zstd"
	// hash names chunks: keyed BLAKE3, so chunk IDs reveal nothing without
	// the repository's keys.
	hash = "BLAKE3-256-128"
	// encryption is authenticated: a flipped bit fails to decrypt.
	encryption = "AES256-GCM-HMAC-SHA256"
)

func newRepositoryOptions() *repo.NewRepositoryOptions {
	return &repo.NewRepositoryOptions{
		BlockFormat: format.ContentFormat{
			Hash:       hash,
			Encryption: encryption,
		},
		ObjectFormat: format.ObjectFormat{Splitter: splitter},
	}
}

// policyTree is the snapshot policy: kopia's defaults, with compression on,
// every file included (no .kopiaignore), and no per-entry logging.
func policyTree() *policy.Tree {
	p := *policy.DefaultPolicy
	p.CompressionPolicy = policy.CompressionPolicy{CompressorName: compressor}
	p.SplitterPolicy = policy.SplitterPolicy{Algorithm: splitter}
	p.FilesPolicy = policy.FilesPolicy{}
	return policy.BuildTree(nil, &p)
}

// tagPrefix keeps quai's tags apart from kopia's own manifest labels.
const tagPrefix = "tag:"

// canonicalTags orders the tags that name a series; other tags follow,
// sorted.
var canonicalTags = []string{"org", "project", "env", "instance", "service", "kind"}

// sourceInfo is the kopia source a series of snapshots shares: the tags
// and the source's name, so that a directory's next snapshot finds the
// previous one and skips unchanged files.
func sourceInfo(tags map[string]string, name string) snapshot.SourceInfo {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range tags {
			if !slices.Contains(canonicalTags, k) && !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	for _, k := range append(slices.Clone(canonicalTags), keys...) {
		if v, ok := tags[k]; ok {
			b.WriteString("/" + url.PathEscape(k+"="+v))
		}
	}
	b.WriteString("/" + url.PathEscape(name))
	return snapshot.SourceInfo{Host: kopiaHost, UserName: kopiaUser, Path: b.String()}
}

func labels(tags map[string]string) map[string]string {
	l := make(map[string]string, len(tags))
	for k, v := range tags {
		l[tagPrefix+k] = v
	}
	return l
}

// description is what quai keeps in a snapshot's manifest beyond kopia's
// own fields.
type description struct {
	Name   string `json:"name"`
	Stream bool   `json:"stream,omitempty"`
	Added  int64  `json:"added"`
}

// Snapshot stores src as a new snapshot with tags (which should include
// org, project, env, instance, service and kind) and returns it. progress,
// when not nil, is called at most twice a second and once at the end.
func (r *Repo) Snapshot(ctx context.Context, src Source, tags map[string]string, progress func(Progress)) (Snapshot, error) {
	if src.Name == "" || (src.Stream == nil) == (src.Dir == "") {
		return Snapshot{}, fmt.Errorf("backup: snapshot %q: a source needs a name and exactly one of a stream or a directory", src.Name)
	}
	if err := r.tgt.reachable(ctx); err != nil {
		return Snapshot{}, err
	}
	r.excl.RLock()
	defer r.excl.RUnlock()

	p := newMeter(progress)
	defer p.stop()
	ctx, w, err := r.kr.NewWriter(ctx, repo.WriteSessionOptions{Purpose: "quai snapshot", OnUpload: func(n int64) { p.added.Add(n) }})
	if err != nil {
		return Snapshot{}, r.tgt.classify(ctx, fmt.Errorf("backup: snapshot %s: %w", src.Name, err))
	}
	// What is kept is flushed explicitly below; Close only ends the session.
	defer func() { _ = w.Close(ctx) }()

	si := sourceInfo(tags, src.Name)
	var man *snapshot.Manifest
	if src.Stream != nil {
		man, err = r.snapshotStream(ctx, w, src, si, p)
	} else {
		man, err = r.snapshotDir(ctx, w, src, si, p)
	}
	if err != nil {
		return Snapshot{}, r.tgt.classify(ctx, err)
	}
	// Flush the data first, so that Added counts it all, then record the
	// manifest.
	if err := w.Flush(ctx); err != nil {
		return Snapshot{}, r.tgt.classify(ctx, fmt.Errorf("backup: snapshot %s: write to %s: %w", src.Name, r.display, err))
	}
	d, _ := json.Marshal(description{Name: src.Name, Stream: src.Stream != nil, Added: p.added.Load()})
	man.Description = string(d)
	man.Tags = labels(tags)
	if _, err := snapshot.SaveSnapshot(ctx, w, man); err != nil {
		return Snapshot{}, r.tgt.classify(ctx, fmt.Errorf("backup: snapshot %s: save: %w", src.Name, err))
	}
	if err := w.Flush(ctx); err != nil {
		return Snapshot{}, r.tgt.classify(ctx, fmt.Errorf("backup: snapshot %s: write to %s: %w", src.Name, r.display, err))
	}
	p.report(true)
	return fromManifest(man), nil
}

// snapshotStream writes the stream straight into one object: chunks are
// hashed, compressed and encrypted on all cores while the stream goes on.
// The manifest's root is that file, as kopia's own single-file snapshots.
func (r *Repo) snapshotStream(ctx context.Context, w repo.RepositoryWriter, src Source, si snapshot.SourceInfo, p *meter) (*snapshot.Manifest, error) {
	start := r.now()
	ow := w.NewObjectWriter(ctx, object.WriterOptions{
		Description: "STREAM:" + src.Name,
		Compressor:  compressor,
		Splitter:    splitter,
		AsyncWrites: runtime.GOMAXPROCS(0),
	})
	// Result below commits the object; Close only releases its buffers.
	defer func() { _ = ow.Close() }()
	p.files.Store(1)
	cw := &countingWriter{w: ow, n: &p.bytes, ctx: ctx, down: r.tgt.live.Down}
	if err := src.Stream(ctx, cw); err != nil {
		if errors.Is(err, ErrUnreachable) {
			return nil, fmt.Errorf("backup: snapshot %s: %w", src.Name, err)
		}
		return nil, fmt.Errorf("backup: snapshot %s: the stream failed: %w", src.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("backup: snapshot %s: %w", src.Name, err)
	}
	oid, err := ow.Result()
	if err != nil {
		return nil, fmt.Errorf("backup: snapshot %s: write to %s: %w", src.Name, r.display, err)
	}
	size := p.bytes.Load()
	end := r.now()
	return &snapshot.Manifest{
		Source:    si,
		StartTime: fs.UTCTimestampFromTime(start),
		EndTime:   fs.UTCTimestampFromTime(end),
		Stats:     snapshot.Stats{TotalFileSize: size, TotalFileCount: 1, NonCachedFiles: 1},
		RootEntry: &snapshot.DirEntry{
			Name:        src.Name,
			Type:        snapshot.EntryTypeFile,
			Permissions: 0o600,
			FileSize:    size,
			ModTime:     fs.UTCTimestampFromTime(end),
			ObjectID:    oid,
		},
	}, nil
}

// snapshotDir uploads a host directory; files unchanged (size and mtime)
// since the series' previous snapshot are taken from it unread. Any file
// that cannot be read fails the snapshot: a backup missing files is not one
// to trust.
func (r *Repo) snapshotDir(ctx context.Context, w repo.RepositoryWriter, src Source, si snapshot.SourceInfo, p *meter) (*snapshot.Manifest, error) {
	dir, err := localfs.Directory(src.Dir)
	if err != nil {
		return nil, fmt.Errorf("backup: snapshot %s: directory %s: %w", src.Name, src.Dir, err)
	}
	previous, err := snapshot.FindPreviousManifests(ctx, w, si, nil)
	if err != nil {
		return nil, fmt.Errorf("backup: snapshot %s: previous snapshots: %w", src.Name, err)
	}
	u := upload.NewUploader(w)
	u.Progress = p
	u.FailFast = true
	u.DisableIgnoreRules = true
	man, err := u.Upload(ctx, dir, r.pol, si, previous...)
	if err != nil {
		return nil, fmt.Errorf("backup: snapshot %s of %s: %w", src.Name, src.Dir, err)
	}
	if man.IncompleteReason != "" {
		return nil, fmt.Errorf("backup: snapshot %s of %s: incomplete (%s): %w", src.Name, src.Dir, man.IncompleteReason, cmp.Or(ctx.Err(), errors.New("upload stopped")))
	}
	if ds := man.RootEntry.DirSummary; ds != nil && ds.FatalErrorCount > 0 {
		msg := fmt.Sprintf("%d entries could not be read", ds.FatalErrorCount)
		if len(ds.FailedEntries) > 0 {
			msg += fmt.Sprintf(", first %s: %s", ds.FailedEntries[0].EntryPath, ds.FailedEntries[0].Error)
		}
		return nil, fmt.Errorf("backup: snapshot %s of %s: %s", src.Name, src.Dir, msg)
	}
	return man, nil
}

// List returns the snapshots whose tags include all of tags (all snapshots
// for none), newest first.
func (r *Repo) List(ctx context.Context, tags map[string]string) ([]Snapshot, error) {
	if err := r.tgt.reachable(ctx); err != nil {
		return nil, err
	}
	mans, err := r.manifests(ctx, tags)
	if err != nil {
		return nil, err
	}
	out := make([]Snapshot, 0, len(mans))
	for _, m := range mans {
		out = append(out, fromManifest(m))
	}
	return out, nil
}

// manifests loads the matching manifests, newest first, after picking up
// what other connections wrote.
func (r *Repo) manifests(ctx context.Context, tags map[string]string) ([]*snapshot.Manifest, error) {
	if err := r.kr.Refresh(ctx); err != nil {
		return nil, r.tgt.classify(ctx, fmt.Errorf("backup: list %s: %w", r.display, err))
	}
	ids, err := snapshot.ListSnapshotManifests(ctx, r.kr, nil, labels(tags))
	if err != nil {
		return nil, r.tgt.classify(ctx, fmt.Errorf("backup: list %s: %w", r.display, err))
	}
	mans, err := snapshot.LoadSnapshots(ctx, r.kr, ids)
	if err != nil {
		return nil, r.tgt.classify(ctx, fmt.Errorf("backup: list %s: %w", r.display, err))
	}
	if len(mans) != len(ids) {
		return nil, r.tgt.classify(ctx, fmt.Errorf("backup: list %s: %w: %d of %d snapshot manifests do not read", r.display, ErrCorrupt, len(ids)-len(mans), len(ids)))
	}
	slices.SortFunc(mans, func(a, b *snapshot.Manifest) int {
		return cmp.Or(b.StartTime.ToTime().Compare(a.StartTime.ToTime()), strings.Compare(string(b.ID), string(a.ID)))
	})
	return mans, nil
}

// load returns one snapshot's manifest.
func (r *Repo) load(ctx context.Context, id string) (*snapshot.Manifest, error) {
	m, err := snapshot.LoadSnapshot(ctx, r.kr, manifest.ID(id))
	if errors.Is(err, snapshot.ErrSnapshotNotFound) {
		// Another connection may have written it since this one opened.
		if rerr := r.kr.Refresh(ctx); rerr == nil {
			m, err = snapshot.LoadSnapshot(ctx, r.kr, manifest.ID(id))
		}
	}
	switch {
	case errors.Is(err, snapshot.ErrSnapshotNotFound):
		return nil, fmt.Errorf("backup: snapshot %s in %s: %w (see `quai backup ls`)", id, r.display, ErrNotFound)
	case err != nil:
		return nil, r.tgt.classify(ctx, fmt.Errorf("backup: snapshot %s in %s: %w", id, r.display, err))
	}
	return m, nil
}

func fromManifest(m *snapshot.Manifest) Snapshot {
	var d description
	_ = json.Unmarshal([]byte(m.Description), &d)
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		if t, ok := strings.CutPrefix(k, tagPrefix); ok {
			tags[t] = v
		}
	}
	return Snapshot{
		ID:         string(m.ID),
		Tags:       tags,
		Start:      m.StartTime.ToTime(),
		End:        m.EndTime.ToTime(),
		Size:       m.Stats.TotalFileSize,
		Added:      d.Added,
		Files:      int(m.Stats.TotalFileCount),
		Incomplete: m.IncompleteReason != "",
		Name:       d.Name,
		Stream:     d.Stream,
	}
}

// countingWriter counts what a stream writes and stops it once ctx ends or
// the target is down (so that the dump stops too, rather than running to
// its end into writes that cannot be stored).
type countingWriter struct {
	w    interface{ Write([]byte) (int, error) }
	n    *atomic.Int64
	ctx  context.Context
	down func(context.Context) error
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.down(c.ctx); err != nil {
		return 0, err
	}
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// meter turns kopia's upload events into Progress reports.
type meter struct {
	upload.NullUploadProgress
	fn                         func(Progress)
	start                      time.Time
	bytes, files, added, total atomic.Int64
	mu                         sync.Mutex
	last                       time.Time
	done                       chan struct{}
	wg                         sync.WaitGroup
}

const reportEvery = 500 * time.Millisecond

func newMeter(fn func(Progress)) *meter {
	m := &meter{fn: fn, start: time.Now(), done: make(chan struct{})}
	if fn != nil {
		m.wg.Go(func() {
			t := time.NewTicker(reportEvery)
			defer t.Stop()
			for {
				select {
				case <-m.done:
					return
				case <-t.C:
					m.report(false)
				}
			}
		})
	}
	return m
}

func (m *meter) stop() {
	close(m.done)
	m.wg.Wait()
}

func (m *meter) report(final bool) {
	if m.fn == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if !final && now.Sub(m.last) < reportEvery/2 {
		return
	}
	m.last = now
	p := Progress{Bytes: m.bytes.Load(), Files: m.files.Load(), Added: m.added.Load()}
	if el := now.Sub(m.start).Seconds(); el > 0 {
		p.Rate = float64(p.Bytes) / el
	}
	if total := m.total.Load(); total > p.Bytes && p.Rate > 0 && !final {
		p.ETA = time.Duration(float64(total-p.Bytes) / p.Rate * float64(time.Second))
	}
	m.fn(p)
}

// Enabled implements upload.Progress.
func (m *meter) Enabled() bool { return true }

// HashedBytes implements upload.Progress.
func (m *meter) HashedBytes(n int64) { m.bytes.Add(n) }

// CachedFile implements upload.Progress: an unchanged file counts as read.
func (m *meter) CachedFile(_ string, n int64) {
	m.bytes.Add(n)
	m.files.Add(1)
}

// FinishedHashingFile implements upload.Progress.
func (m *meter) FinishedHashingFile(string, int64) { m.files.Add(1) }

// EstimatedDataSize implements upload.Progress.
func (m *meter) EstimatedDataSize(_, bytes int64) { m.total.Store(bytes) }
