package process

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/runtime/logfile"
)

// ShimEnv is the environment variable that turns the quai binary into a
// replica supervisor; the runtime sets it to "1" and starts the supervisor
// in the replica directory when it re-executes Options.ShimPath. main
// dispatches on it:
//
//	if process.IsShim() {
//		os.Exit(process.ShimMain())
//	}
const ShimEnv = "QUAI_PROCESS_SUPERVISOR"

// IsShim reports whether this process was started as a replica supervisor.
func IsShim() bool { return os.Getenv(ShimEnv) != "" }

// ShimMain runs the replica supervisor and returns the process exit code. The
// supervisor runs detached from the daemon (own session), starts the app
// described by the replica's spec.json in its own process group, restarts it
// per the restart policy with capped exponential backoff, writes its output
// to rotated log files, records its state atomically in the state file, and
// on SIGTERM or SIGINT stops the app (stop signal, grace period, SIGKILL of
// the whole group) and exits.
func ShimMain() int {
	if err := os.Unsetenv(ShimEnv); err != nil {
		fmt.Fprintln(os.Stderr, "quai supervisor:", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quai supervisor:", err)
		return 1
	}
	if err := supervise(dir); err != nil {
		fmt.Fprintf(os.Stderr, "%s quai supervisor %s: %v\n", time.Now().UTC().Format(time.RFC3339), dir, err)
		return 1
	}
	return 0
}

type supervisor struct {
	dir  string
	spec *shimSpec
	st   shimState
	logs *logfile.Writer
}

func supervise(dir string) error {
	spec, err := readSpec(dir)
	if err != nil {
		return err
	}
	// Signals are routed before anything else so that a stop that arrives
	// while the app starts is not lost.
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)

	self, err := readProcStat(os.Getpid())
	if err != nil {
		return err
	}
	s := &supervisor{dir: dir, spec: spec}
	s.st = shimState{Version: specVersion, Phase: phaseStarting, ShimPid: os.Getpid(), ShimStart: self.StartTime}
	if prev, err := readState(dir); err == nil {
		// A fresh start clears the directory, so a state here is that of a
		// supervisor that died: this one takes the replica over, its app
		// (stopped by the runtime) counting as restarted.
		s.st.Restarts = prev.Restarts + 1
		s.st.Origin = cmp.Or(prev.Origin, formatID(prev.ShimPid, prev.ShimStart))
	}
	if err := s.save(); err != nil {
		return err
	}
	logPath := spec.LogPath
	if logPath == "" {
		logPath = filepath.Join(dir, legacyLogsDir, legacyAppLog)
	}
	s.logs, err = logfile.Open(logPath, logfile.Limits{MaxSize: spec.LogMaxSize, Keep: spec.LogKeep})
	if err != nil {
		return err
	}
	defer func() { _ = s.logs.Close() }()

	var backoff time.Duration
	for {
		app, err := s.start()
		if err != nil {
			s.st.Phase, s.st.ExitCode, s.st.Message = phaseFailed, 127, err.Error()
			return s.save()
		}
		var code int
		select {
		case <-app.done:
			code = app.exitCode()
		case <-sigc:
			s.st.Phase = phaseStopping
			_ = s.save()
			code = s.stop(app)
			s.st.Phase, s.st.ExitCode, s.st.AppPid, s.st.Message = phaseStopped, code, 0, "stopped"
			return s.save()
		}
		ran := time.Since(app.started)
		s.reap(app)
		s.st.ExitCode, s.st.AppPid = code, 0
		if !spec.Restart.shouldRestart(code, s.st.Restarts) {
			s.st.Phase, s.st.Message = phaseExited, fmt.Sprintf("exited with code %d (restart policy %s)", code, spec.Restart.Mode)
			return s.save()
		}
		backoff = nextBackoff(backoff, spec.BackoffMin, spec.BackoffMax, ran)
		// A restart counts from when it is decided, as Docker's
		// RestartCount does, so a crash is seen as soon as it happens.
		s.st.Restarts++
		s.st.Phase = phaseRestarting
		s.st.Message = fmt.Sprintf("exited with code %d; restarting in %s", code, backoff)
		_ = s.save()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-sigc:
			t.Stop()
			s.st.Phase, s.st.Message = phaseStopped, "stopped"
			return s.save()
		}
	}
}

