package helmoci

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/registry/registrytest"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/render/helmtest"
	"github.com/quai-dev/quai/internal/stack"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
		err  bool
	}{
		{in: "reg.example.com/charts/app", want: Ref{Host: "reg.example.com", Repository: "charts/app"}},
		{in: "oci://reg.example.com:5000/app:1.2.3", want: Ref{Host: "reg.example.com:5000", Repository: "app", Tag: "1.2.3"}},
		{in: "localhost:5000/team/app:v1", want: Ref{Host: "localhost:5000", Repository: "team/app", Tag: "v1"}},
		{in: "reg.example.com", err: true},
		{in: "reg.example.com:5000", err: true},
		{in: "app:1.0", err: true},
		{in: "reg.example.com/app:bad tag", err: true},
		{in: "https://reg.example.com/app", err: true},
	}
	for _, tc := range tests {
		got, err := ParseRef(tc.in)
		if tc.err {
			if !errors.Is(err, registry.ErrReference) {
				t.Errorf("%s: err %v, want ErrReference", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// usersAPIChart is the chart of the users-api example for prod.
func usersAPIChart(t *testing.T) (*render.Chart, Chart) {
	t.Helper()
	m, err := stack.Load(context.Background(), stack.Options{Dir: "../../../examples/users-api", Env: "prod", Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := render.Helm(m, render.HelmOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := c.Package()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.ConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	return c, Chart{Name: c.Name, Version: c.Version, Description: c.Description, Config: cfg, Package: pkg}
}

// TestPushToRegistry pushes a chart to a real registry (Debian's
// docker-registry with TLS and basic auth) and pulls it back with the real
// helm: the bytes are the package's, `helm template oci://` prints the
// Kubernetes rendering, a second push gives the same digest, and wrong or
// missing credentials are errors that say what to do.
func TestPushToRegistry(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{NoDockerTrust: true})
	c, chart := usersAPIChart(t)
	ctx := context.Background()
	ref, err := ParseRef(reg.Host + "/charts/" + c.Name)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{DockerConfig: reg.DockerConfig, CAFile: reg.CAFile, CertsDir: t.TempDir()}
	res, err := Push(ctx, ref, chart, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "oci://" + reg.Host + "/charts/" + c.Name + ":" + c.Version; res.Reference != want {
		t.Errorf("reference %s, want %s", res.Reference, want)
	}
	if d, err := reg.ManifestDigest(ctx, "charts/"+c.Name, c.Version); err != nil || d != res.Digest {
		t.Errorf("registry has %s (%v), push said %s", d, err, res.Digest)
	}

	again, err := Push(ctx, ref, chart, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != res.Digest {
		t.Errorf("second push digest %s, first %s: the artifact is not deterministic", again.Digest, res.Digest)
	}

	t.Run("helm pull", func(t *testing.T) {
		h := helmtest.New(t)
		helmAuth := []string{"--ca-file", reg.CAFile, "--registry-config", filepath.Join(reg.DockerConfig, "config.json")}
		dest := t.TempDir()
		if _, err := h.Run(append([]string{"pull", "oci://" + reg.Host + "/charts/" + c.Name, "--version", c.Version, "-d", dest}, helmAuth...)...); err != nil {
			t.Fatal(err)
		}
		pulled, err := os.ReadFile(filepath.Join(dest, c.PackageName()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pulled, chart.Package) {
			t.Errorf("helm pulled %d bytes that differ from the %d-byte package pushed", len(pulled), len(chart.Package))
		}
		out, err := h.Run(append([]string{"template", "r", "oci://" + reg.Host + "/charts/" + c.Name, "--version", c.Version}, helmAuth...)...)
		if err != nil {
			t.Fatal(err)
		}
		kube, err := c.Manifests.YAML()
		if err != nil {
			t.Fatal(err)
		}
		helmtest.Equal(t, out, kube)
	})
	t.Run("wrong password", func(t *testing.T) {
		dir := t.TempDir()
		if err := reg.WriteDockerConfig(dir, reg.User, "not-"+reg.Password); err != nil {
			t.Fatal(err)
		}
		_, err := Push(ctx, ref, chart, Options{DockerConfig: dir, CAFile: reg.CAFile, CertsDir: t.TempDir()})
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err %v, want ErrUnauthorized", err)
		}
		for _, want := range []string{reg.Host, reg.User, filepath.Join(dir, "config.json"), "docker login " + reg.Host} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), reg.Password) {
			t.Error("the error shows the password")
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		_, err := Push(ctx, ref, chart, Options{DockerConfig: t.TempDir(), CAFile: reg.CAFile, CertsDir: t.TempDir()})
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "holds none") {
			t.Fatalf("err %v, want ErrUnauthorized saying no credentials", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		_, err := Push(ctx, ref, chart, Options{DockerConfig: reg.DockerConfig, CertsDir: t.TempDir()})
		if !errors.Is(err, ErrPush) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err %v, want ErrPush about the certificate", err)
		}
	})
}
