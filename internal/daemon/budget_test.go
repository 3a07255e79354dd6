package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
)

// budgetChildEnv makes TestAPIAnswersWhileTheProxyIsFull, run again by
// itself in a child process, be the daemon it tests (see budgetChild).
const budgetChildEnv = "QUAI_TEST_BUDGET_CHILD"

// childFileLimit is the child daemon's open files limit, soft and hard.
const childFileLimit = 256

// budgetChild is the daemon of TestAPIAnswersWhileTheProxyIsFull: it
// lowers its open files limit, starts, prints where it listens and runs
// until its standard input closes.
func budgetChild(t *testing.T) {
	lim := syscall.Rlimit{Cur: childFileLimit, Max: childFileLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{})
	fmt.Printf("READY %s %s\n", d.Socket, d.ProxyHTTPAddr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TestAPIAnswersWhileTheProxyIsFull holds more idle client connections to
// the proxy of a daemon than its whole open files limit allows: the proxy
// keeps them within its budget (closing idle ones to admit new ones) and
// the API on the unix socket keeps answering. Without the budget the
// daemon ran out of file descriptors (accept4: too many open files) and
// the API stopped answering.
func TestAPIAnswersWhileTheProxyIsFull(t *testing.T) {
	if os.Getenv(budgetChildEnv) == "1" {
		budgetChild(t)
		return
	}
	if testing.Short() {
		t.Skip("starts a daemon in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAPIAnswersWhileTheProxyIsFull$", "-test.v")
	cmd.Env = append(os.Environ(), budgetChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var output strings.Builder
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child daemon: %v\n%s%s", err, output.String(), stderr.String())
			}
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Errorf("child daemon did not stop\n%s%s", output.String(), stderr.String())
		}
	})
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			output.WriteString(sc.Text() + "\n")
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "READY" {
				ready <- f[1:]
			}
		}
		close(ready)
	}()
	var socket, proxyAddr string
	select {
	case f, ok := <-ready:
		if !ok {
			t.Fatalf("child daemon did not start:\n%s", stderr.String())
		}
		socket, proxyAddr = f[0], f[1]
	case <-time.After(2 * time.Minute):
		t.Fatal("child daemon did not start")
	}

	// More connections than the child may open files at all.
	const idle = childFileLimit + 100
	closed := make(chan struct{}, idle)
	for i := range idle {
		c, err := net.DialTimeout("tcp", proxyAddr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		go func() {
			var b [1]byte
			_, _ = c.Read(b[:])
			closed <- struct{}{}
		}()
	}

	cl := client.New(socket)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.Instances(ctx); err != nil {
		t.Fatalf("the API does not answer while the proxy holds %d idle connections: %v", idle, err)
	}

	// The proxy's budget on 256 files is 64 connections: it closed the
	// others.
	const budget = 64
	timeout := time.After(time.Minute)
	for n := 0; n < idle-budget; n++ {
		select {
		case <-closed:
		case <-timeout:
			t.Fatalf("the proxy closed %d of %d idle connections, want %d: it holds more than its budget", n, idle, idle-budget)
		}
	}
	if _, err := cl.Instances(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("the API stopped answering: %v", err)
	}
}
