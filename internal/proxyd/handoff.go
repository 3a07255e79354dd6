package proxyd

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// handoffEnv tells a proxy process started by an upgrade which inherited
// descriptors are what: "LOCK,CTL,READY,HTTP,HTTPS,UPGRADES", descriptor
// numbers with 0 for a listener that is off.
const handoffEnv = "QUAI_PROXY_HANDOFF"

// readyTimeout bounds how long an upgrade waits for the new process.
const readyTimeout = 30 * time.Second

// inheritance is what a proxy process got from the one it replaces.
type inheritance struct {
	lock        *os.File
	ctl         net.Listener
	http, https net.Listener
	readyW      *os.File
	upgrades    int
}

// inherited reads the handoff of an upgrade; nil when this process was
// started afresh.
func inherited() (*inheritance, error) {
	v := os.Getenv(handoffEnv)
	if v == "" {
		return nil, nil
	}
	_ = os.Unsetenv(handoffEnv)
	parts := strings.Split(v, ",")
	if len(parts) != 6 {
		return nil, fmt.Errorf("proxyd: malformed %s %q", handoffEnv, v)
	}
	n := make([]int, len(parts))
	for i, p := range parts {
		var err error
		if n[i], err = strconv.Atoi(p); err != nil || n[i] < 0 {
			return nil, fmt.Errorf("proxyd: malformed %s %q", handoffEnv, v)
		}
	}
	in := &inheritance{upgrades: n[5]}
	file := func(fd int, name string) *os.File {
		if fd == 0 {
			return nil
		}
		return os.NewFile(uintptr(fd), name)
	}
	listener := func(fd int, name string) (net.Listener, error) {
		f := file(fd, name)
		if f == nil {
			return nil, nil
		}
		defer func() { _ = f.Close() }()
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("proxyd: inherited %s listener: %w", name, err)
		}
		return ln, nil
	}
	in.lock = file(n[0], "proxy.lock")
	in.readyW = file(n[2], "ready")
	var err error
	if in.ctl, err = listener(n[1], "control"); err != nil {
		in.close()
		return nil, err
	}
	if ul, ok := in.ctl.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	if in.http, err = listener(n[3], "http"); err != nil {
		in.close()
		return nil, err
	}
	if in.https, err = listener(n[4], "https"); err != nil {
		in.close()
		return nil, err
	}
	if in.lock == nil || in.ctl == nil || in.readyW == nil {
		in.close()
		return nil, fmt.Errorf("proxyd: %s %q lacks the lock, control socket or ready pipe", handoffEnv, v)
	}
	return in, nil
}

// ready tells the predecessor that this process serves.
func (in *inheritance) ready() {
	_, _ = in.readyW.Write([]byte{'1'})
	_ = in.readyW.Close()
	in.readyW = nil
}

// close releases what was inherited, on a failed start.
func (in *inheritance) close() {
	if in == nil {
		return
	}
	for _, c := range []io.Closer{in.ctl, in.http, in.https} {
		if c != nil && !isNilListener(c) {
			_ = c.Close()
		}
	}
	if in.readyW != nil {
		_ = in.readyW.Close()
	}
	if in.lock != nil {
		_ = in.lock.Close()
	}
}

func isNilListener(c io.Closer) bool {
	ln, ok := c.(net.Listener)
	return ok && ln == nil
}

// upgrade starts Executable (default this one) as the next proxy process
// with this one's sockets and lock, waits until it serves, answers, and
// stops this process (drain, exit).
func (s *server) upgrade(w http.ResponseWriter, r *http.Request) {
	var req upgradeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, codeBadReq, fmt.Sprintf("decode upgrade request: %v", err))
		return
	}
	// Pushes wait for the upgrade; one that arrives after it gets "handed
	// over" and retries on the successor.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handingOver {
		writeError(w, http.StatusServiceUnavailable, codeHandedOver, "this proxy process has handed over to another; retry")
		return
	}
	pid, err := s.spawnSuccessor(req.Executable)
	if err != nil {
		s.log.Error("proxy upgrade failed; this process keeps serving", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	s.handingOver = true
	s.log.Info("proxy handed over to its successor", "new_pid", pid)
	writeJSON(w, http.StatusOK, UpgradeResult{OldPID: os.Getpid(), NewPID: pid})
	s.stop(true)
}

func (s *server) spawnSuccessor(exe string) (int, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return 0, fmt.Errorf("find the proxy's executable: %w", err)
		}
	}
	httpF, httpsF, err := s.px.ListenerFiles()
	if err != nil {
		return 0, err
	}
	files := []*os.File{httpF, httpsF}
	defer func() {
		for _, f := range files {
			if f != nil {
				_ = f.Close()
			}
		}
	}()
	ul, ok := s.ctl.(*net.UnixListener)
	if !ok {
		return 0, errors.New("proxyd: the control listener is not a unix socket")
	}
	ul.SetUnlinkOnClose(false)
	ctlF, err := ul.File()
	if err != nil {
		return 0, fmt.Errorf("proxyd: control socket: %w", err)
	}
	files = append(files, ctlF)
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	files = append(files, readyW)
	defer func() { _ = readyR.Close() }()
	// ExtraFiles become descriptors 3, 4, ... in order; a nil entry is a
	// closed descriptor.
	extra := []*os.File{s.lock, ctlF, readyW, httpF, httpsF}
	fd := func(i int, f *os.File) string {
		if f == nil {
			return "0"
		}
		return strconv.Itoa(3 + i)
	}
	env := fmt.Sprintf("%s=3,4,5,%s,%s,%d", handoffEnv, fd(3, httpF), fd(4, httpsF), s.upgrades+1)
	cmd := exec.Command(exe, os.Args[1:]...) //nolint:gosec // the operator's quai binary, as `quai proxy upgrade` names it
	cmd.Env = append(withoutEnv(os.Environ(), handoffEnv), env)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", exe, err)
	}
	// The parent's copy of the write end must go, so that a successor
	// that dies before it is ready reads as EOF here.
	_ = readyW.Close()
	files = files[:len(files)-1]
	got := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		got <- err
	}()
	select {
	case err := <-got:
		if err == nil {
			// The successor outlives this process; init reaps it.
			pid := cmd.Process.Pid
			_ = cmd.Process.Release()
			return pid, nil
		}
		_ = cmd.Wait()
		return 0, fmt.Errorf("the new proxy process (%s) exited before it served; see %s", exe, cmp.Or(logHint(), "its output"))
	case <-time.After(readyTimeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("the new proxy process (%s) did not become ready within %s", exe, readyTimeout)
	}
}

func logHint() string {
	if p, err := os.Readlink("/proc/self/fd/2"); err == nil && strings.HasPrefix(p, "/") {
		return p
	}
	return ""
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
