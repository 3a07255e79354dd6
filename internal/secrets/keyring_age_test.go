package secrets

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ageCLI is the path of Debian's age CLI; a test without it skips, but
// fails in CI, which installs it (scripts/deps.sh).
func ageCLI(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the age CLI is not installed; scripts/deps.sh installs it (apt-get install age)")
		}
		t.Skip("the age CLI is not installed (apt-get install age)")
	}
	return p
}

// TestExportedKeysOpenWithTheAgeCLI: what quai sealed for a key opens with
// the real `age -d -i` given the key's export, plain or passphrase-protected.
func TestExportedKeysOpenWithTheAgeCLI(t *testing.T) {
	bin := ageCLI(t)
	dir := t.TempDir()
	kr := newTestKeyring(t, t.TempDir())
	k, _, err := kr.Ensure("acme", "prod")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg := filepath.Join(dir, "msg.age")
	enc := exec.CommandContext(ctx, bin, "-r", k.Recipient, "-o", msg)
	enc.Stdin = strings.NewReader("sealed for acme/prod")
	if out, err := enc.CombinedOutput(); err != nil {
		t.Fatalf("age -r: %v\n%s", err, out)
	}

	plain, _, err := kr.Export("acme", "prod", "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "-d", "-i", keyFile, msg).CombinedOutput()
	if err != nil || string(out) != "sealed for acme/prod" {
		t.Fatalf("age -d -i <plain export>: %v\n%s", err, out)
	}

	// A passphrase-protected export is an encrypted identity file: age asks
	// for the passphrase on the terminal, never on stdin.
	const pass = "export passphrase 4711"
	bundle, _, err := kr.Export("acme", "prod", pass)
	if err != nil {
		t.Fatal(err)
	}
	bundleFile := filepath.Join(dir, "keys.age")
	if err := os.WriteFile(bundleFile, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-d", "-i", bundleFile, "-o", filepath.Join(dir, "msg.txt"), msg)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tty.Close() }()
	var seen bytes.Buffer
	buf := make([]byte, 256)
	for !strings.Contains(seen.String(), "passphrase") {
		n, err := tty.Read(buf)
		if err != nil {
			t.Fatalf("age never asked for the passphrase: %v; it printed %q", err, seen.String())
		}
		seen.Write(buf[:n])
	}
	if _, err := tty.Write([]byte(pass + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("age -d -i <passphrase export>: %v; it printed %q", err, seen.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "msg.txt"))
	if err != nil || string(got) != "sealed for acme/prod" {
		t.Fatalf("age -d -i <passphrase export> wrote %q, %v", got, err)
	}
}
