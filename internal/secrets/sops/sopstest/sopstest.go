// Package sopstest runs the real sops and age-keygen CLIs for tests that
// prove quai's SOPS files and sops's are the same format. Only tests import
// it.
//
// A missing tool skips the test, except in CI (CI=true), where it fails with
// the command that installs it: scripts/deps.sh installs both.
package sopstest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// Version is the sops release tools/sops/build.sh builds.
const Version = "v3.13.3"

// ci reports whether a missing tool is a failure rather than a skip.
func ci() bool { return os.Getenv("CI") == "true" }

func missing(t testing.TB, msg string) {
	t.Helper()
	if ci() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Path is where the sops binary is looked for: $QUAI_SOPS, else
// ${QUAI_TOOLS_BIN:-$HOME/.cache/quai/tools}/sops-<Version>.
func Path() string {
	if p := os.Getenv("QUAI_SOPS"); p != "" {
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
	return filepath.Join(dir, "sops-"+Version)
}

// SOPS returns the path of the real sops binary, or skips (fails in CI)
// when it is not built.
func SOPS(t testing.TB) string {
	t.Helper()
	p := Path()
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		missing(t, "the real sops CLI is not at "+p+": build it with tools/sops/build.sh (or run scripts/deps.sh), or set QUAI_SOPS")
	}
	return p
}

// Key is an age identity made by the real age-keygen, in a key file sops
// reads through SOPS_AGE_KEY_FILE.
type Key struct {
	File      string
	Recipient string
	Identity  age.Identity
}

// Keygen runs age-keygen into dir.
func Keygen(t testing.TB, dir string) Key {
	t.Helper()
	bin, err := exec.LookPath("age-keygen")
	if err != nil {
		missing(t, "age-keygen is not installed: apt-get install age (or run scripts/deps.sh)")
	}
	f, err := os.CreateTemp(dir, "age-key-*.txt")
	if err != nil {
		t.Fatal(err)
	}
	file := f.Name()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// age-keygen refuses to overwrite a file.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	run(t, "", nil, bin, "-o", file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) != 1 {
		t.Fatalf("age-keygen wrote %s that does not parse as one identity: %v", file, err)
	}
	x, ok := ids[0].(*age.X25519Identity)
	if !ok {
		t.Fatalf("age-keygen wrote a %T identity", ids[0])
	}
	recipient := strings.TrimSpace(run(t, "", nil, bin, "-y", file))
	if recipient != x.Recipient().String() {
		t.Fatalf("age-keygen -y says %s; the key file holds %s", recipient, x.Recipient())
	}
	return Key{File: file, Recipient: recipient, Identity: x}
}

// Run runs the real sops with args in dir, reading age identities from
// keyFile (none if empty), and returns its standard output. It fails the
// test when sops fails.
func Run(t testing.TB, dir, keyFile string, args ...string) string {
	t.Helper()
	out, err := Try(t, dir, keyFile, args...)
	if err != nil {
		t.Fatalf("sops %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Try is Run that returns sops's failure (with its standard error) instead
// of failing the test.
func Try(t testing.TB, dir, keyFile string, args ...string) (string, error) {
	t.Helper()
	return try(dir, sopsEnv(dir, keyFile), SOPS(t), args...)
}

// sopsEnv isolates sops from the user's configuration and keys: its own
// HOME, only the given key file.
func sopsEnv(dir, keyFile string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, ".config")}
	if keyFile != "" {
		env = append(env, "SOPS_AGE_KEY_FILE="+keyFile)
	}
	return env
}

func run(t testing.TB, dir string, env []string, bin string, args ...string) string {
	t.Helper()
	out, err := try(dir, env, bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return out
}

type exitError struct {
	err    error
	stderr string
}

func (e *exitError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }
func (e *exitError) Unwrap() error { return e.err }

func try(dir string, env []string, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &exitError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}
