package process

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// Name is the runtime's name as users type it.
const Name = "process"

// Options configure a Runtime. Only DataDir is required.
type Options struct {
	// DataDir is the root of everything the runtime keeps on disk
	// (DataDir/instances/<slug>/...). It must survive daemon restarts.
	DataDir string
	// ShimPath is the executable started as each replica's supervisor, with
	// ShimEnv set; default os.Executable().
	ShimPath string
	// Logger receives the runtime's diagnostics; default slog.Default().
	Logger *slog.Logger
	// Ports is the range replica ports are taken from; the zero value is
	// DefaultPorts().
	Ports PortRange
	// BinDirs, when non-nil, are the only directories searched for database
	// server binaries. By default the runtime searches
	// /usr/lib/postgresql/<version>/bin (newest first), /usr/sbin, /usr/bin,
	// /usr/local/sbin, /usr/local/bin and PATH.
	BinDirs []string
	// BaseEnv is the environment every replica starts from, before the
	// service's own. By default it is the daemon's PATH, HOME, USER, LOGNAME,
	// SHELL, LANG, LC_*, TZ, TMPDIR, TERM and GO* variables, so that
	// development commands (go run, npm start) find their tools.
	BaseEnv []string
	// HealthInterval is how often HTTP health checks run, and the most time
	// between checks until a replica is first healthy; default 1s.
	HealthInterval time.Duration
	// HealthyInterval is how often a replica that is healthy and passed its
	// last check is checked again, unless its service sets a healthcheck
	// interval; default 5 × HealthInterval. Checking every second would
	// write some 60 lines a minute to an app's access log.
	HealthyInterval time.Duration
	// StopGrace is the grace period a supervisor grants when it is signalled
	// by something other than Stop (a host shutdown); default 10s.
	StopGrace time.Duration
	// BackoffMax caps the delay between restarts of a crashing replica;
	// default 30s. The first delay is 100ms, doubling per crash.
	BackoffMax time.Duration
	// LogMaxSize and LogKeep rotate each replica's log: at LogMaxSize bytes
	// (default 10 MiB) app.log becomes app.log.1, keeping LogKeep old files
	// (default 3).
	LogMaxSize int64
	LogKeep    int
	// RunDir holds each replica's secret files and secret environment
	// values, apart from DataDir: memory-backed, gone at reboot, never in
	// a backup of the data directory. Default datadir.RunDir(DataDir).
	RunDir string
}

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Min, Max int }

// Runtime runs replicas as supervised local processes.
type Runtime struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	watchers map[string]*watcher // by replica directory
	closed   bool
	// events reports replica exits once WatchReplicas was called (watch.go).
	events *replicaEvents

	// httpc makes HTTP health checks without keeping connections open,
	// which would hold up an app's graceful shutdown.
	httpc *http.Client

	portMu sync.Mutex
	ports  map[int]string // port → replica directory; see ports.go

	listMu sync.Mutex
	listed map[string]listedReplica // by replica directory; see List

	stopSweep context.CancelFunc
	swept     chan struct{} // closed when sweep returns

	// startMu guards starting, the replica directories Start works in,
	// which sweep leaves alone.
	startMu  sync.Mutex
	starting map[string]bool

	// versionMu guards versions, the server binaries' versions Assess
	// reports (see assess.go).
	versionMu sync.Mutex
	versions  map[string]binVersion

	// cgroupOnce probes once whether limits can be enforced (cgroup.go).
	cgroupOnce sync.Once
	cgroup     cgroupSupport
}

// listedReplica is what List knows of a replica from its spec, valid while
// the spec file keeps its modification time and size.
type listedReplica struct {
	mod  time.Time
	size int64
	h    runtime.Handle
}

// handleData is Handle.Data of the process runtime.
type handleData struct {
	Port int `json:"port,omitempty"`
}

