// Package backup is quai's backup repository: content-defined chunking with
// deduplication across every snapshot in one repository, zstd compression,
// authenticated encryption (AES-256-GCM), integrity verification and
// retention, on a local directory or an S3-compatible bucket.
//
// The format is kopia's (github.com/kopia/kopia v0.23.1, embedded as a
// library): a repository written by quai opens with the kopia CLI given the
// same password, which is the way out should quai ever be gone. Nothing of
// kopia shows through this package's API.
//
// Kopia's format takes no locks in the repository: packs and indexes are
// written under fresh random names and never rewritten, so a writer killed
// mid-snapshot leaves only unreferenced packs (which Prune's maintenance
// removes), never a lock that blocks the next run. Maintenance serialises
// itself with flock(2) on a file in the Repo's private temporary directory,
// which the kernel releases when the process dies. The one rule is that a
// single process (the daemon) writes to a repository; within it, Prune
// excludes Snapshot per repository.
package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/repo/content"
	"github.com/kopia/kopia/repo/format"
	"github.com/kopia/kopia/repo/maintenance"
	"github.com/kopia/kopia/snapshot/policy"
)

// Errors callers branch on. Each comes wrapped with what and where.
var (
	// ErrCorrupt is data in the repository that does not read back as it
	// was written (a chunk that fails authentication, a missing pack). The
	// message names the snapshot.
	ErrCorrupt = errors.New("backup repository data is corrupt")
	// ErrNotFound is a snapshot ID the repository does not hold.
	ErrNotFound = errors.New("backup snapshot not found")
	// ErrWrongPassword is a password that does not open the repository.
	ErrWrongPassword = errors.New("wrong backup repository password")
	// ErrUnreachable is a target that does not answer (S3 endpoint down,
	// network cut); the operation can be retried once it is back.
	ErrUnreachable = errors.New("backup target unreachable")
)

// Target is where a repository lives.
type Target struct {
	// URL is "file:///abs/dir" or
	// "s3://bucket/prefix?endpoint=host:port&region=us-east-1&tls=false|true&ca=/path".
	URL string
	// AccessKey and SecretKey authenticate to S3; they are never logged nor
	// written anywhere by this package.
	AccessKey, SecretKey string
}

// Source is what one snapshot holds: exactly one of Stream or Dir.
type Source struct {
	// Name is the snapshot's content name ("db.pgdump", "uploads.tar", a
	// directory label); with the tags it identifies the series a snapshot
	// belongs to, so the same service's snapshots share one Name.
	Name string
	// Stream writes the data (a database dump); it is chunked as it is
	// written, with no temporary copy on disk. An error fails the snapshot.
	Stream func(ctx context.Context, w io.Writer) error
	// Dir is a host directory, snapshotted file by file; files whose size
	// and modification time did not change since the series' previous
	// snapshot are not read again.
	Dir string
}

// Progress is reported while a snapshot runs, and once at its end.
type Progress struct {
	Bytes, Files, Added int64         // read so far; Added: bytes written to the target
	Rate                float64       // bytes read per second
	ETA                 time.Duration // 0 when the total is unknown (streams)
}

// Snapshot is one point-in-time copy of a Source.
type Snapshot struct {
	ID         string
	Tags       map[string]string
	Start, End time.Time
	Size       int64 // bytes of source data
	Added      int64 // bytes this snapshot added to the target, after dedup and compression
	Files      int
	Incomplete bool // a checkpoint of a snapshot that did not finish
	// Name is the Source's Name.
	Name string
	// Stream says the snapshot holds a Stream source (restore it with a
	// stream function) rather than a Dir (restore it into a directory).
	Stream bool
}

// Retention says which snapshots Prune keeps (the union of all rules);
// each rule counts distinct periods that hold a snapshot, newest first.
type Retention struct {
	KeepLast    int // the newest N
	KeepDaily   int // the newest of each of the last N days
	KeepWeekly  int // the newest of each of the last N ISO weeks
	KeepMonthly int // the newest of each of the last N months
}

// VerifyReport is what Verify checked.
type VerifyReport struct {
	ID           string
	Files        int   // files in the snapshot
	Chunks       int   // distinct chunks the snapshot references
	ChunksRead   int   // chunks read back, decrypted and hash-checked
	BytesRead    int64 // their stored (compressed, encrypted) size
	PacksChecked int   // pack files whose presence was checked
}

