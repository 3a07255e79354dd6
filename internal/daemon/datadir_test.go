package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestResolveDataDir(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		flag string
		env  map[string]string
		euid int
		want string
	}{
		{"flag wins", "/x/flag", map[string]string{"QUAI_DATA_DIR": "/x/env", "XDG_DATA_HOME": "/x/xdg"}, 0, "/x/flag"},
		{"relative flag made absolute", "state", nil, 1000, filepath.Join(cwd, "state")},
		{"QUAI_DATA_DIR next", "", map[string]string{"QUAI_DATA_DIR": "/x/env", "XDG_DATA_HOME": "/x/xdg"}, 0, "/x/env"},
		{"XDG_DATA_HOME next", "", map[string]string{"XDG_DATA_HOME": "/x/xdg", "HOME": "/home/u"}, 1000, "/x/xdg/quai"},
		{"root without XDG", "", map[string]string{"HOME": "/root"}, 0, SystemDataDir},
		{"user without XDG", "", map[string]string{"HOME": "/home/u"}, 1000, "/home/u/.local/share/quai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveDataDir(tt.flag, func(k string) string { return tt.env[k] }, tt.euid)
			if err != nil || got != tt.want {
				t.Errorf("ResolveDataDir = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := ResolveDataDir("", func(string) string { return "" }, 1000); !errors.Is(err, ErrNoDataDir) {
		t.Errorf("no HOME: err = %v, want ErrNoDataDir", err)
	}
}

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
