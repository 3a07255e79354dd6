package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/secrets"
	"modernc.org/sqlite" // the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the embedded Store: one database file in WAL mode, so readers
// (status, lists) never wait for a deploy's writes.
//
// The columns of a release that can hold secret values (the model and the
// merged Compose document: passwords hide in environments, env files,
// commands, health checks and build arguments alike) are sealed whole with
// the master key; status, hashes and image digests stay queryable.
type SQLite struct {
	db  *sql.DB
	key *secrets.Key
	log *slog.Logger
	now func() time.Time
}

var _ Store = (*SQLite)(nil)

// busyTimeout is how long a writer waits for another writer's lock before
// failing; writes are short, so this only matters under heavy contention.
const busyTimeout = 10 * time.Second

// FileMode is the mode of the database and its -wal and -shm files: they
// hold every release, so only the daemon's user may read them.
const FileMode os.FileMode = 0o600

// MasterKeyName is the master key's file name beside the database, used
// when Options.Key is nil.
const MasterKeyName = "master.key"

// Options tune OpenWith; the zero value is fine.
type Options struct {
	// Key seals the release columns that can hold secret values; default
	// the master key MasterKeyName in the database's directory, created on
	// first use.
	Key *secrets.Key
	// Logger receives what opening changed (modes tightened, releases
	// sealed); default discard.
	Logger *slog.Logger
}

// Open opens (creating if needed) the database at path with the default
// Options and migrates its schema to the newest version.
func Open(path string) (*SQLite, error) {
	return OpenWith(path, Options{})
}

// OpenWith opens (creating if needed) the database at path, makes its
// files private, migrates its schema to the newest version and seals the
// releases an older quai wrote in the clear.
func OpenWith(path string, o Options) (*SQLite, error) {
	return openWith(context.Background(), path, o, nil)
}

