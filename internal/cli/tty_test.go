package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// terminal is a real pseudo-terminal: verbs run with its slave side as
// stdin and stdout, so they see a TTY; the test reads the screen and types
// on the master side.
type terminal struct {
	t      *testing.T
	master *os.File
	slave  *os.File

	mu     sync.Mutex
	screen bytes.Buffer
	done   chan struct{}
}

func openTerminal(t *testing.T) *terminal {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, master: m, slave: s, done: make(chan struct{})}
	term.resize(30, 100)
	go func() {
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			term.mu.Lock()
			term.screen.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = s.Close()
		_ = m.Close()
		<-term.done
	})
	return term
}

// resize sets the terminal's size. Not through s.Fd(): that would switch
// the slave to blocking mode, which a terminal's stdin is not.
func (term *terminal) resize(rows, cols uint16) {
	term.t.Helper()
	rc, err := term.slave.SyscallConn()
	if err != nil {
		term.t.Fatal(err)
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); err != nil || ioErr != nil {
		term.t.Fatal(err, ioErr)
	}
}

// text is everything written to the terminal so far; clear forgets it.
func (term *terminal) text() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.screen.String()
}

func (term *terminal) clear() {
	term.mu.Lock()
	defer term.mu.Unlock()
	term.screen.Reset()
}

// shows waits until s is on screen (output may still be in flight after a
// verb returned) and reports whether it came.
func (term *terminal) shows(s string) bool {
	for range 200 {
		if strings.Contains(term.text(), s) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// answer waits until prompt is on screen, then types line.
func (term *terminal) answer(prompt, line string) {
	term.t.Helper()
	for range 600 {
		if strings.Contains(term.text(), prompt) {
			if _, err := term.master.Write([]byte(line + "\n")); err != nil {
				term.t.Fatal(err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	term.t.Fatalf("prompt %q never appeared; screen:\n%s", prompt, term.text())
}

// start runs a verb on the terminal in the background; wait returns its exit code.
func (term *terminal) start(d *daemontest.Daemon, args ...string) (wait func() int) {
	term.clear()
	args = append([]string{"--socket", d.Socket}, args...)
	code := make(chan int, 1)
	go func() { code <- cli.Run(context.Background(), args, term.slave, term.slave, term.slave) }()
	return func() int {
		c := <-code
		term.t.Logf("quai %s → %d on a terminal:\n%s", strings.Join(args, " "), c, term.text())
		return c
	}
}

func TestVerbsOnATerminal(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	term := openTerminal(t)
	dir := daemontest.AppProject(t, daemontest.App{Project: "tty"})

	wait := term.start(d, "up", dir)
	term.answer("Apply this plan to tty-dev? [y/N]", "n")
	if code := wait(); code != cli.ExitDeclined || !term.shows("canceled") {
		t.Fatalf("up answered no: exit %d; want 5 and canceled", code)
	}
	if _, err := d.Client.Status(context.Background(), "tty-dev"); err == nil {
		t.Fatal("up installed the instance after the user said no")
	}

	wait = term.start(d, "up", dir)
	term.answer("Apply this plan to tty-dev? [y/N]", "y")
	if code := wait(); code != 0 {
		t.Fatalf("up answered yes: exit %d", code)
	}
	if !term.shows("tty-dev is reachable at") || !strings.Contains(term.text(), "\x1b[2K") || !strings.Contains(term.text(), "✔ web") {
		t.Errorf("up on a terminal: want live lines rewritten in place, the finished web line and the URLs")
	}

	wait = term.start(d, "install", dir)
	term.answer("[c]ancel?", "c")
	if code := wait(); code != cli.ExitDeclined {
		t.Errorf("install canceled: exit %d, want 5", code)
	}

	// Without DIR, in a directory without a compose file (the test's own),
	// up offers the projects the daemon knows.
	wait = term.start(d, "up")
	term.answer("Deploy which? [1-1]", "1")
	if code := wait(); code != 0 || !term.shows("up to date") {
		t.Errorf("up through the picker: exit %d; want 0 and tty-dev up to date", code)
	}

	wait = term.start(d, "exec", "-it", "tty-dev", "web", "--", "/bin/sh")
	term.answer("", "echo $((6*7)); stty size")
	if !term.shows("30 100") {
		t.Fatalf("exec -it: the shell does not see the terminal's size 30 100")
	}
	// A resized window reaches the command: the kernel signals the
	// terminal's foreground group, which here is the test, so signal it.
	term.resize(40, 120)
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		term.answer("", "stty size")
		if term.shows("40 120") {
			break
		}
	}
	term.answer("", "exit 4")
	if code := wait(); code != 4 || !term.shows("42") || !term.shows("40 120") {
		t.Errorf("exec -it: exit %d; want 4 with the shell's output and the resized terminal's size 40 120", code)
	}

	// A wrong name is asked for again, three times at most (the answers
	// are typed ahead, as a terminal allows).
	wait = term.start(d, "rm", "tty-dev", "--purge")
	for range 3 {
		term.answer("Type the instance name to confirm:", "tty-prod")
	}
	if code := wait(); code != cli.ExitDeclined || !term.shows("nothing was removed") ||
		strings.Count(term.text(), "the name did not match") != 3 || strings.Count(term.text(), "Type the instance name to confirm:") != 3 {
		t.Errorf("rm --purge with the wrong name three times: exit %d; want 5, asked three times, nothing removed", code)
	}
	wait = term.start(d, "rm", "tty-dev", "--purge")
	term.answer("Type the instance name to confirm:", "tty-dev")
	if code := wait(); code != 0 {
		t.Errorf("rm --purge confirmed: exit %d", code)
	}
	if _, err := d.Client.Status(context.Background(), "tty-dev"); err == nil {
		t.Error("tty-dev still installed after a confirmed rm --purge")
	}
}

// TestUpOnATerminalRefusesAChangedPlan: the user is shown a plan and,
// before answering, somebody else installs the instance. Confirming the
// plan the user saw must not run the daemon's new one.
func TestUpOnATerminalRefusesAChangedPlan(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	term := openTerminal(t)
	dir := daemontest.AppProject(t, daemontest.App{Project: "race"})
	ctx := context.Background()

	wait := term.start(d, "up", dir)
	prompt := "Apply this plan to race-dev? [y/N]"
	if !term.shows(prompt) {
		t.Fatalf("no prompt; screen:\n%s", term.text())
	}
	m, err := stack.Load(ctx, stack.Options{Dir: dir, Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client.Up(ctx, payload, client.UpOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	term.answer(prompt, "y")
	if code := wait(); code != cli.ExitFailed || !term.shows("run `quai up` again") {
		t.Fatalf("confirmed a stale plan: exit %d; want 1 and the advice to run quai up again", code)
	}
	if rels, err := d.Client.Releases(ctx, "race-dev"); err != nil || len(rels) != 1 {
		t.Errorf("releases %d (%v); want only the other install's", len(rels), err)
	}
}
