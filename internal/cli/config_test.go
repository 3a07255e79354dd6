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

func runQuaiConfig(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestConfigYAML(t *testing.T) {
	code, out, errOut := runQuaiConfig(t, "config", "../../testdata/stacks/users-api", "--env", "prod", "--org", "acme")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"name: users-api", "LOG_LEVEL: warn", "TENANT: acme", "host: users.acme.example", "replicas: 6"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	for _, args := range [][]string{
		{"config", "../../testdata/stacks/django", "--format", "json"},
		{"--json", "config", "../../testdata/stacks/django"},
	} {
		code, out, errOut := runQuaiConfig(t, args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var doc struct {
			Services map[string]any `json:"services"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, out)
		}
		if len(doc.Services) != 3 {
			t.Errorf("%v: %d services, want 3", args, len(doc.Services))
		}
	}
}

func TestConfigInvalidStack(t *testing.T) {
	dir := t.TempDir()
	stackFile := "services:\n  web:\n    image: nginx:1.27\n    x-quai:\n      size: medum\n      replicas: -1\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(stackFile), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runQuaiConfig(t, "config", dir)
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	if out != "" {
		t.Errorf("nothing should be printed on stdout, got %q", out)
	}
	for _, want := range []string{
		`compose.yaml:5:7: services.web.x-quai.size: unknown size class "medum" (hint: did you mean "medium"?`,
		`compose.yaml:6:7: services.web.x-quai.replicas: replicas must not be negative`,
		"2 problems:",
		"fix them and run quai config again",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestConfigBadFormat(t *testing.T) {
	if code, _, errOut := runQuaiConfig(t, "config", "../../testdata/stacks/django", "--format", "toml"); code != ExitUsage || !strings.Contains(errOut, "unknown format") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