// openWith opens the database applying only ms (all migrations when nil);
// tests use it to build databases at older schema versions.
func openWith(ctx context.Context, path string, o Options, ms []migration) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open store: empty database path")
	}
	log := cmp.Or(o.Logger, slog.New(slog.DiscardHandler))
	if o.Key == nil {
		k, err := secrets.LoadOrCreateKey(filepath.Join(filepath.Dir(path), MasterKeyName), log)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		o.Key = k
	}
	if err := privateFiles(path, log); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	// Deleted and overwritten content is zeroed, so a release sealed in
	// place or deleted leaves no readable copy in free pages.
	q.Add("_pragma", "secure_delete(1)")
	// Immediate transactions take the write lock at BEGIN, so two writers
	// never deadlock upgrading read locks; the busy timeout then queues them.
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Path: path}).String() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &SQLite{db: db, key: o.Key, log: log, now: time.Now}
	all := ms == nil
	if all {
		ms, err = loadMigrations()
		if err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if err := migrate(ctx, db, ms, s.now()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if all {
		if err := s.sealClearReleases(ctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	return s, nil
}

// privateFiles creates the database file with FileMode whatever the umask
// (SQLite gives the -wal and -shm files it creates the database file's
// mode) and tightens existing files that others may read.
func privateFiles(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	switch {
	case err == nil:
		err = f.Chmod(FileMode)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := secrets.Restrict(p, FileMode, log); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// SchemaVersion returns the database's schema version.
func (s *SQLite) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.db)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// inTx runs fn in one transaction, committing when it returns nil.
func (s *SQLite) inTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// PutInstance implements Store.
func (s *SQLite) PutInstance(ctx context.Context, in Instance) error {
	if in.Name == "" {
		return errors.New("put instance: empty name")
	}
	created := in.Created
	if created.IsZero() {
		created = s.now()
	}
	updated := in.Updated
	if updated.IsZero() {
		updated = created
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO instances(name, org, project, env, runtime, dir, stopped, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET org = excluded.org, project = excluded.project, env = excluded.env,
			runtime = excluded.runtime, dir = excluded.dir, stopped = excluded.stopped, updated = excluded.updated`,
		in.Name, in.Identity.Org, in.Identity.Project, in.Identity.Env, in.Runtime, in.Dir, in.Stopped,
		unixNano(created), unixNano(updated))
	if err != nil {
		return fmt.Errorf("put instance %s: %w", in.Name, err)
	}
	return nil
}

const instanceCols = `name, org, project, env, runtime, dir, stopped, created, updated`

// instanceQuery reads instances with their active release's number, found
// through the index of active releases.
const instanceQuery = `SELECT ` + instanceCols + `, COALESCE((SELECT number FROM releases r WHERE r.instance = instances.name AND r.status = 'active'), 0) FROM instances`

func scanInstance(row interface{ Scan(...any) error }) (Instance, error) {
	var in Instance
	var created, updated int64
	err := row.Scan(&in.Name, &in.Identity.Org, &in.Identity.Project, &in.Identity.Env, &in.Runtime, &in.Dir,
		&in.Stopped, &created, &updated, &in.Active)
	in.Created, in.Updated = fromNano(created), fromNano(updated)
	return in, err
}

// Instance implements Store.
func (s *SQLite) Instance(ctx context.Context, name string) (Instance, error) {
	in, err := scanInstance(s.db.QueryRowContext(ctx, instanceQuery+` WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, fmt.Errorf("instance %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("read instance %s: %w", name, err)
	}
	return in, nil
}

// Instances implements Store.
func (s *SQLite) Instances(ctx context.Context) ([]Instance, error) {
	rows, err := s.db.QueryContext(ctx, instanceQuery+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// DeleteInstance implements Store.
func (s *SQLite) DeleteInstance(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM operations WHERE instance = ?`, name); err != nil {
			return fmt.Errorf("delete instance %s: %w", name, err)
		}
		// Releases and handles go with the instance (ON DELETE CASCADE).
		res, err := tx.ExecContext(ctx, `DELETE FROM instances WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("delete instance %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("instance %s: %w", name, ErrNotFound)
		}
		return nil
	})
}

func encodeMap(m map[string]string) (string, error) {
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// CreateRelease implements Store.
func (s *SQLite) CreateRelease(ctx context.Context, r Release) (Release, error) {
	r.Status = cmp.Or(r.Status, StatusPending)
	if r.Created.IsZero() {
		r.Created = s.now()
	}
	hashes, err := encodeMap(r.Hashes)
	if err != nil {
		return Release{}, fmt.Errorf("create release of %s: %w", r.Instance, err)
	}
	images, err := encodeMap(r.Images)
	if err != nil {
		return Release{}, fmt.Errorf("create release of %s: %w", r.Instance, err)
	}
	secretVersions, err := encodeMap(r.Secrets)
	if err != nil {
		return Release{}, fmt.Errorf("create release of %s: %w", r.Instance, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(number) FROM releases WHERE instance = ?`, r.Instance).Scan(&last); err != nil {
			return err
		}
		r.Number = int(last.Int64) + 1
		model, resolved := s.sealRelease(r.Instance, r.Number, r.Model, r.Resolved)
		_, err := tx.ExecContext(ctx, `INSERT INTO releases(instance, number, status, created, runtime, model, resolved, hashes, images, cause, error, sealed, secrets)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
			r.Instance, r.Number, r.Status, unixNano(r.Created), r.Runtime, model, resolved, hashes, images, r.Cause, r.Error, secretVersions)
		return err
	})
	if err != nil {
		if isConstraint(err) {
			return Release{}, fmt.Errorf("create release of %s: %w: %w", r.Instance, ErrConflict, err)
		}
		return Release{}, fmt.Errorf("create release of %s: %w", r.Instance, err)
	}
	return r, nil
}

const releaseCols = `instance, number, status, created, runtime, model, resolved, hashes, images, cause, error, sealed, secrets, activated`

func (s *SQLite) scanRelease(row interface{ Scan(...any) error }) (Release, error) {
	var r Release
	var created, activated int64
	var hashes, images, secretVersions string
	var sealed bool
	if err := row.Scan(&r.Instance, &r.Number, &r.Status, &created, &r.Runtime, &r.Model, &r.Resolved,
		&hashes, &images, &r.Cause, &r.Error, &sealed, &secretVersions, &activated); err != nil {
		return Release{}, err
	}
	if err := json.Unmarshal([]byte(secretVersions), &r.Secrets); err != nil {
		return Release{}, fmt.Errorf("release %s#%d secrets: %w", r.Instance, r.Number, err)
	}
	if len(r.Secrets) == 0 {
		r.Secrets = nil
	}
	r.Created = fromNano(created)
	if activated != 0 {
		r.Activated = fromNano(activated)
	}
	if err := json.Unmarshal([]byte(hashes), &r.Hashes); err != nil {
		return Release{}, fmt.Errorf("release %s#%d hashes: %w", r.Instance, r.Number, err)
	}
	if err := json.Unmarshal([]byte(images), &r.Images); err != nil {
		return Release{}, fmt.Errorf("release %s#%d images: %w", r.Instance, r.Number, err)
	}
	if sealed {
		var err error
		if r.Model, r.Resolved, err = s.openRelease(r.Instance, r.Number, r.Model, r.Resolved); err != nil {
			return Release{}, err
		}
	}
	return r, nil
}

// Release implements Store.
func (s *SQLite) Release(ctx context.Context, instance string, number int) (Release, error) {
	r, err := s.scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE instance = ? AND number = ?`, instance, number))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, fmt.Errorf("release %d of %s: %w", number, instance, ErrNotFound)
	}
	if err != nil {
		return Release{}, fmt.Errorf("read release %d of %s: %w", number, instance, err)
	}
	return r, nil
}

// Releases implements Store.
func (s *SQLite) Releases(ctx context.Context, instance string) ([]Release, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE instance = ? ORDER BY number DESC`, instance)
	if err != nil {
		return nil, fmt.Errorf("list releases of %s: %w", instance, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Release
	for rows.Next() {
		r, err := s.scanRelease(rows)
		if err != nil {
			return nil, fmt.Errorf("list releases of %s: %w", instance, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list releases of %s: %w", instance, err)
	}
	return out, nil
}

// ActiveRelease implements Store.
func (s *SQLite) ActiveRelease(ctx context.Context, instance string) (Release, error) {
	r, err := s.scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE instance = ? AND status = ?`, instance, StatusActive))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, fmt.Errorf("active release of %s: %w", instance, ErrNotFound)
	}
	if err != nil {
		return Release{}, fmt.Errorf("read active release of %s: %w", instance, err)
	}
	return r, nil
}

// FailRelease implements Store.
func (s *SQLite) FailRelease(ctx context.Context, instance string, number int, reason string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE releases SET status = ?, error = ? WHERE instance = ? AND number = ? AND status = ?`,
		StatusFailed, reason, instance, number, StatusPending)
	if err != nil {
		return fmt.Errorf("mark release %d of %s failed: %w", number, instance, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.missingOrConflict(ctx, instance, number, "mark failed")
	}
	return nil
}

// missingOrConflict tells apart a release that does not exist from one that
// is not pending.
func (s *SQLite) missingOrConflict(ctx context.Context, instance string, number int, what string) error {
	r, err := s.Release(ctx, instance, number)
	if err != nil {
		return err
	}
	return fmt.Errorf("%s release %d of %s: it is %s, not pending: %w", what, number, instance, r.Status, ErrConflict)
}

// SwitchRelease implements Store.
func (s *SQLite) SwitchRelease(ctx context.Context, sw Switch) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM releases WHERE instance = ? AND number = ?`, sw.Instance, sw.Release).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("release %d of %s: %w", sw.Release, sw.Instance, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if status != StatusPending {
			return fmt.Errorf("activate release %d of %s: it is %s, not pending: %w", sw.Release, sw.Instance, status, ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE releases SET status = ? WHERE instance = ? AND status = ?`,
			StatusSuperseded, sw.Instance, StatusActive); err != nil {
			return err
		}
		at := sw.At
		if at.IsZero() {
			at = s.now()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE releases SET status = ?, activated = ? WHERE instance = ? AND number = ?`,
			StatusActive, unixNano(at), sw.Instance, sw.Release); err != nil {
			return err
		}
		if err := replaceHandles(ctx, tx, sw.Instance, sw.Handles); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE instances SET updated = ?, stopped = 0 WHERE name = ?`, unixNano(at), sw.Instance)
		return err
	})
	if err != nil {
		return fmt.Errorf("switch %s to release %d: %w", sw.Instance, sw.Release, err)
	}
	return nil
}

func replaceHandles(ctx context.Context, tx *sql.Tx, instance string, handles []runtime.Handle) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM handles WHERE instance = ?`, instance); err != nil {
		return err
	}
	for _, h := range handles {
		b, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("encode handle %s: %w", h.Replica, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO handles(instance, replica, service, release, handle) VALUES (?, ?, ?, ?, ?)`,
			instance, h.Replica, h.Service, h.Release, b); err != nil {
			if isConstraint(err) {
				return fmt.Errorf("handle %s: %w: %w", h.Replica, ErrConflict, err)
			}
			return err
		}
	}
	return nil
}

// Handles implements Store.
func (s *SQLite) Handles(ctx context.Context, instance string) ([]runtime.Handle, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT handle FROM handles WHERE instance = ? ORDER BY replica`, instance)
	if err != nil {
		return nil, fmt.Errorf("list handles of %s: %w", instance, err)
	}
	defer func() { _ = rows.Close() }()
	var out []runtime.Handle
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list handles of %s: %w", instance, err)
		}
		var h runtime.Handle
		if err := json.Unmarshal(b, &h); err != nil {
			return nil, fmt.Errorf("decode handle of %s: %w", instance, err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list handles of %s: %w", instance, err)
	}
	return out, nil
}

// ReplaceHandles implements Store.
func (s *SQLite) ReplaceHandles(ctx context.Context, instance string, handles []runtime.Handle) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error { return replaceHandles(ctx, tx, instance, handles) })
	if err != nil {
		return fmt.Errorf("replace handles of %s: %w", instance, err)
	}
	return nil
}

// BeginOperation implements Store.
func (s *SQLite) BeginOperation(ctx context.Context, op Operation) (Operation, error) {
	op.Status = OpRunning
	if op.Started.IsZero() {
		op.Started = s.now()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		running, err := scanOperation(tx.QueryRowContext(ctx, `SELECT `+opCols+` FROM operations WHERE instance = ? AND status = ?`,
			op.Instance, OpRunning))
		if err == nil {
			return fmt.Errorf("%s is running %s (operation %d, started %s by %s): %w",
				op.Instance, running.Kind, running.ID, running.Started.Format(time.RFC3339), running.Owner, ErrConflict)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO operations(instance, kind, owner, release, status, started) VALUES (?, ?, ?, ?, ?, ?)`,
			op.Instance, op.Kind, op.Owner, op.Release, op.Status, unixNano(op.Started))
		if err != nil {
			return err
		}
		op.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return Operation{}, fmt.Errorf("begin %s on %s: %w", op.Kind, op.Instance, err)
	}
	return op, nil
}