// New returns a process runtime over opts.DataDir, creating it if needed.
func New(opts Options) (*Runtime, error) {
	if opts.DataDir == "" {
		return nil, errors.New("process runtime: a data directory is required")
	}
	dd, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("process runtime: data directory: %w", err)
	}
	opts.DataDir = dd
	if opts.ShimPath == "" {
		if opts.ShimPath, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("process runtime: find the quai executable to run supervisors: %w", err)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Ports == (PortRange{}) {
		opts.Ports = DefaultPorts()
	}
	if opts.Ports.Min < 0 || opts.Ports.Max > 65535 || opts.Ports.Min > opts.Ports.Max {
		return nil, fmt.Errorf("process runtime: invalid port range %d-%d", opts.Ports.Min, opts.Ports.Max)
	}
	if opts.BaseEnv == nil {
		opts.BaseEnv = defaultBaseEnv(os.Environ())
	}
	if opts.RunDir == "" {
		opts.RunDir = datadir.RunDir(opts.DataDir, os.Getenv, os.Geteuid())
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = time.Second
	}
	if opts.HealthyInterval <= 0 {
		opts.HealthyInterval = 5 * opts.HealthInterval
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.LogMaxSize <= 0 {
		opts.LogMaxSize = 10 << 20
	}
	if opts.LogKeep <= 0 {
		opts.LogKeep = 3
	}
	if err := os.MkdirAll(filepath.Join(dd, "instances"), 0o755); err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	r := &Runtime{
		opts:     opts,
		log:      opts.Logger,
		watchers: make(map[string]*watcher),
		httpc: &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		listed:   make(map[string]listedReplica),
		starting: make(map[string]bool),
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stopSweep, r.swept = cancel, make(chan struct{})
	go func() { defer close(r.swept); r.sweep(ctx) }()
	return r, nil
}

// sweep removes what interrupted starts left in the replica directories:
// the temporary files of spec.json (which holds the replica's environment,
// passwords included) and initdb's password file. It runs in the
// background, so that the runtime's start does not take as long as there
// are replicas, and skips the directories a Start works in.
func (r *Runtime) sweep(ctx context.Context) {
	insts, _ := os.ReadDir(filepath.Join(r.opts.DataDir, "instances"))
	for _, inst := range insts {
		replicas := filepath.Join(r.opts.DataDir, "instances", inst.Name(), "replicas")
		ents, _ := os.ReadDir(replicas)
		for _, e := range ents {
			if ctx.Err() != nil {
				return
			}
			r.sweepReplica(filepath.Join(replicas, e.Name()))
		}
	}
}

func (r *Runtime) sweepReplica(dir string) {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.starting[dir] {
		return
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "."+specFile+".tmp*"))
	leftovers = append(leftovers, filepath.Join(dir, runDir, pwFile))
	for _, p := range leftovers {
		if err := os.Remove(p); err != nil && !isNotExist(err) {
			r.log.Warn("cannot remove what an interrupted start left", "path", p, "err", err)
		}
	}
}

func defaultBaseEnv(environ []string) []string {
	keep := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true,
		"LANG": true, "TZ": true, "TMPDIR": true, "TERM": true}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if keep[k] || strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "GO") {
			out = append(out, kv)
		}
	}
	return out
}

// Name implements runtime.Runtime.
func (r *Runtime) Name() string { return Name }

// Capabilities implements runtime.Runtime.
func (r *Runtime) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Logs: true, Exec: true, Volumes: true, Limits: r.cgroups().dir != ""}
}

func (r *Runtime) instanceDir(id stack.Identity) (string, error) {
	slug := id.Slug()
	if !safeName(slug) || id.Project == "" || id.Env == "" {
		return "", fmt.Errorf("process runtime: invalid instance identity %q", slug)
	}
	return filepath.Join(r.opts.DataDir, "instances", slug), nil
}

