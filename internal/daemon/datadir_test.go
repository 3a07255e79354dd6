package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := os.ReadFile(filepath.Join(dir, "quai.pid"))
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file = %q, %v; want this process's pid", pid, err)
	}
	_, err = lockDataDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: err = %v, want ErrLocked naming the holder's pid", err)
	}
	if err := l.release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "quai.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after release: %v", err)
	}
	l2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = l2.release()
}

func TestNewRejectsLongSocketPath(t *testing.T) {
	_, err := New(Config{DataDir: "/tmp/" + strings.Repeat("d", 120)})
	if err == nil || !strings.Contains(err.Error(), "--socket") {
		t.Fatalf("err = %v, want a socket-length error suggesting --socket", err)
	}
}