// Repo is an open repository. Its methods are safe for concurrent use; one
// process should hold one Repo per repository.
type Repo struct {
	kr      repo.DirectRepository
	tgt     *target
	tmp     string // the kopia connection file and maintenance lock
	display string // the target without credentials, for messages
	pol     *policy.Tree
	excl    *sync.RWMutex // snapshots share it; prune holds it alone
	now     func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// Client identity recorded in snapshots and maintenance ownership. Fixed,
// so that a fresh host with the password restores and maintains the same
// repository as the old one did.
const (
	kopiaUser = "quai"
	kopiaHost = "quai"
)

// Open connects to the repository at t, creating it (and an S3 bucket) on
// first use. The password encrypts the repository's keys; losing it loses
// the data.
func Open(ctx context.Context, t Target, password []byte) (*Repo, error) {
	if len(password) == 0 {
		return nil, errors.New("backup: open " + redactURL(t.URL) + ": empty repository password")
	}
	tg, err := parseTarget(t)
	if err != nil {
		return nil, err
	}
	if err := tg.reachable(ctx); err != nil {
		return nil, err
	}
	st, err := tg.storage(ctx)
	if err != nil {
		return nil, tg.classify(ctx, fmt.Errorf("backup: open %s: %w", tg.display, err))
	}
	r, err := connect(ctx, tg, st, string(password))
	if err != nil {
		_ = tg.close(ctx)
		return nil, err
	}
	return r, nil
}

func connect(ctx context.Context, tg *target, st *liveStorage, password string) (*Repo, error) {
	created := false
	var probe discard
	switch err := st.GetBlob(ctx, format.KopiaRepositoryBlobID, 0, -1, &probe); {
	case errors.Is(err, blob.ErrBlobNotFound):
		if err := repo.Initialize(ctx, st, newRepositoryOptions(), password); err != nil {
			return nil, tg.classify(ctx, fmt.Errorf("backup: create repository at %s: %w", tg.display, err))
		}
		created = true
	case err != nil:
		return nil, tg.classify(ctx, fmt.Errorf("backup: open %s: %w", tg.display, err))
	}

	tmp, err := os.MkdirTemp("", "quai-backup-")
	if err != nil {
		return nil, fmt.Errorf("backup: open %s: %w", tg.display, err)
	}
	// The connection file kopia opens a repository from, written directly
	// (repo.Connect would open the repository once more to check it): the
	// storage by its live ID, the fixed client identity, and no cache, so
	// that every read (Verify's above all) comes from the target.
	cfg := filepath.Join(tmp, "repository.config")
	ci := st.ConnectionInfo()
	lc := repo.LocalConfig{
		Storage:       &ci,
		Caching:       &content.CachingOptions{},
		ClientOptions: repo.ClientOptions{Username: kopiaUser, Hostname: kopiaHost}.ApplyDefaults(ctx, "quai backups in "+tg.display),
	}
	b, err := json.Marshal(lc)
	if err == nil {
		err = os.WriteFile(cfg, b, 0o600)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("backup: open %s: %w", tg.display, err)
	}
	kr, err := repo.Open(ctx, cfg, password, &repo.Options{
		DisableRepositoryLog: true,
		// Kopia's default ends the process; an error in one repository
		// must not stop the daemon. It fires only when another client
		// starts a format upgrade, which quai never does.
		OnFatalError: func(error) {},
	})
	if err != nil {
		_ = os.RemoveAll(tmp)
		if errors.Is(err, repo.ErrInvalidPassword) {
			return nil, fmt.Errorf("backup: open %s: %w (use the password the repository was created with: `quai backup key export` on the old host)", tg.display, ErrWrongPassword)
		}
		return nil, tg.classify(ctx, fmt.Errorf("backup: open %s: %w", tg.display, err))
	}
	dr, ok := kr.(repo.DirectRepository)
	if !ok {
		_ = kr.Close(ctx)
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("backup: open %s: not a direct repository", tg.display)
	}
	r := &Repo{kr: dr, tgt: tg, tmp: tmp, display: tg.display, pol: policyTree(), excl: exclusion(dr.UniqueID()), now: time.Now}
	if created {
		if err := r.setMaintenanceOwner(ctx); err != nil {
			_ = r.Close(ctx)
			return nil, err
		}
	}
	return r, nil
}

// setMaintenanceOwner records the fixed client identity as the owner of
// the repository's maintenance, as the kopia CLI does on create.
func (r *Repo) setMaintenanceOwner(ctx context.Context) error {
	err := repo.WriteSession(ctx, r.kr, repo.WriteSessionOptions{Purpose: "quai create"}, func(ctx context.Context, w repo.RepositoryWriter) error {
		p := maintenance.DefaultParams()
		p.Owner = kopiaUser + "@" + kopiaHost
		return maintenance.SetParams(ctx, w, &p)
	})
	if err != nil {
		return r.tgt.classify(ctx, fmt.Errorf("backup: create repository at %s: maintenance parameters: %w", r.display, err))
	}
	return nil
}

// Close releases the repository. Snapshots still running fail.
func (r *Repo) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.closeErr = r.kr.Close(ctx)
		r.closeErr = errors.Join(r.closeErr, r.tgt.close(ctx), os.RemoveAll(r.tmp)) //nolint:gosec // r.tmp is the repository's own cache directory, made by Open
	})
	return r.closeErr
}

// String is the target, without credentials.
func (r *Repo) String() string { return r.display }

// exclusions holds one lock per repository (by its unique ID) for the
// process, so two Repos on the same repository still never prune while the
// other snapshots.
var exclusions sync.Map

func exclusion(uniqueID []byte) *sync.RWMutex {
	m, _ := exclusions.LoadOrStore(string(uniqueID), &sync.RWMutex{})
	return m.(*sync.RWMutex)
}

// discard is a blob.OutputBuffer that keeps nothing.
type discard struct{ n int }

func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) Reset()                      { d.n = 0 }
func (d *discard) Length() int                 { return d.n }