func (r *Runtime) replicaDir(id stack.Identity, replica string) (string, error) {
	inst, err := r.instanceDir(id)
	if err != nil {
		return "", err
	}
	if !safeName(replica) {
		return "", fmt.Errorf("process runtime: invalid replica name %q", replica)
	}
	return filepath.Join(inst, "replicas", replica), nil
}

func (r *Runtime) handleDir(h runtime.Handle) (string, error) {
	if h.Version > runtime.HandleVersion {
		return "", fmt.Errorf("handle of replica %s has version %d, newer than this quai understands (%d): upgrade quai", h.Replica, h.Version, runtime.HandleVersion)
	}
	if h.Runtime != "" && h.Runtime != Name {
		return "", fmt.Errorf("handle of replica %s belongs to the %s runtime, not %s", h.Replica, h.Runtime, Name)
	}
	return r.replicaDir(h.Instance, h.Replica)
}

// safeName accepts names usable as one path element.
func safeName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 200 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func formatID(pid int, start uint64) string {
	return strconv.Itoa(pid) + "-" + strconv.FormatUint(start, 10)
}

func parseID(id string) (int, uint64, error) {
	p, s, ok := strings.Cut(id, "-")
	pid, err1 := strconv.Atoi(p)
	start, err2 := strconv.ParseUint(s, 10, 64)
	if !ok || err1 != nil || err2 != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("malformed process handle id %q (want <pid>-<start time>)", id)
	}
	return pid, start, nil
}

// Start implements runtime.Runtime. It prepares the replica directory,
// writes spec.json, starts the supervisor and returns once the supervisor
// has started the app (or reports why it could not).
func (r *Runtime) Start(ctx context.Context, rs runtime.ReplicaSpec) (runtime.Handle, error) {
	if rs.Service == nil {
		return runtime.Handle{}, errors.New("process runtime: replica spec without a service")
	}
	where := fmt.Sprintf("replica %s of service %s in %s", rs.Replica, rs.Service.Name, rs.Instance)
	dir, err := r.replicaDir(rs.Instance, rs.Replica)
	if err != nil {
		return runtime.Handle{}, err
	}
	r.startMu.Lock()
	r.starting[dir] = true
	r.startMu.Unlock()
	defer func() {
		r.startMu.Lock()
		delete(r.starting, dir)
		r.startMu.Unlock()
	}()
	if st, err := readState(dir); err == nil && alive(st.ShimPid, st.ShimStart) {
		return runtime.Handle{}, fmt.Errorf("start %s: it is already running (supervisor pid %d); stop it first", where, st.ShimPid)
	}
	if old, err := readSpec(dir); err == nil {
		r.removeCleanup(old)
		r.forget(dir, old)
	}
	if err := os.RemoveAll(dir); err != nil {
		return runtime.Handle{}, fmt.Errorf("start %s: clear the old replica directory: %w", where, err)
	}
	for _, d := range []string{dir, filepath.Join(dir, runDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return runtime.Handle{}, fmt.Errorf("start %s: %w", where, err)
		}
	}
	spec, err := r.prepare(ctx, rs, dir)
	if err != nil {
		r.forget(dir, spec)
		_ = os.RemoveAll(dir)
		return runtime.Handle{}, fmt.Errorf("start %s: %w", where, err)
	}
	r.holdPort(spec.Port, dir)
	if err := writeJSON(filepath.Join(dir, specFile), spec, 0o600); err != nil {
		r.forget(dir, spec)
		return runtime.Handle{}, fmt.Errorf("start %s: %w", where, err)
	}
	pid, start, err := r.launch(ctx, dir)
	if err != nil {
		// Nothing of a failed start may linger: no app, no directory that
		// List would report.
		if st, serr := readState(dir); serr == nil && st.AppPid > 0 && alive(st.AppPid, st.AppStart) {
			_ = syscall.Kill(-st.AppPid, syscall.SIGKILL)
		}
		r.removeCleanup(spec)
		r.forget(dir, spec)
		_ = os.RemoveAll(dir)
		return runtime.Handle{}, fmt.Errorf("start %s: %w", where, err)
	}
	h := handleFor(spec, pid, start)
	r.watch(dir, spec)
	r.log.Info("replica started", "instance", rs.Instance.Name(), "replica", rs.Replica, "address", h.Address, "supervisor", pid)
	return h, nil
}

