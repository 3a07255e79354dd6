package clidocs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/clidocs"
	"github.com/quai-dev/quai/internal/daemon/serve"
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
	if err := clidocs.Markdown(&b, cli.Command(serve.Command)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "cli.md")
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make docs`", err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("docs/cli.md is stale: run `make docs` and commit it\n%s", firstDiff(string(have), b.String()))
	}
	for _, want := range []string{"## quai up", "## quai completion bash", "## quai serve", "## Exit status", "| 3 | `not_found`"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
}

// firstDiff shows the first line where have and want differ.
func firstDiff(have, want string) string {
	h, w := strings.Split(have, "\n"), strings.Split(want, "\n")
	for i := range max(len(h), len(w)) {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n  docs/cli.md: " + hl + "\n  generated:   " + wl
		}
	}
	return ""
}