func (s *supervisor) save() error {
	s.st.Updated = time.Now().UTC()
	return writeJSON(filepath.Join(s.dir, stateFile), &s.st, 0o644)
}

type appProc struct {
	cmd     *exec.Cmd
	pgid    int
	started time.Time
	done    chan struct{}
	readers sync.WaitGroup
	pipes   []*os.File
}

func (a *appProc) exitCode() int {
	ps := a.cmd.ProcessState
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func (s *supervisor) start() (*appProc, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, err
	}
	env, err := s.spec.environ()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		_ = errR.Close()
		_ = errW.Close()
		return nil, err
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Credential: s.spec.Credential.sys()}
	if s.spec.Cgroup != "" {
		// The app starts inside its cgroup (clone3 CLONE_INTO_CGROUP):
		// its limits hold from its first instruction.
		cg, err := os.Open(s.spec.Cgroup)
		if err != nil {
			_ = outR.Close()
			_ = outW.Close()
			_ = errR.Close()
			_ = errW.Close()
			return nil, fmt.Errorf("open the replica's cgroup: %w", err)
		}
		defer func() { _ = cg.Close() }()
		attr.UseCgroupFD, attr.CgroupFD = true, int(cg.Fd())
	}
	cmd := &exec.Cmd{
		Path:        s.spec.Argv[0],
		Args:        s.spec.Argv,
		Env:         env,
		Dir:         s.spec.Dir,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: attr,
	}
	err = cmd.Start()
	_ = outW.Close()
	_ = errW.Close()
	if err != nil {
		_ = outR.Close()
		_ = errR.Close()
		return nil, fmt.Errorf("start %s: %w", s.spec.Argv[0], err)
	}
	a := &appProc{cmd: cmd, pgid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{}), pipes: []*os.File{outR, errR}}
	a.readers.Add(2)
	go func() { defer a.readers.Done(); s.logs.CopyLines('o', outR) }()
	go func() { defer a.readers.Done(); s.logs.CopyLines('e', errR) }()
	go func() { _ = cmd.Wait(); close(a.done) }()

	st, err := readProcStat(cmd.Process.Pid)
	if err == nil {
		s.st.AppStart = st.StartTime
	}
	s.st.Phase, s.st.AppPid, s.st.Started, s.st.Message = phaseRunning, cmd.Process.Pid, a.started.UTC(), ""
	return a, s.save()
}

// stop sends the stop signal to the app's process group, waits the grace
// period (from the runtime's stop file, else the spec), then kills the group.
func (s *supervisor) stop(a *appProc) int {
	grace := s.spec.StopGrace
	var req stopRequest
	if err := readJSON(filepath.Join(s.dir, stopFile), &req); err == nil {
		grace = req.Grace
	}
	sig := syscall.Signal(s.spec.StopSignal)
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	_ = syscall.Kill(-a.pgid, sig)
	t := time.NewTimer(grace)
	select {
	case <-a.done:
		t.Stop()
	case <-t.C:
		_ = syscall.Kill(-a.pgid, syscall.SIGKILL)
		<-a.done
	}
	code := a.exitCode()
	s.reap(a)
	return code
}

// reap kills what is left of the app's process group (children the app left
// behind) and waits, briefly, for the output readers to drain.
func (s *supervisor) reap(a *appProc) {
	if err := syscall.Kill(-a.pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		fmt.Fprintf(os.Stderr, "quai supervisor: kill process group %d: %v\n", a.pgid, err)
	}
	drained := make(chan struct{})
	go func() { a.readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		// A process that left the group (setsid) still holds the pipes;
		// stop reading rather than wait for it.
	}
	for _, p := range a.pipes {
		_ = p.Close()
	}
}

// environ is the app's environment: Env, plus the secret environment
// values read from the run directory (they are never in the spec file).
func (sp *shimSpec) environ() ([]string, error) {
	if sp.RunDir == "" {
		return sp.Env, nil
	}
	dir := filepath.Join(sp.RunDir, secretEnvDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		// The run directory is memory-backed: after a reboot the secrets
		// are gone from it, and only the daemon can put them back.
		return nil, fmt.Errorf("read the secret environment in %s: %w (after a reboot, `quai restart %s` gives the replica its secrets again)",
			dir, err, sp.Meta.Instance.Name())
	}
	env := slices.Clone(sp.Env)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read the secret environment variable %s: %w", e.Name(), err)
		}
		env = append(env, e.Name()+"="+string(b))
	}
	return env, nil
}