func handleFor(spec *shimSpec, pid int, start uint64) runtime.Handle {
	h := runtime.Handle{
		Version:  runtime.HandleVersion,
		Runtime:  Name,
		Instance: spec.Meta.Instance,
		Service:  spec.Meta.Service,
		Replica:  spec.Meta.Replica,
		Release:  spec.Meta.Release,
		Hash:     spec.Meta.Hash,
	}
	if pid > 0 {
		h.ID = formatID(pid, start)
	}
	if spec.Port > 0 {
		h.Address = "127.0.0.1:" + strconv.Itoa(spec.Port)
		h.Data, _ = json.Marshal(handleData{Port: spec.Port})
	}
	return h
}

// launch starts the supervisor in its own session, so that it outlives the
// daemon and no terminal signal reaches it, and waits until it reports the
// app started.
func (r *Runtime) launch(ctx context.Context, dir string) (int, uint64, error) {
	logf, err := os.OpenFile(filepath.Join(dir, shimLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = logf.Close() }()
	cmd := &exec.Cmd{
		Path:        r.opts.ShimPath,
		Args:        []string{r.opts.ShimPath},
		Env:         []string{ShimEnv + "=1", "PATH=" + os.Getenv("PATH")},
		Dir:         dir,
		Stdout:      logf,
		Stderr:      logf,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("start supervisor %s: %w", r.opts.ShimPath, err)
	}
	pid := cmd.Process.Pid
	st, err := readProcStat(pid)
	if err != nil {
		return 0, 0, fmt.Errorf("supervisor %d: %w", pid, err)
	}
	// The daemon reaps its own supervisors while it lives; after a daemon
	// restart they are children of init, which reaps them.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s, serr := readState(dir)
		if serr == nil && s.ShimPid == pid {
			switch s.Phase {
			case phaseFailed:
				return 0, 0, errors.New(s.Message)
			case phaseStarting:
			default:
				return pid, st.StartTime, nil
			}
		}
		select {
		case <-exited:
			if s, err := readState(dir); err == nil && s.ShimPid == pid && s.Phase != phaseStarting {
				if s.Phase == phaseFailed {
					return 0, 0, errors.New(s.Message)
				}
				return pid, st.StartTime, nil
			}
			return 0, 0, fmt.Errorf("supervisor exited before starting the app: %s", lastLine(filepath.Join(dir, shimLog)))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return 0, 0, ctx.Err()
		case <-deadline.C:
			_ = cmd.Process.Kill()
			return 0, 0, fmt.Errorf("supervisor did not start the app within 30s; see %s", filepath.Join(dir, shimLog))
		case <-tick.C:
		}
	}
}

