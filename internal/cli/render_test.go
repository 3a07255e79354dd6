package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func runQuaiRender(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

const renderFixtureDjango = "../../testdata/stacks/django"

func TestRenderKubernetesStdout(t *testing.T) {
	code, out, errOut := runQuaiRender(t, "render", renderFixtureDjango, "--env", "dev")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	docs := strings.Split(out, "\n---\n")
	if len(docs) < 5 {
		t.Fatalf("%d documents, want a full instance:\n%s", len(docs), out)
	}
	if !strings.HasPrefix(docs[0], "apiVersion: v1\nkind: Namespace\n") || !strings.Contains(docs[0], "name: default-blog-dev") {
		t.Errorf("first document is not the instance namespace:\n%s", docs[0])
	}
	if !strings.Contains(out, "kind: Ingress") || !strings.Contains(out, "ingressClassName: nginx") {
		t.Error("no Ingress with the default class")
	}
	// Notes go to stderr, so stdout pipes straight into kubectl.
	if strings.Contains(out, "warning:") || !strings.Contains(errOut, "create secret generic django-secret-key") {
		t.Errorf("stderr lacks the secret hint or stdout has notes; stderr:\n%s", errOut)
	}
}

func TestRenderFlagsReachRenderer(t *testing.T) {
	code, out, errOut := runQuaiRender(t, "render", renderFixtureDjango, "--ingress-class", "traefik",
		"--cluster-issuer", "corp-ca", "--storage-class", "fast-ssd")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"ingressClassName: traefik", "storageClassName: fast-ssd"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestRenderOutputDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests")
	code, out, errOut := runQuaiRender(t, "render", renderFixtureDjango, "-o", dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, want := range []string{"namespace-default-blog-dev.yaml", "statefulset-db.yaml", "service-web.yaml", "networkpolicy-default-deny.yaml"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not written; got %v", want, names)
		}
		if !strings.Contains(out, "wrote "+filepath.Join(dir, want)) {
			t.Errorf("%s not reported on stdout", want)
		}
	}
	for _, n := range names {
		if strings.Contains(n, ".tmp-") {
			t.Errorf("temporary file left behind: %s", n)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "statefulset-db.yaml"))
	if err != nil || !strings.Contains(string(b), "kind: StatefulSet") || strings.Contains(string(b), "---") {
		t.Errorf("statefulset-db.yaml is not one StatefulSet document (err %v):\n%s", err, b)
	}
}

func TestRenderCompose(t *testing.T) {
	code, out, errOut := runQuaiRender(t, "render", renderFixtureDjango, "--target", "compose", "--env", "dev")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "name: default-blog-dev\n") || !strings.Contains(out, "quai.dev/service: web") {
		t.Errorf("compose output lacks the instance name or labels:\n%s", out)
	}
}

func TestRenderJSON(t *testing.T) {
	code, out, errOut := runQuaiRender(t, "--json", "render", renderFixtureDjango)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Namespace string            `json:"namespace"`
		Objects   []json.RawMessage `json:"objects"`
		Secrets   []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Namespace != "default-blog-dev" || len(got.Objects) < 5 || len(got.Secrets) != 1 {
		t.Errorf("json = %+v", got)
	}
}

func TestRenderErrors(t *testing.T) {
	bad := t.TempDir()
	// An x-quai route to a service that does not exist: the loader refuses it.
	if err := os.WriteFile(filepath.Join(bad, "compose.yaml"), []byte(`services:
  web:
    image: nginx:1.27
x-quai:
  routes:
    - service: nope
      port: 80
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runQuaiRender(t, "render", bad)
	if code != ExitUsage {
		t.Errorf("invalid stack: exit %d, want %d", code, ExitUsage)
	}
	if out != "" || !strings.Contains(errOut, "cannot load the stack") || !strings.Contains(errOut, "compose.yaml:") {
		t.Errorf("stdout %q, stderr %q: want the loader's problems with positions", out, errOut)
	}

	code, _, errOut = runQuaiRender(t, "render", renderFixtureDjango, "--target", "nomad")
	if code != ExitUsage || !strings.Contains(errOut, "unknown --target") {
		t.Errorf("unknown target: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runQuaiRender(t, "render", t.TempDir())
	if code != ExitNotFound || !strings.Contains(errOut, "no compose file") {
		t.Errorf("empty dir: exit %d, stderr %q", code, errOut)
	}
}
