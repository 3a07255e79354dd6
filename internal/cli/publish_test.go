package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/registry/registrytest"
	"github.com/quai-dev/quai/internal/render/helmtest"
)

func TestPublishUsage(t *testing.T) {
	for _, args := range [][]string{
		{"publish", exampleUsersAPI},
		{"publish", exampleUsersAPI, "--oci", "registry.example.com"},
		{"publish", exampleUsersAPI, "--oci", "https://registry.example.com/charts/x"},
		{"publish", exampleUsersAPI, "--oci", "registry.example.com/charts/users-api:1.0.0", "--chart-version", "2.0.0"},
		{"publish", exampleUsersAPI, "--oci", "registry.example.com/charts/users-api:latest"},
	} {
		if code, _, errOut := runQuaiRender(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, ExitUsage, errOut)
		}
	}
}

// TestPublishOCI pushes the example's chart to a real registry (TLS, basic
// auth, credentials from the Docker config) with quai publish and pulls it
// back with the real helm: the bytes are those quai render --package
// writes, and helm template of the pulled chart is the Kubernetes
// rendering. A wrong password fails with a message that says what to do.
func TestPublishOCI(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{NoDockerTrust: true})
	t.Setenv("DOCKER_CONFIG", reg.DockerConfig)
	code, out, errOut := runQuaiRender(t, "--json", "publish", exampleUsersAPI, "-e", "prod",
		"--oci", reg.Host+"/charts/users-api:1.5.0", "--ca-file", reg.CAFile)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct{ Reference, Digest, Version string }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Reference != "oci://"+reg.Host+"/charts/users-api:1.5.0" || res.Version != "1.5.0" {
		t.Errorf("got %+v", res)
	}
	if d, err := reg.ManifestDigest(t.Context(), "charts/users-api", "1.5.0"); err != nil || d != res.Digest {
		t.Errorf("registry has %s (%v), publish said %s", d, err, res.Digest)
	}

	code, out, errOut = runQuaiRender(t, "publish", exampleUsersAPI, "-e", "prod",
		"--oci", reg.Host+"/charts/users-api", "--chart-version", "1.5.0", "--ca-file", reg.CAFile)
	if code != ExitOK || !strings.Contains(out, res.Digest) || !strings.Contains(out, "helm install users-api oci://"+reg.Host+"/charts/users-api --version 1.5.0") {
		t.Errorf("second publish: exit %d, want the same digest %s and the install line:\n%s%s", code, res.Digest, out, errOut)
	}

	t.Run("helm pull", func(t *testing.T) {
		h := helmtest.New(t)
		pkgDir := t.TempDir()
		if code, _, errOut := runQuaiRender(t, "render", exampleUsersAPI, "-e", "prod", "--target", "helm", "--package", "-o", pkgDir, "--chart-version", "1.5.0"); code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		want, err := os.ReadFile(filepath.Join(pkgDir, "users-api-1.5.0.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		helmAuth := []string{"--ca-file", reg.CAFile, "--registry-config", filepath.Join(reg.DockerConfig, "config.json")}
		dest := t.TempDir()
		if _, err := h.Run(append([]string{"pull", "oci://" + reg.Host + "/charts/users-api", "--version", "1.5.0", "-d", dest}, helmAuth...)...); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dest, "users-api-1.5.0.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("helm pulled %d bytes, quai render --package wrote %d different ones", len(got), len(want))
		}
		tmpl, err := h.Run(append([]string{"template", "users-api", "oci://" + reg.Host + "/charts/users-api", "--version", "1.5.0"}, helmAuth...)...)
		if err != nil {
			t.Fatal(err)
		}
		code, kube, errOut := runQuaiRender(t, "render", exampleUsersAPI, "-e", "prod")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		helmtest.Equal(t, tmpl, []byte(kube))
	})

	t.Run("wrong password", func(t *testing.T) {
		dir := t.TempDir()
		if err := reg.WriteDockerConfig(dir, reg.User, "wrong-"+reg.Password); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_CONFIG", dir)
		code, _, errOut := runQuaiRender(t, "publish", exampleUsersAPI, "-e", "prod", "--oci", reg.Host+"/charts/users-api", "--ca-file", reg.CAFile)
		if code != ExitFailed {
			t.Fatalf("exit %d, want %d: %s", code, ExitFailed, errOut)
		}
		for _, want := range []string{"refused the credentials", reg.Host, "docker login " + reg.Host} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
		if strings.Contains(errOut, reg.Password) {
			t.Error("stderr shows the password")
		}
		t.Logf("wrong password: %s", strings.TrimSpace(errOut))
	})
}