func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// Inspect implements runtime.Runtime.
func (r *Runtime) Inspect(_ context.Context, h runtime.Handle) (runtime.Status, error) {
	dir, err := r.handleDir(h)
	if err != nil {
		return runtime.Status{}, err
	}
	spec, err := readSpec(dir)
	if err != nil {
		if isNotExist(err) {
			return runtime.Status{}, fmt.Errorf("replica %s of %s: %w", h.Replica, h.Instance, runtime.ErrNotFound)
		}
		return runtime.Status{}, err
	}
	st, err := readState(dir)
	if err != nil {
		if isNotExist(err) {
			return runtime.Status{}, fmt.Errorf("replica %s of %s has no supervisor state: %w", h.Replica, h.Instance, runtime.ErrNotFound)
		}
		return runtime.Status{}, err
	}
	if h.ID != "" && h.ID != st.Origin {
		if pid, start, err := parseID(h.ID); err == nil && (pid != st.ShimPid || start != st.ShimStart) {
			return runtime.Status{}, fmt.Errorf("replica %s of %s was replaced since this handle was made: %w", h.Replica, h.Instance, runtime.ErrNotFound)
		}
	}
	s := runtime.Status{Restarts: st.Restarts, Started: st.Started, ExitCode: st.ExitCode, Message: st.Message, Health: runtime.HealthNone}
	live := alive(st.ShimPid, st.ShimStart)
	switch {
	case live && st.Phase == phaseRunning, live && st.Phase == phaseStopping:
		s.State = runtime.StateRunning
	case live:
		s.State = runtime.StateStarting
	case st.Phase == phaseStopped:
		s.State = runtime.StateStopped
	case st.Phase == phaseExited || st.Phase == phaseFailed:
		s.State = runtime.StateExited
	default:
		s.State = runtime.StateExited
		s.Message = fmt.Sprintf("the supervisor (pid %d) died while the replica was %s; see %s", st.ShimPid, st.Phase, filepath.Join(dir, shimLog))
	}
	if spec.Health.Kind != healthNone {
		s.Health = runtime.HealthStarting
		r.mu.Lock()
		w := r.watchers[dir]
		r.mu.Unlock()
		if w != nil && s.State == runtime.StateRunning {
			health, msg, cpu := w.status(st)
			s.Health, s.CPUPercent = health, cpu
			if msg != "" && s.Message == "" {
				s.Message = msg
			}
		}
	}
	if s.State == runtime.StateRunning && st.AppPid > 0 {
		_, pages := groupUsage(st.AppPid)
		s.MemoryBytes = pages * int64(os.Getpagesize())
	}
	return s, nil
}

