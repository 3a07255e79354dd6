package clidocs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/clidocs"
	"github.com/quai-dev/quai/internal/daemon/serve"
	"github.com/quai-dev/quai/internal/goldentest"
	"github.com/quai-dev/quai/internal/proxyd/proxycmd"
)

// clearEnv empties, for the test, the variables flags take defaults from.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "QUAI_") || k == "DOCKER_HOST" || k == "KUBECONFIG" {
			t.Setenv(k, "")
		}
	}
}

// TestCLIReferenceIsCurrent: docs/cli.md is what the commands' help says
// today. A changed verb, flag or example fails here until `make docs` is run.
func TestCLIReferenceIsCurrent(t *testing.T) {
	clearEnv(t)
	var b bytes.Buffer
	if err := clidocs.Markdown(&b, cli.Command(serve.Command, proxycmd.Command)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "cli.md")
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make docs`", err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("docs/cli.md is stale: run `make docs` and commit it\n%s", goldentest.FirstDiff(have, b.Bytes()))
	}
	for _, want := range []string{"## quai up", "## quai completion bash", "## quai serve", "## Exit status", "| 3 | `not_found`"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
}

// TestManPages: `make man` writes a page per verb, with its examples.
func TestManPages(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	if err := clidocs.Man(dir, cli.Command(serve.Command, proxycmd.Command), "quai test"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "quai-up.1"))
	if err != nil {
		t.Fatalf("no page for quai up: %v", err)
	}
	for _, want := range []string{".TH \"QUAI\" \"1\"", "quai up ./shop --env prod", "EXAMPLE"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("quai-up.1 lacks %q", want)
		}
	}
}
