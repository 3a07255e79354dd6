package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/render/helmtest"
)

const exampleUsersAPI = "../../examples/users-api"

func TestRenderHelmChartDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chart")
	code, out, errOut := runQuaiRender(t, "render", exampleUsersAPI, "--env", "prod", "--target", "helm", "-o", dir, "--chart-version", "1.2.3")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	chart, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiVersion: v2", "name: users-api", "version: 1.2.3", "quai.dev/instance: default-users-api-prod"} {
		if !strings.Contains(string(chart), want) {
			t.Errorf("Chart.yaml lacks %q:\n%s", want, chart)
		}
	}
	if !strings.Contains(out, "wrote "+filepath.Join(dir, "values.yaml")) {
		t.Errorf("values.yaml not reported:\n%s", out)
	}

	// A template of an object no longer rendered goes; other files stay.
	stale := filepath.Join(dir, "templates", "deployment-gone.yaml")
	if err := os.WriteFile(stale, []byte("kind: Deployment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runQuaiRender(t, "render", exampleUsersAPI, "--env", "prod", "--target", "helm", "-o", dir); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale template still there (%v)", err)
	}

	// Someone else's chart is left alone.
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "Chart.yaml"), []byte("apiVersion: v2\nname: theirs\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runQuaiRender(t, "render", exampleUsersAPI, "--target", "helm", "-o", foreign); code != ExitUsage || !strings.Contains(errOut, "did not write") {
		t.Errorf("foreign chart dir: exit %d: %s", code, errOut)
	}
}

func TestRenderHelmUsage(t *testing.T) {
	for _, args := range [][]string{
		{"render", exampleUsersAPI, "--target", "helm"},
		{"render", exampleUsersAPI, "--package", "-o", t.TempDir()},
		{"render", exampleUsersAPI, "--chart-version", "1.0.0"},
		{"render", exampleUsersAPI, "--target", "helm", "-o", t.TempDir(), "--chart-version", "1.0"},
	} {
		if code, _, errOut := runQuaiRender(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, ExitUsage, errOut)
		}
	}
}

func TestRenderHelmPackage(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runQuaiRender(t, "--json", "render", exampleUsersAPI, "--env", "prod", "--target", "helm", "--package", "-o", dir, "--chart-version", "2.0.0")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Chart, Version string
		Wrote          []string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := filepath.Join(dir, "users-api-2.0.0.tgz")
	if res.Chart != "users-api" || res.Version != "2.0.0" || len(res.Wrote) != 1 || res.Wrote[0] != want {
		t.Fatalf("got %+v, want %s", res, want)
	}
	first, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runQuaiRender(t, "render", exampleUsersAPI, "--env", "prod", "--target", "helm", "--package", "-o", dir, "--chart-version", "2.0.0"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	second, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Error("packaging the same chart twice gave different bytes")
	}
}

// TestRenderHelmTemplateEqualsKubernetes: what the user runs, end to end —
// quai render --target helm, then the real helm lint and helm template,
// against quai render --target kubernetes, for the example in prod and for
// another org.
func TestRenderHelmTemplateEqualsKubernetes(t *testing.T) {
	h := helmtest.New(t)
	for _, args := range [][]string{{"--env", "prod"}, {"--env", "prod", "--org", "acme", "--ingress-class", "traefik", "--storage-class", "fast"}} {
		dir := filepath.Join(t.TempDir(), "chart")
		if code, _, errOut := runQuaiRender(t, append([]string{"render", exampleUsersAPI, "--target", "helm", "-o", dir}, args...)...); code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		code, kube, errOut := runQuaiRender(t, append([]string{"render", exampleUsersAPI}, args...)...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		if out, err := h.Run("lint", dir); err != nil {
			t.Fatalf("%v: %v", args, err)
		} else if !strings.Contains(string(out), "0 chart(s) failed") {
			t.Fatalf("%v: helm lint:\n%s", args, out)
		}
		out, err := h.Run("template", "users-api", dir)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		helmtest.Equal(t, out, []byte(kube))
	}
}