// Stop implements runtime.Runtime. It writes the grace period to the
// replica's stop file and signals the supervisor, which stops the app; if
// the supervisor does not finish in time, the runtime kills both.
func (r *Runtime) Stop(ctx context.Context, h runtime.Handle, grace time.Duration) error {
	dir, err := r.handleDir(h)
	if err != nil {
		return err
	}
	r.unwatch(dir)
	st, err := readState(dir)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	if !alive(st.ShimPid, st.ShimStart) {
		// A supervisor that died (SIGKILL, OOM) leaves its app orphaned.
		if st.AppPid > 0 && alive(st.AppPid, st.AppStart) {
			stopOrphan(ctx, st, syscall.SIGKILL, 0)
			st.Phase, st.AppPid, st.Message = phaseStopped, 0, "stopped (its supervisor had died)"
			return writeJSON(filepath.Join(dir, stateFile), st, 0o644)
		}
		return nil
	}
	if err := writeJSON(filepath.Join(dir, stopFile), stopRequest{Grace: grace}, 0o644); err != nil {
		return err
	}
	if err := syscall.Kill(st.ShimPid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop replica %s of %s: %w", h.Replica, h.Instance, err)
	}
	deadline := time.Now().Add(grace + 5*time.Second)
	for alive(st.ShimPid, st.ShimStart) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.log.Warn("supervisor did not stop in time; killing it", "replica", h.Replica, "pid", st.ShimPid)
			_ = syscall.Kill(st.ShimPid, syscall.SIGKILL)
			if st.AppPid > 0 && alive(st.AppPid, st.AppStart) {
				_ = syscall.Kill(-st.AppPid, syscall.SIGKILL)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Remove implements runtime.Runtime: it stops the replica if it still runs
// and deletes its directory (logs, secrets, state); volumes are kept.
func (r *Runtime) Remove(ctx context.Context, h runtime.Handle) error {
	dir, err := r.handleDir(h)
	if err != nil {
		return err
	}
	if err := r.Stop(ctx, h, r.opts.StopGrace); err != nil {
		return err
	}
	spec, err := readSpec(dir)
	if err == nil {
		r.removeCleanup(spec)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove replica %s of %s: %w", h.Replica, h.Instance, err)
	}
	r.forget(dir, spec)
	// The replica's logs stay, within the service's budget for removed
	// replicas.
	service := h.Service
	if spec != nil {
		service = spec.Meta.Service
	}
	r.pruneLogs(h.Instance, service)
	// Drop directories left empty; os.Remove fails harmlessly on others.
	replicas := filepath.Dir(dir)
	_ = os.Remove(replicas)
	_ = os.Remove(filepath.Dir(replicas))
	return nil
}

// forget drops what the runtime keeps in memory of the replica in dir,
// whose spec (possibly nil) was spec: its port and its List entry.
func (r *Runtime) forget(dir string, spec *shimSpec) {
	if spec != nil {
		r.releasePort(spec.Port, dir)
	}
	r.listMu.Lock()
	delete(r.listed, dir)
	r.listMu.Unlock()
}

func (r *Runtime) removeCleanup(spec *shimSpec) {
	for _, p := range spec.Cleanup {
		_ = os.RemoveAll(p)
	}
	if spec.RunDir != "" {
		// The instance's run directory, once its last replica is gone.
		_ = os.Remove(filepath.Dir(spec.RunDir))
	}
}

// List implements runtime.Runtime by scanning the instance's replica
// directories; a replica whose supervisor is gone is listed too (Inspect
// says it exited), so orphans can be removed. What a handle takes from a
// replica's spec is kept in memory while the spec file is unchanged, so a
// List reads only the small state files.
func (r *Runtime) List(_ context.Context, id stack.Identity) ([]runtime.Handle, error) {
	inst, err := r.instanceDir(id)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(inst, "replicas"))
	if err != nil && !isNotExist(err) {
		return nil, err
	}
	var hs []runtime.Handle
	for _, e := range ents {
		dir := filepath.Join(inst, "replicas", e.Name())
		st, err := readState(dir)
		if isNotExist(err) {
			continue // a start under way, or one that failed before its supervisor ran
		}
		if err != nil {
			r.log.Warn("skipping unreadable replica state", "dir", dir, "err", err)
			continue
		}
		h, err := r.listedHandle(dir)
		if err != nil {
			r.log.Warn("skipping unreadable replica directory", "dir", dir, "err", err)
			continue
		}
		if st.ShimPid > 0 {
			h.ID = formatID(st.ShimPid, st.ShimStart)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// listedHandle returns the handle of the replica in dir, without its ID.
func (r *Runtime) listedHandle(dir string) (runtime.Handle, error) {
	fi, err := os.Stat(filepath.Join(dir, specFile))
	if err != nil {
		return runtime.Handle{}, err
	}
	r.listMu.Lock()
	l, ok := r.listed[dir]
	r.listMu.Unlock()
	if ok && l.mod.Equal(fi.ModTime()) && l.size == fi.Size() {
		return l.h, nil
	}
	spec, err := readSpec(dir)
	if err != nil {
		return runtime.Handle{}, err
	}
	h := handleFor(spec, 0, 0)
	r.listMu.Lock()
	r.listed[dir] = listedReplica{mod: fi.ModTime(), size: fi.Size(), h: h}
	r.listMu.Unlock()
	return h, nil
}

// Reattach implements runtime.Runtime: it checks that the handle's
// supervisor (pid and start time) still runs and resumes health checks. A
// supervisor that died while no daemon ran, leaving a replica that should
// run, is replaced first (see resupervise).
func (r *Runtime) Reattach(ctx context.Context, h runtime.Handle) error {
	dir, err := r.handleDir(h)
	if err != nil {
		return err
	}
	pid, start, err := parseID(h.ID)
	if err != nil {
		return err
	}
	st, err := readState(dir)
	if err != nil || h.ID != st.Origin && (st.ShimPid != pid || st.ShimStart != start) {
		return fmt.Errorf("reattach replica %s of %s: its directory belongs to another supervisor: %w", h.Replica, h.Instance, runtime.ErrNotFound)
	}
	spec, err := readSpec(dir)
	if err != nil {
		return fmt.Errorf("reattach replica %s of %s: %w", h.Replica, h.Instance, err)
	}
	if !alive(st.ShimPid, st.ShimStart) {
		if !shouldRun(st) {
			return fmt.Errorf("reattach replica %s of %s: supervisor %d is gone: %w", h.Replica, h.Instance, st.ShimPid, runtime.ErrNotFound)
		}
		if err := r.resupervise(ctx, dir, spec, st); err != nil {
			return fmt.Errorf("reattach replica %s of %s: %w", h.Replica, h.Instance, err)
		}
	}
	r.watch(dir, spec)
	return nil
}

// shouldRun reports whether the replica a state file describes is meant to
// run: its supervisor neither finished nor was being stopped.
func shouldRun(st *shimState) bool {
	switch st.Phase {
	case phaseStarting, phaseRunning, phaseRestarting:
		return true
	}
	return false
}

// resupervise replaces a supervisor that died (SIGKILL, the OOM killer)
// while its replica should run: the orphaned app is stopped as the
// supervisor would have (stop signal, grace period, SIGKILL of its process
// group), and a new supervisor starts in the same directory, so the replica
// keeps its port, logs and handle; the new supervisor counts one restart.
func (r *Runtime) resupervise(ctx context.Context, dir string, spec *shimSpec, st *shimState) error {
	r.log.Warn("the supervisor of a replica died; starting a new one", "instance", spec.Meta.Instance.Name(),
		"replica", spec.Meta.Replica, "supervisor", st.ShimPid, "app", st.AppPid)
	stopOrphan(ctx, st, syscall.Signal(spec.StopSignal), spec.StopGrace)
	pid, _, err := r.launch(ctx, dir)
	if err != nil {
		return fmt.Errorf("replace the supervisor that died (pid %d): %w", st.ShimPid, err)
	}
	r.log.Info("replica supervised again", "instance", spec.Meta.Instance.Name(), "replica", spec.Meta.Replica, "supervisor", pid)
	return nil
}

// stopOrphan stops the process group of an app whose supervisor is gone:
// sig, up to grace for the app to exit, then SIGKILL, and waits (briefly)
// until the app is gone so that its port is free again.
func stopOrphan(ctx context.Context, st *shimState, sig syscall.Signal, grace time.Duration) {
	if st.AppPid <= 0 || !alive(st.AppPid, st.AppStart) {
		return
	}
	waitGone := func(d time.Duration) {
		deadline := time.Now().Add(d)
		for alive(st.AppPid, st.AppStart) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if sig != syscall.SIGKILL && grace > 0 {
		_ = syscall.Kill(-st.AppPid, cmp.Or(sig, syscall.SIGTERM))
		waitGone(grace)
	}
	_ = syscall.Kill(-st.AppPid, syscall.SIGKILL)
	waitGone(5 * time.Second)
}

// Close implements runtime.Runtime: health checks end; supervisors and
// their apps keep running.
func (r *Runtime) Close() error {
	r.stopSweep()
	<-r.swept
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for dir, w := range r.watchers {
		w.stop()
		delete(r.watchers, dir)
	}
	if r.events != nil {
		r.events.close()
		r.events = nil
	}
	return nil
}

// The runtime starts and stops replicas one by one.
var (
	_ runtime.ReplicaRunner = (*Runtime)(nil)
	_ runtime.Logger        = (*Runtime)(nil)
	_ runtime.Execer        = (*Runtime)(nil)
	_ runtime.VolumeManager = (*Runtime)(nil)
	_ runtime.Assessor      = (*Runtime)(nil)
)
