package datadir

import (
	"errors"
	"os"
	"path/filepath"
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