const opCols = `id, instance, kind, owner, release, status, started, finished, error`

func scanOperation(row interface{ Scan(...any) error }) (Operation, error) {
	var op Operation
	var started, finished int64
	err := row.Scan(&op.ID, &op.Instance, &op.Kind, &op.Owner, &op.Release, &op.Status, &started, &finished, &op.Error)
	op.Started, op.Finished = fromNano(started), fromNano(finished)
	return op, err
}

// SetOperationRelease implements Store.
func (s *SQLite) SetOperationRelease(ctx context.Context, id int64, release int) error {
	res, err := s.db.ExecContext(ctx, `UPDATE operations SET release = ? WHERE id = ?`, release, id)
	if err != nil {
		return fmt.Errorf("record release of operation %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("operation %d: %w", id, ErrNotFound)
	}
	return nil
}

// FinishOperation implements Store.
func (s *SQLite) FinishOperation(ctx context.Context, id int64, status, errText string, at time.Time) error {
	if status == OpRunning {
		return fmt.Errorf("finish operation %d: status must not be %q", id, OpRunning)
	}
	if at.IsZero() {
		at = s.now()
	}
	res, err := s.db.ExecContext(ctx, `UPDATE operations SET status = ?, error = ?, finished = ? WHERE id = ? AND status = ?`,
		status, errText, unixNano(at), id, OpRunning)
	if err != nil {
		return fmt.Errorf("finish operation %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("finish operation %d: no running operation with that id: %w", id, ErrNotFound)
	}
	return nil
}

// RunningOperations implements Store.
func (s *SQLite) RunningOperations(ctx context.Context) ([]Operation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+opCols+` FROM operations WHERE status = ? ORDER BY id`, OpRunning)
	if err != nil {
		return nil, fmt.Errorf("list running operations: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, fmt.Errorf("list running operations: %w", err)
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list running operations: %w", err)
	}
	return out, nil
}

// Setting implements Store.
func (s *SQLite) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("setting %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, nil
}

// SetSetting implements Store.
func (s *SQLite) SetSetting(ctx context.Context, key, value string) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO settings(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("set setting %s: %w", key, err)
	}
	return nil
}

// DeleteSetting implements Store.
func (s *SQLite) DeleteSetting(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("delete setting %s: %w", key, err)
	}
	return nil
}

// isConstraint reports whether err is an SQLite constraint violation
// (unique index, foreign key), which the store reports as ErrConflict.
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}
