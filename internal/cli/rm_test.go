package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestRmAsksSeparatelyAboutBackups: rm --purge asks about the backups
// (default no) only when there are some and nothing decided already; a
// plain rm never deletes them.
func TestRmAsksSeparatelyAboutBackups(t *testing.T) {
	four := backupsOf{count: 4, bytes: 12_900_000}
	tests := []struct {
		name   string
		o      rmOptions
		b      backupsOf
		answer string
		want   bool
		asked  bool
	}{
		{"plain rm", rmOptions{PurgeBackups: true}, four, "y", false, false},
		{"purge, answered yes", rmOptions{Purge: true}, four, "y", true, true},
		{"purge, answered nothing", rmOptions{Purge: true}, four, "", false, true},
		{"purge, answered no", rmOptions{Purge: true}, four, "n", false, true},
		{"purge -y keeps them", rmOptions{Purge: true, Yes: true}, four, "y", false, false},
		{"purge --keep-backups", rmOptions{Purge: true, KeepBackups: true}, four, "y", false, false},
		{"purge --purge-backups", rmOptions{Purge: true, PurgeBackups: true, Yes: true}, four, "", true, false},
		{"purge --purge-backups with none listed", rmOptions{Purge: true, PurgeBackups: true}, backupsOf{}, "", true, false},
		{"purge without backups", rmOptions{Purge: true}, backupsOf{}, "y", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			g := &globals{stdin: strings.NewReader(tt.answer + "\n"), stderr: &stderr}
			got, err := tt.o.deleteBackups(g, "acme/users-api-prod", tt.b)
			if err != nil {
				t.Fatal(err)
			}
			const q = "Also delete 4 backups (12.3MiB) of acme/users-api-prod? This cannot be undone. [y/N]"
			if got != tt.want || strings.Contains(stderr.String(), q) != tt.asked {
				t.Errorf("deleteBackups = %v, asked %q; want %v, asked: %v", got, stderr.String(), tt.want, tt.asked)
			}
		})
	}
}
