package docker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/logfile"
	"github.com/quai-dev/quai/internal/stack"
)

// The engine keeps a container's output (json-file, rotated at
// Options.LogMaxSize, LogKeep+1 files) while the container exists, across
// its restarts. When Remove deletes a container, its output is archived on
// the daemon's host, in the format of package logfile:
//
//	StateDir/logs/<instance slug>/<service>/<replica>.log[.N]
//
// within one replica's worth per service, oldest dropped first, and Logs
// and KeptLogs read it from there. A purge deletes it.

// archiveTimeout bounds the copy of a removed container's output, so that
// a slow engine delays a removal by no more than this.
const archiveTimeout = 30 * time.Second

func (r *Runtime) logLimits() logfile.Limits {
	return logfile.Limits{MaxSize: r.opts.LogMaxSize, Keep: r.opts.LogKeep}
}

// logConfig is the log driver of the containers Start creates: rotated
// json-file, which `docker logs` reads back.
func (r *Runtime) logConfig() container.LogConfig {
	return container.LogConfig{Type: "json-file", Config: map[string]string{
		"max-size": strconv.FormatInt(r.opts.LogMaxSize, 10),
		"max-file": strconv.Itoa(r.opts.LogKeep + 1),
	}}
}

// archiveDir is the directory of a service's archived logs.
func (r *Runtime) archiveDir(id stack.Identity, service string) (string, error) {
	slug := id.Slug()
	for _, n := range []string{slug, service} {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, `/\`) {
			return "", fmt.Errorf("docker runtime: %q cannot name a log directory", n)
		}
	}
	return filepath.Join(r.opts.StateDir, "logs", slug, service), nil
}

// Logs implements runtime.Logger: the container's stdout and stderr,
// demultiplexed into one stream (containers run without a TTY), or the
// archived output of a removed replica.
func (r *Runtime) Logs(ctx context.Context, h runtime.Handle, opts runtime.LogOptions) (io.ReadCloser, error) {
	c, err := r.inspectReplica(ctx, h)
	if errors.Is(err, runtime.ErrNotFound) {
		if dir, derr := r.archiveDir(h.Instance, h.Service); derr == nil {
			if path := logfile.Path(dir, h.Replica); exists(path) {
				opts.Grep = ""
				return logfile.Read(ctx, path, opts, func() bool { return true }), nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	lo := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Tail: "all", Timestamps: opts.Timestamps}
	if opts.Tail > 0 {
		lo.Tail = strconv.Itoa(opts.Tail)
	}
	if !opts.Since.IsZero() {
		lo.Since = dockerTime(opts.Since)
	}
	if !opts.Until.IsZero() {
		// The engine's until includes a line of that very time.
		lo.Until = dockerTime(opts.Until.Add(-time.Nanosecond))
	}
	rc, err := r.cli.ContainerLogs(ctx, c.ID, lo)
	if err != nil {
		return nil, r.wrap("logs of replica "+h.Replica, err)
	}
	if c.Config != nil && c.Config.Tty {
		return rc, nil
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		_ = rc.Close()
		pw.CloseWithError(err)
	}()
	return &logReader{PipeReader: pr, src: rc}, nil
}

func dockerTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// logReader closes the engine's stream with the pipe, so that a follower
// that stops reading ends the request.
type logReader struct {
	*io.PipeReader
	src io.Closer
}

func (l *logReader) Close() error {
	_ = l.src.Close()
	return l.PipeReader.Close()
}

// archiveLogs copies the output of container id, replica h, to its archive
// before the container is removed, and bounds the service's archive.
// Failing to is a warning: the removal goes on.
func (r *Runtime) archiveLogs(ctx context.Context, h runtime.Handle, id string, tty bool) {
	dir, err := r.archiveDir(h.Instance, h.Service)
	if err != nil {
		return
	}
	if err := r.copyLogs(ctx, h, id, tty, logfile.Path(dir, h.Replica)); err != nil {
		r.log.Warn("cannot keep the logs of a removed replica", "replica", h.Replica, "err", err)
	}
	if err := logfile.Prune(dir, func(string) bool { return false }, r.logLimits().PerReplica()); err != nil {
		r.log.Warn("cannot prune the logs of removed replicas", "dir", dir, "err", err)
	}
}

func (r *Runtime) copyLogs(ctx context.Context, h runtime.Handle, id string, tty bool, path string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), archiveTimeout)
	defer cancel()
	rc, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "all", Timestamps: true})
	if err != nil {
		return r.wrap("logs of replica "+h.Replica, err)
	}
	defer func() { _ = rc.Close() }()
	w, err := logfile.Open(path, r.logLimits())
	if err != nil {
		return err
	}
	defer func() { _ = w.Close() }()
	if tty {
		return copyStamped(w, 'o', rc)
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 2)
	go func() { done <- copyStamped(w, 'o', outR) }()
	go func() { done <- copyStamped(w, 'e', errR) }()
	_, err = stdcopy.StdCopy(outW, errW, rc)
	_ = outW.CloseWithError(err)
	_ = errW.CloseWithError(err)
	return errors.Join(err, <-done, <-done)
}

// copyStamped writes lines "<RFC 3339 time> text", as the engine returns
// them with timestamps, with their own time.
func copyStamped(w *logfile.Writer, stream byte, src io.Reader) error {
	br := bufio.NewReaderSize(src, logfile.MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			t := time.Now()
			if ts, text, ok := bytes.Cut(line, []byte(" ")); ok {
				if pt, perr := time.Parse(time.RFC3339Nano, string(ts)); perr == nil {
					t, line = pt, text
				}
			}
			w.WriteLineAt(t, stream, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// KeptLogs implements runtime.LogKeeper: the removed replicas of the
// instance whose output was archived.
func (r *Runtime) KeptLogs(_ context.Context, id stack.Identity) ([]runtime.Handle, error) {
	root, err := r.archiveDir(id, "_")
	if err != nil {
		return nil, err
	}
	root = filepath.Dir(root)
	services, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []runtime.Handle
	for _, s := range services {
		if !s.IsDir() {
			continue
		}
		replicas, err := logfile.Replicas(filepath.Join(root, s.Name()))
		if err != nil {
			return nil, err
		}
		for _, rep := range replicas {
			out = append(out, runtime.Handle{Version: runtime.HandleVersion, Runtime: Name, Instance: id,
				Service: s.Name(), Replica: rep, Release: releaseOf(s.Name(), rep)})
		}
	}
	return out, nil
}

// releaseOf reads the release from a replica name the engine gave
// (<service>-r<release>-<index>[-<generation>]); 0 when it has another form.
func releaseOf(service, replica string) int {
	rest, ok := strings.CutPrefix(replica, service+"-r")
	if !ok {
		return 0
	}
	n, _, _ := strings.Cut(rest, "-")
	rel, err := strconv.Atoi(n)
	if err != nil {
		return 0
	}
	return rel
}

// removeArchivedLogs deletes an instance's archived logs, for a purge.
func (r *Runtime) removeArchivedLogs(id stack.Identity) error {
	dir, err := r.archiveDir(id, "_")
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Dir(dir))
}
