// Package dump makes and restores the backups of one service: a database's
// dump (PostgreSQL's pg_dump -Fc, MariaDB/MySQL's SQL dump, a Redis RDB
// snapshot) or a tar stream of its volumes and paths, and checks what a
// restored copy holds (row counts per table, keys per database, a hash per
// file) for restore drills.
//
// Database tools run beside the database, through an Exec in the service's
// own container, pod or process environment, so that their version matches
// the server's and credentials are the ones the app sees (POSTGRES_USER,
// MARIADB_ROOT_PASSWORD, their _FILE forms...): quai never reads, passes on
// or prints them. Everything streams: no dump is ever written to a
// temporary file.
//
// What each kind needs beside the service:
//   - postgres: sh, pg_dump, pg_restore and psql (the official image and
//     quai's process runtime, which puts the server's own client programs
//     first in PATH, have them); the database is POSTGRES_DB.
//   - mysql: sh and mariadb-dump/mariadb (or mysqldump/mysql); the
//     database is MARIADB_DATABASE or MYSQL_DATABASE, else every one.
//   - redis: sh, redis-cli and redis-server; the server listens on PORT
//     (the process runtime) or 6379, with REDIS_PASSWORD or REDISCLI_AUTH
//     if it asks for one. A restore replicates from a second server loaded
//     from the snapshot on a random loopback port, so it needs no restart,
//     no DEBUG command and no file (see redisRestore).
//   - volume, files: the runtime's runtime.PathCopier (Docker reads any
//     image through its archive API; a Kubernetes pod needs tar and sh).
package dump

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// Exec runs cmd beside the service (in its container, pod or process
// environment) and returns its exit code; an error means it could not run.
type Exec func(ctx context.Context, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)

// Dumper makes, restores and checks one kind of backup of one service.
type Dumper interface {
	// Dump writes the backup to w as a stream. An error means there is no
	// good backup, whatever was written.
	Dump(ctx context.Context, w io.Writer) error
	// Restore replaces the service's data with the backup r holds.
	Restore(ctx context.Context, r io.Reader) error
	// Check reports what the service holds (the database answers, row
	// counts per table, hashes per file), for restore drills.
	Check(ctx context.Context) (Facts, error)
}

// Facts are what a Check found.
type Facts struct {
	// Tables maps "schema.table" (PostgreSQL, MariaDB) or "db0" (Redis) to
	// its row or key count.
	Tables map[string]int64 `json:"tables,omitempty"`
	// Files maps a path, as the service sees it, to its content's SHA-256
	// in hex.
	Files map[string]string `json:"files,omitempty"`
}

// Recorder is implemented by dumpers that learn the facts of what they
// dumped while they dump it (the hash of each file of a files backup), so
// that a drill compares the restored copy with the backup without reading
// the data twice.
type Recorder interface {
	// Recorded returns the facts of the last successful Dump.
	Recorded() Facts
}

// PathAccess reads and writes the service's directories, for volume and
// files backups (and Redis restores).
type PathAccess interface {
	// ReadTar writes the directory path, as the service sees it, to w as a
	// tar stream named relative to it.
	ReadTar(ctx context.Context, path string, w io.Writer) error
	// WriteTar extracts the tar stream r into the directory path.
	WriteTar(ctx context.Context, path string, r io.Reader) error
	// HostPath returns the host directory that holds path, when the daemon
	// can read it directly.
	HostPath(path string) (string, bool)
}

// Errors.
var (
	// ErrUnknownKind: the backup kind is not one quai knows.
	ErrUnknownKind = errors.New("unknown backup kind")
	// ErrDumpFailed: the dump tool failed or produced nothing.
	ErrDumpFailed = errors.New("dump failed")
	// ErrRestoreFailed: the restore tool failed.
	ErrRestoreFailed = errors.New("restore failed")
	// ErrCheckFailed: the database did not answer the check.
	ErrCheckFailed = errors.New("check failed")
	// ErrNoPathAccess: a files backup needs the runtime to read and write
	// the service's paths, and this one cannot.
	ErrNoPathAccess = errors.New("the runtime cannot read the service's files")
)

// New returns the dumper of kind (stack.BackupPostgres, ...) for svc,
// running its tools through ex and reading files through fs (which only the
// volume, files and redis kinds use, and may be nil for the others).
func New(kind string, svc *stack.Service, ex Exec, fs PathAccess) (Dumper, error) {
	if svc == nil {
		return nil, errors.New("dump: no service")
	}
	base := base{svc: svc.Name, ex: ex}
	switch kind {
	case stack.BackupPostgres:
		return &postgres{base}, nil
	case stack.BackupMySQL, "mariadb":
		return &mysql{base}, nil
	case stack.BackupRedis:
		return &redis{base: base}, nil
	case stack.BackupVolume, stack.BackupFiles:
		if fs == nil {
			return nil, fmt.Errorf("service %s: a %s backup: %w", svc.Name, kind, ErrNoPathAccess)
		}
		return newFiles(svc, fs), nil
	}
	return nil, fmt.Errorf("service %s: %w %q: use %s, %s, %s, %s or %s", svc.Name, ErrUnknownKind, kind,
		stack.BackupPostgres, stack.BackupMySQL, stack.BackupRedis, stack.BackupVolume, stack.BackupFiles)
}

// base runs shell scripts beside the service.
type base struct {
	svc string
	ex  Exec
}

// maxStderr bounds what is kept of a tool's error output for messages.
const maxStderr = 4 << 10

// sh runs script with sh -c (args are $1...), returning its exit code and
// the start of its error output; a tool that could not run is an error.
func (b base) sh(ctx context.Context, what string, script string, args []string, stdin io.Reader, stdout io.Writer) (int, string, error) {
	if b.ex == nil {
		return -1, "", fmt.Errorf("%s of service %s: no way to run commands beside it", what, b.svc)
	}
	var stderr bytes.Buffer
	cmd := append([]string{"sh", "-c", script, "sh"}, args...)
	code, err := b.ex(ctx, cmd, stdin, stdout, &limitedWriter{b: &stderr, n: maxStderr})
	msg := strings.TrimSpace(stderr.String())
	if err != nil {
		return code, msg, fmt.Errorf("%s of service %s: %w", what, b.svc, err)
	}
	return code, msg, nil
}

// run is sh for tools whose failure is a failure: a non-zero exit is
// sentinel, with the tool's own message.
func (b base) run(ctx context.Context, sentinel error, what, script string, args []string, stdin io.Reader, stdout io.Writer) error {
	code, msg, err := b.sh(ctx, what, script, args, stdin, stdout)
	if err != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	if code != 0 {
		return fmt.Errorf("%w: %s of service %s exited with status %d: %s", sentinel, what, b.svc, code, cmp.Or(msg, "no message"))
	}
	return nil
}

// limitedWriter keeps the first n bytes written to it and discards the rest.
type limitedWriter struct {
	b *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// countingWriter counts what passes through it, so that an empty dump is
// never taken for a good one.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// dumpTo runs a dump script into w and fails when it fails or writes
// nothing.
func (b base) dumpTo(ctx context.Context, what, script string, w io.Writer) error {
	cw := &countingWriter{w: w}
	if err := b.run(ctx, ErrDumpFailed, what, script, nil, nil, cw); err != nil {
		return err
	}
	if cw.n == 0 {
		return fmt.Errorf("%w: %s of service %s wrote nothing", ErrDumpFailed, what, b.svc)
	}
	return nil
}
