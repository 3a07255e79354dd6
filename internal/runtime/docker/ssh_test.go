package docker

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
)

// TestSSHHostUnreachable goes through the docker CLI's ssh connection
// helper to a port where no ssh server listens: the error is
// ErrUnavailable and names the ssh:// address.
func TestSSHHostUnreachable(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client: install openssh-client")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	host := "ssh://nobody@127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = New(ctx, Options{Host: host, StateDir: t.TempDir()})
	if !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), "ssh") {
		t.Fatalf("err = %v, want ErrUnavailable naming %s", err, host)
	}
	t.Log(err)
}
