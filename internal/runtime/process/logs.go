package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/logfile"
	"github.com/quai-dev/quai/internal/stack"
)

// A replica's output is kept apart from its directory, which a start
// clears and Remove deletes, so that it outlives the replica:
//
//	DataDir/instances/<slug>/logs/<service>/<replica>.log[.N]
//
// in the format of package logfile. Each replica's files rotate at
// Options.LogMaxSize keeping Options.LogKeep old ones; the files of removed
// replicas are kept, oldest dropped first, within one replica's worth per
// service. A purge deletes them with the instance directory.

// logsRoot is the directory, in an instance's directory, of its logs.
const logsRoot = "logs"

func (r *Runtime) logLimits() logfile.Limits {
	return logfile.Limits{MaxSize: r.opts.LogMaxSize, Keep: r.opts.LogKeep}
}

// serviceLogDir is the directory of a service's logs.
func (r *Runtime) serviceLogDir(id stack.Identity, service string) (string, error) {
	inst, err := r.instanceDir(id)
	if err != nil {
		return "", err
	}
	if !safeName(service) {
		return "", fmt.Errorf("process runtime: invalid service name %q", service)
	}
	return filepath.Join(inst, logsRoot, service), nil
}

// logPath is the current log file of the replica in dir: the one its spec
// names, the one in the replica directory for a replica started by a quai
// that kept logs there, or, for a removed replica, where it was.
func (r *Runtime) logPath(h runtime.Handle, dir string) (string, error) {
	if spec, err := readSpec(dir); err == nil {
		if spec.LogPath != "" {
			return spec.LogPath, nil
		}
		return filepath.Join(dir, legacyLogsDir, legacyAppLog), nil
	}
	sd, err := r.serviceLogDir(h.Instance, h.Service)
	if err != nil {
		return "", err
	}
	return logfile.Path(sd, h.Replica), nil
}

// Logs implements runtime.Logger: it reads the replica's rotated log files
// and, with Follow, the current one as it grows, until ctx ends, the reader
// is closed, or the supervisor has exited and everything was read. A
// removed replica's kept logs read the same way.
func (r *Runtime) Logs(ctx context.Context, h runtime.Handle, opts runtime.LogOptions) (io.ReadCloser, error) {
	dir, err := r.handleDir(h)
	if err != nil {
		return nil, err
	}
	path, err := r.logPath(h, dir)
	if err != nil {
		return nil, err
	}
	_, derr := os.Stat(dir)
	if _, ferr := os.Stat(path); derr != nil && ferr != nil {
		return nil, fmt.Errorf("logs of replica %s of %s: %w", h.Replica, h.Instance, runtime.ErrNotFound)
	}
	ended := func() bool {
		st, err := readState(dir)
		return err != nil || !alive(st.ShimPid, st.ShimStart)
	}
	opts.Grep = ""
	return logfile.Read(ctx, path, opts, ended), nil
}

// KeptLogs implements runtime.LogKeeper: the replicas of the instance that
// were removed but whose logs are kept.
func (r *Runtime) KeptLogs(_ context.Context, id stack.Identity) ([]runtime.Handle, error) {
	inst, err := r.instanceDir(id)
	if err != nil {
		return nil, err
	}
	services, err := os.ReadDir(filepath.Join(inst, logsRoot))
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []runtime.Handle
	for _, s := range services {
		if !s.IsDir() || !safeName(s.Name()) {
			continue
		}
		replicas, err := logfile.Replicas(filepath.Join(inst, logsRoot, s.Name()))
		if err != nil {
			return nil, err
		}
		for _, rep := range replicas {
			if !safeName(rep) || r.replicaExists(inst, rep) {
				continue
			}
			out = append(out, runtime.Handle{Version: runtime.HandleVersion, Runtime: Name, Instance: id,
				Service: s.Name(), Replica: rep, Release: releaseOf(s.Name(), rep)})
		}
	}
	return out, nil
}

func (r *Runtime) replicaExists(inst, replica string) bool {
	_, err := os.Stat(filepath.Join(inst, "replicas", replica))
	return err == nil
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

// pruneLogs bounds the kept logs of a service's removed replicas to one
// replica's worth.
func (r *Runtime) pruneLogs(id stack.Identity, service string) {
	sd, err := r.serviceLogDir(id, service)
	if err != nil {
		return
	}
	inst, _ := r.instanceDir(id)
	live := func(replica string) bool { return r.replicaExists(inst, replica) }
	if err := logfile.Prune(sd, live, r.logLimits().PerReplica()); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("cannot prune the logs of removed replicas", "dir", sd, "err", err)
	}
}
