package backup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/repo/content"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/snapshotfs"
)

// Verify checks snapshot id: it walks the snapshot's tree, checks that
// every chunk it references is indexed and that its pack file is in the
// target, then reads back percent % of the chunks (all for 100, none for
// 0), each decrypted (which authenticates it) and hash-checked. Any
// failure is ErrCorrupt naming the snapshot. The repository keeps no local
// cache, so what is read comes from the target.
func (r *Repo) Verify(ctx context.Context, id string, percent float64) (VerifyReport, error) {
	if percent < 0 || percent > 100 {
		return VerifyReport{}, fmt.Errorf("backup: verify %s: percent %v is not within 0..100", id, percent)
	}
	if err := r.tgt.reachable(ctx); err != nil {
		return VerifyReport{}, err
	}
	m, err := r.load(ctx, id)
	if err != nil {
		return VerifyReport{}, err
	}
	return r.check(ctx, "verify", m, percent)
}

// check is Verify on a loaded manifest.
func (r *Repo) check(ctx context.Context, what string, m *snapshot.Manifest, percent float64) (VerifyReport, error) {
	rep := VerifyReport{ID: string(m.ID)}
	root, err := snapshotfs.SnapshotRoot(r.kr, m)
	if err != nil {
		return rep, r.corrupt(ctx, what, m, err)
	}
	chunks := map[content.ID]struct{}{}
	if err := r.walk(ctx, root, chunks, &rep); err != nil {
		return rep, r.corrupt(ctx, what, m, err)
	}
	rep.Chunks = len(chunks)

	packs := map[blob.ID]bool{}
	for _, prefix := range content.PackBlobIDPrefixes {
		err := r.kr.BlobReader().ListBlobs(ctx, prefix, func(b blob.Metadata) error {
			packs[b.BlobID] = true
			return nil
		})
		if err != nil {
			return rep, r.tgt.classify(ctx, fmt.Errorf("backup: %s: snapshot %s: list packs in %s: %w", what, m.ID, r.display, err))
		}
	}
	var (
		sample  []content.ID
		missing []error
		seen    = map[blob.ID]bool{}
	)
	for cid := range chunks {
		ci, err := r.kr.ContentInfo(ctx, cid)
		if err != nil {
			missing = append(missing, fmt.Errorf("chunk %v: %w", cid, err))
			continue
		}
		if !packs[ci.PackBlobID] {
			missing = append(missing, fmt.Errorf("chunk %v: pack %v is missing", cid, ci.PackBlobID))
			continue
		}
		seen[ci.PackBlobID] = true
		if percent >= 100 || (percent > 0 && rand.Float64()*100 < percent) { //nolint:gosec // a random sample of chunks to read back, not a secret
			sample = append(sample, cid)
		}
	}
	rep.PacksChecked = len(seen)
	if len(missing) > 0 {
		return rep, r.corrupt(ctx, what, m, fmt.Errorf("%d of %d chunks are missing, first: %w", len(missing), len(chunks), missing[0]))
	}

	var (
		read, bad atomic.Int64
		bytes     atomic.Int64
		first     error
		mu        sync.Mutex
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(sample)) || ctx.Err() != nil {
					return
				}
				b, err := r.kr.ContentReader().GetContent(ctx, sample[i])
				if err != nil {
					bad.Add(1)
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("chunk %v: %w", sample[i], err)
					}
					mu.Unlock()
					continue
				}
				read.Add(1)
				bytes.Add(int64(len(b)))
			}
		})
	}
	wg.Wait()
	rep.ChunksRead, rep.BytesRead = int(read.Load()), bytes.Load()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if first != nil {
		return rep, r.corrupt(ctx, what, m, fmt.Errorf("%d of %d chunks read do not decrypt or match their hash, first: %w", bad.Load(), len(sample), first))
	}
	return rep, nil
}

// walk collects the chunks of every object under e (directory listings
// included, which it reads and so authenticates).
func (r *Repo) walk(ctx context.Context, e fs.Entry, chunks map[content.ID]struct{}, rep *VerifyReport) error {
	h, ok := e.(snapshot.HasDirEntry)
	if !ok {
		return fmt.Errorf("entry %s has no object", e.Name())
	}
	ids, err := r.kr.VerifyObject(ctx, h.DirEntry().ObjectID)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Name(), err)
	}
	for _, id := range ids {
		chunks[id] = struct{}{}
	}
	d, ok := e.(fs.Directory)
	if !ok {
		if !e.IsDir() && e.Mode().IsRegular() {
			rep.Files++
		}
		return nil
	}
	return fs.IterateEntries(ctx, d, func(ctx context.Context, c fs.Entry) error {
		return r.walk(ctx, c, chunks, rep)
	})
}
