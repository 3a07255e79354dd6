package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeStack writes a one-file project and returns its directory.
func writeStack(t *testing.T, compose string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

const cleanStack = `
services:
  worker:
    image: example/worker:1.4.2
    user: "1000:1000"
    x-quai:
      size: small
`

const privilegedStack = `
services:
  worker:
    image: example/worker:1.4.2
    user: "1000:1000"
    privileged: true
    x-quai:
      size: small
`

const warningStack = `
services:
  worker:
    image: example/worker:latest
    user: "1000:1000"
    x-quai:
      size: small
`

const brokenStack = `
services:
  worker:
    image: example/worker:1.4.2
    x-quai:
      sise: small
`

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestLintExitCodes(t *testing.T) {
	clean := writeStack(t, cleanStack)
	privileged := writeStack(t, privilegedStack)
	warning := writeStack(t, warningStack)
	broken := writeStack(t, brokenStack)
	wordpress := filepath.Join("..", "..", "testdata", "stacks", "wordpress")

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		noStdout   bool
		stdoutJSON bool
	}{
		{name: "clean", args: []string{"lint", clean}, code: ExitOK, stdout: []string{"no findings"}},
		{name: "error finding", args: []string{"lint", privileged}, code: ExitFindings,
			stdout: []string{"compose.yaml:6:5: error QL001 service \"worker\" runs privileged", "1 finding: 1 error"}},
		{name: "warning below default threshold", args: []string{"lint", warning}, code: ExitOK, stdout: []string{"warning QL010"}},
		{name: "warning at threshold", args: []string{"lint", warning, "--fail-on", "warning"}, code: ExitFindings, stdout: []string{"warning QL010"}},
		{name: "info threshold", args: []string{"lint", clean, "--fail-on", "info"}, code: ExitOK},
		{name: "fixture prod has errors", args: []string{"lint", wordpress, "--env", "prod"}, code: ExitFindings, stdout: []string{"error QL011"}},
		{name: "env as -e", args: []string{"lint", wordpress, "-e", "prod"}, code: ExitFindings, stdout: []string{"error QL011"}},
		{name: "fixture dev only warnings", args: []string{"lint", wordpress}, code: ExitOK, stdout: []string{"warning QL010"}},
		{name: "cannot load", args: []string{"lint", broken}, code: ExitUsage, noStdout: true,
			stderr: []string{"cannot load the stack in " + broken + " (env dev)", "compose.yaml:6:7", "sise", "fix them and run quai lint again"}},
		{name: "no such directory", args: []string{"lint", filepath.Join(clean, "nope")}, code: ExitNotFound, noStdout: true, stderr: []string{"cannot load the stack"}},
		{name: "bad fail-on", args: []string{"lint", clean, "--fail-on", "fatal"}, code: ExitUsage, stderr: []string{"unknown severity"}},
		{name: "bad format", args: []string{"lint", clean, "--format", "xml"}, code: ExitUsage, stderr: []string{"unknown output format"}},
		{name: "json and sarif disagree", args: []string{"--json", "lint", clean, "--format", "sarif"}, code: ExitUsage, stderr: []string{"disagree"}},
		{name: "json format", args: []string{"lint", privileged, "--format", "json"}, code: ExitFindings, stdoutJSON: true, stdout: []string{`"rule": "QL001"`}},
		{name: "global json", args: []string{"--json", "lint", privileged}, code: ExitFindings, stdoutJSON: true, stdout: []string{`"rule": "QL001"`}},
		{name: "sarif", args: []string{"lint", privileged, "--format", "sarif"}, code: ExitFindings, stdoutJSON: true,
			stdout: []string{`"version": "2.1.0"`, `"ruleId": "QL001"`, `"uri": "compose.yaml"`}},
		{name: "rules", args: []string{"lint", "--rules"}, code: ExitOK, stdout: []string{"QL001", "privileged container", "QL032"}},
		{name: "rules json", args: []string{"--json", "lint", "--rules"}, code: ExitOK, stdoutJSON: true, stdout: []string{`"id": "QL001"`, `"explanation"`}},
		{name: "too many args", args: []string{"lint", clean, clean}, code: ExitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if tc.noStdout && stdout != "" {
				t.Errorf("want no stdout, got:\n%s", stdout)
			}
			if tc.stdoutJSON && !json.Valid([]byte(stdout)) {
				t.Errorf("stdout is not JSON:\n%s", stdout)
			}
		})
	}
}

// TestLintDefaultDir checks that DIR defaults to the working directory.
func TestLintDefaultDir(t *testing.T) {
	dir := writeStack(t, privilegedStack)
	t.Chdir(dir)
	code, stdout, stderr := runCLI(t, "lint", "--format", "json")
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitFindings, stdout, stderr)
	}
	var findings []struct {
		Rule, Service, File string
		Line                int
	}
	if err := json.Unmarshal([]byte(stdout), &findings); err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 || findings[0].Rule != "QL001" || findings[0].Service != "worker" || findings[0].File != "compose.yaml" || findings[0].Line != 6 {
		t.Errorf("findings = %+v", findings)
	}
}
