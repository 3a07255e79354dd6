package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
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
		{"root without XDG", "", map[string]string{"HOME": "/root"}, 0, System},
		{"user without XDG", "", map[string]string{"HOME": "/home/u"}, 1000, "/home/u/.local/share/quai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.flag, func(k string) string { return tt.env[k] }, tt.euid)
			if err != nil || got != tt.want {
				t.Errorf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := Resolve("", func(string) string { return "" }, 1000); !errors.Is(err, ErrUnresolved) {
		t.Errorf("no HOME: err = %v, want ErrUnresolved", err)
	}
}

func TestRunDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	xdg := t.TempDir()
	a := RunDir("/var/lib/quai", env(map[string]string{"XDG_RUNTIME_DIR": xdg}), 1000)
	if filepath.Dir(a) != xdg || !strings.HasPrefix(filepath.Base(a), "quai-") {
		t.Errorf("with XDG_RUNTIME_DIR: %s, want quai-<hash> in it", a)
	}
	if b := RunDir("/var/lib/quai/", env(map[string]string{"XDG_RUNTIME_DIR": xdg}), 1000); b != a {
		t.Errorf("the same data dir gives %s and %s", a, b)
	}
	if b := RunDir("/srv/quai", env(map[string]string{"XDG_RUNTIME_DIR": xdg}), 1000); b == a {
		t.Errorf("two data dirs share the run dir %s", a)
	}
	shm := RunDir("/var/lib/quai", env(nil), 1000)
	if want := "/dev/shm/quai-1000-"; isDir("/dev/shm") && !strings.HasPrefix(shm, want) {
		t.Errorf("without XDG_RUNTIME_DIR: %s, want %s<hash>", shm, want)
	}

	dir := filepath.Join(t.TempDir(), "run")
	if err := MkdirRun(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("run dir mode %v, %v; want 0700", fi.Mode(), err)
	}
	if err := MkdirRun(dir, 0o700); err != nil {
		t.Fatalf("an existing private run dir: %v", err)
	}
	if err := MkdirRun(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o711 {
		t.Fatalf("run dir opened for another user's replica: mode %v, %v; want 0711", fi.Mode(), err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := MkdirRun(dir, 0o700); err == nil {
		t.Error("a run dir others may write was accepted")
	}
}
