// Package s3test runs a real S3 server for tests: versitygw (Apache-2.0),
// built by tools/versitygw/build.sh, on 127.0.0.1 with its posix backend in
// a temporary directory. Only tests import it.
//
// A missing binary skips the test, except in CI (CI=true), where it fails
// with the command that builds it: scripts/deps.sh does.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the versitygw release tools/versitygw/build.sh builds.
const Version = "v1.8.0"

// Path is where the binary is looked for: $QUAI_VERSITYGW, else
// ${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/versitygw-<Version>.
func Path() string {
	if p := os.Getenv("QUAI_VERSITYGW"); p != "" {
		return p
	}
	dir := os.Getenv("QUAI_TOOLS_BIN")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".cache", "quai", "tools")
	}
	return filepath.Join(dir, "versitygw-"+Version)
}

// Server is one running versitygw.
type Server struct {
	// Addr is host:port of the S3 endpoint.
	Addr string
	// Access and Secret are the root user's keys.
	Access, Secret string
	// Root holds the buckets (a directory per bucket, a file per object).
	Root string

	bin, sidecar, log string
	t                 testing.TB
	mu                sync.Mutex
	cmd               *exec.Cmd
	exited            chan struct{}
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Path()
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		msg := "versitygw is not at " + bin + ": build it with tools/versitygw/build.sh (or run scripts/deps.sh), or set QUAI_VERSITYGW"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	s := &Server{
		Access:  "quaitest" + randHex(4),
		Secret:  randHex(20),
		Root:    filepath.Join(dir, "root"),
		sidecar: filepath.Join(dir, "sidecar"),
		log:     filepath.Join(dir, "versitygw.log"),
		bin:     bin,
		t:       t,
	}
	for _, d := range []string{s.Root, s.sidecar} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// URL is a backup target URL (internal/backup's Target.URL) for bucket
// and prefix on this server; Access and Secret are its keys.
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&tls=false", bucket, prefix, s.Addr)
}

// Restart starts the server (again, after Stop) on the same address and
// data, and waits until it accepts connections.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("s3test: the server is already running")
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--port", s.Addr, "--access", s.Access, "--secret", s.Secret, "--region", "us-east-1",
		"posix", "--sidecar", s.sidecar, s.Root)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		s.t.Fatalf("s3test: start %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("s3test: versitygw exited before it listened on %s:\n%s", s.Addr, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("s3test: versitygw did not listen on %s within 30s:\n%s", s.Addr, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server (the data stays for Restart).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Log is the server's output so far.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	return string(bytes.TrimSpace(b))
}

// Ping reports whether the endpoint accepts connections.
func (s *Server) Ping(ctx context.Context) error {
	c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
