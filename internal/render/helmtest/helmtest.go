// Package helmtest runs the real Helm CLI (v4, built from the Go module
// proxy by tools/helm/build.sh into the per-machine tools cache) for tests
// of the charts quai renders and publishes, and compares Kubernetes object
// streams the way the chart tests must: parsed, object for object, field
// for field, in a deterministic order. Without the binary it skips the test
// locally and fails it in CI. It is test support: only tests import it.
package helmtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Version is the Helm release tools/helm builds.
const Version = "v4.3.2"

// CI reports whether the tests run in CI, where a missing helm binary
// fails the test rather than skipping it.
func CI() bool { return os.Getenv("CI") == "true" }

// Path is where tools/helm/build.sh caches the binary:
// ${QUAI_TOOLS_BIN:-~/.cache/quai/tools}/helm-<Version>/helm.
func Path() string {
	dir := os.Getenv("QUAI_TOOLS_BIN")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache", "quai", "tools")
	}
	return filepath.Join(dir, "helm-"+Version, "helm")
}

// Helm is a helm CLI with its own, empty, configuration, cache and data
// directories (the user's repositories and registry logins stay out).
type Helm struct {
	Bin string
	env []string
}

// New finds the helm binary (the tools cache, else a v4 helm on PATH); it
// skips the test without one (fails it in CI).
func New(t testing.TB) *Helm {
	t.Helper()
	bin := Path()
	if _, err := os.Stat(bin); err != nil {
		bin = ""
		if p, err := exec.LookPath("helm"); err == nil {
			if out, err := exec.Command(p, "version", "--short").Output(); err == nil && strings.HasPrefix(string(out), "v4.") {
				bin = p
			}
		}
	}
	if bin == "" {
		msg := "needs the helm v4 CLI: run tools/helm/build.sh (or scripts/deps.sh)"
		if CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	home := t.TempDir()
	return &Helm{Bin: bin, env: append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)}
}

// Run runs helm with args and returns its stdout; the error carries stderr.
func (h *Helm) Run(args ...string) ([]byte, error) {
	cmd := exec.Command(h.Bin, args...)
	cmd.Env = h.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// Objects parses a multi-document YAML stream (comments and empty
// documents ignored) into its objects, sorted by kind, namespace and name.
func Objects(stream []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	var objs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse YAML stream: %w", err)
		}
		if len(doc) > 0 {
			objs = append(objs, doc)
		}
	}
	slices.SortFunc(objs, func(a, b map[string]any) int {
		return cmp.Or(strings.Compare(key(a, "kind"), key(b, "kind")),
			strings.Compare(key(a, "metadata", "namespace"), key(b, "metadata", "namespace")),
			strings.Compare(key(a, "metadata", "name"), key(b, "metadata", "name")))
	})
	return objs, nil
}

func key(obj map[string]any, path ...string) string {
	var v any = obj
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// Equal fails the test unless the two streams hold the same objects, field
// for field; the message shows the first object that differs as JSON.
func Equal(t testing.TB, got, want []byte) {
	t.Helper()
	g, err := Objects(got)
	if err != nil {
		t.Fatalf("got: %v", err)
	}
	w, err := Objects(want)
	if err != nil {
		t.Fatalf("want: %v", err)
	}
	if len(g) != len(w) {
		t.Fatalf("got %d objects, want %d:\n%s\nwant:\n%s", len(g), len(w), names(g), names(w))
	}
	for i := range g {
		if !reflect.DeepEqual(g[i], w[i]) {
			gj, _ := json.MarshalIndent(g[i], "", "  ")
			wj, _ := json.MarshalIndent(w[i], "", "  ")
			t.Fatalf("object %d differs:\n--- got\n%s\n--- want\n%s", i, gj, wj)
		}
	}
}

func names(objs []map[string]any) string {
	var b strings.Builder
	for _, o := range objs {
		fmt.Fprintf(&b, "  %s %s/%s\n", key(o, "kind"), key(o, "metadata", "namespace"), key(o, "metadata", "name"))
	}
	return b.String()
}
