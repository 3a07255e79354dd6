package render

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v2"

	"github.com/quai-dev/quai/internal/goldentest"
	"github.com/quai-dev/quai/internal/render/helmtest"
	"github.com/quai-dev/quai/internal/stack"
)

// chartGolden is a chart as one text: each file after a "# file:" line.
func chartGolden(c *Chart) []byte {
	var b bytes.Buffer
	for _, f := range c.Files {
		fmt.Fprintf(&b, "# file: %s\n", f.Path)
		b.Write(f.Data)
		if !bytes.HasSuffix(f.Data, []byte("\n")) {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func TestHelmGolden(t *testing.T) {
	for _, c := range fixtureCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			m, err := loadCase(t, c)
			if err != nil {
				t.Skip("fixture does not load (TestGolden records why)")
			}
			chart, err := Helm(m, HelmOptions{})
			if err != nil {
				t.Fatalf("Helm: %v", err)
			}
			goldentest.Check(t, filepath.Join("testdata", "golden", c.fixture, c.org+"-"+c.env+".helm.txt"), chartGolden(chart))

			again, err := Helm(m, HelmOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(chartGolden(again), chartGolden(chart)) {
				t.Error("second chart rendering differs from the first")
			}
			pkg, err := chart.Package()
			if err != nil {
				t.Fatal(err)
			}
			pkg2, err := again.Package()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pkg, pkg2) {
				t.Error("second package differs from the first")
			}
			checkPackage(t, chart, pkg)

			// The templates, run by Go's template engine with the
			// default values and the one function they call, give
			// back the Kubernetes rendering (helm itself: TestHelmCLI).
			kube, err := chart.Manifests.YAML()
			if err != nil {
				t.Fatal(err)
			}
			helmtest.Equal(t, executeChart(t, chart, nil), kube)
		})
	}
}

// checkPackage reads the .tgz back: every file under "<name>/", in path
// order, with fixed times and modes.
func checkPackage(t *testing.T, c *Chart, pkg []byte) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(pkg))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.Equal(PackageModTime) && !zr.ModTime.IsZero() {
		t.Errorf("gzip header time %v", zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(PackageModTime) || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: time %v mode %o owner %d:%d", h.Name, h.ModTime, h.Mode, h.Uid, h.Gid)
		}
		data, _ := io.ReadAll(tr)
		i := slices.IndexFunc(c.Files, func(f ChartFile) bool { return c.Name+"/"+f.Path == h.Name })
		if i < 0 || !bytes.Equal(c.Files[i].Data, data) {
			t.Errorf("%s: not a chart file or different content", h.Name)
		}
		names = append(names, h.Name)
	}
	if len(names) != len(c.Files) || !slices.IsSorted(names) {
		t.Errorf("package entries %v: want the %d chart files in path order", names, len(c.Files))
	}
}

// executeChart runs the chart's templates with text/template and the
// values (values.yaml merged with set, top-level keys replaced), as helm
// would, and returns the objects as one stream.
func executeChart(t *testing.T, c *Chart, set map[string]any) []byte {
	t.Helper()
	values := map[string]any{}
	for _, f := range c.Files {
		if f.Path == "values.yaml" {
			// Helm reads values as JSON does: sigs.k8s.io/yaml.
			var v map[any]any
			if err := yaml.Unmarshal(f.Data, &v); err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(stringKeys(v))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &values); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, v := range set {
		values[k] = v
	}
	funcs := template.FuncMap{"toJson": func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}}
	var out bytes.Buffer
	for _, f := range c.Files {
		if !strings.HasPrefix(f.Path, "templates/") || !strings.HasSuffix(f.Path, ".yaml") {
			continue
		}
		tmpl, err := template.New(f.Path).Option("missingkey=error").Funcs(funcs).Parse(string(f.Data))
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		out.WriteString("---\n")
		if err := tmpl.Execute(&out, map[string]any{"Values": values}); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
	}
	return out.Bytes()
}

func stringKeys(v any) any {
	switch t := v.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, c := range t {
			m[fmt.Sprint(k)] = stringKeys(c)
		}
		return m
	case []any:
		for i := range t {
			t[i] = stringKeys(t[i])
		}
	}
	return v
}

func TestHelmEscapesTemplateText(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "page.html"), []byte("<p>{{ .Values.secret }} and {{{x}}}</p>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &stack.Model{
		Identity: stack.Identity{Project: "tpl", Env: "prod"}, Dir: dir,
		Services: []*stack.Service{{
			Name: "web", Image: "nginx:1.27", Replicas: 1,
			Environment: map[string]string{"GREETING": "{{ hello }}"},
			Mounts:      []stack.Mount{{Type: stack.MountBind, Source: filepath.Join(dir, "page.html"), Target: "/usr/share/nginx/html/index.html", ReadOnly: true}},
		}},
	}
	c, err := Helm(m, HelmOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kube, err := c.Manifests.YAML()
	if err != nil {
		t.Fatal(err)
	}
	helmtest.Equal(t, executeChart(t, c, nil), kube)
	if c.AppVersion != "1.27" || c.Version != DefaultChartVersion {
		t.Errorf("appVersion %q version %q, want 1.27 and %s", c.AppVersion, c.Version, DefaultChartVersion)
	}
}

func TestHelmVersions(t *testing.T) {
	tests := []struct {
		image, chartVersion, appVersion string
		wantVersion, wantApp            string
		wantErr                         bool
	}{
		{image: "ghcr.io/acme/tpl:v2.3.1", wantVersion: "2.3.1", wantApp: "v2.3.1"},
		{image: "ghcr.io/acme/tpl:2.3", wantVersion: DefaultChartVersion, wantApp: "2.3"},
		{image: "ghcr.io/acme/tpl:29.0.8-apache", wantVersion: DefaultChartVersion, wantApp: "29.0.8-apache"},
		{image: "ghcr.io/acme/tpl", wantVersion: DefaultChartVersion, wantApp: "latest"},
		{image: "reg.example:5000/tpl@sha256:" + strings.Repeat("ab", 32), wantVersion: DefaultChartVersion, wantApp: "sha256:" + strings.Repeat("ab", 32)},
		{image: "tpl:1.0.0", chartVersion: "v3.0.0-rc.1", appVersion: "custom", wantVersion: "3.0.0-rc.1", wantApp: "custom"},
		{image: "tpl:1.0.0", chartVersion: "3.0", wantErr: true},
	}
	for _, tc := range tests {
		m := &stack.Model{Identity: stack.Identity{Project: "tpl", Env: "prod"},
			Services: []*stack.Service{{Name: "db", Image: "postgres:16", Replicas: 1}, {Name: "web", Image: tc.image, Replicas: 1}}}
		c, err := Helm(m, HelmOptions{ChartVersion: tc.chartVersion, AppVersion: tc.appVersion})
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s %s: no error", tc.image, tc.chartVersion)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != tc.wantVersion || c.AppVersion != tc.wantApp {
			t.Errorf("%s: version %q appVersion %q, want %q %q", tc.image, c.Version, c.AppVersion, tc.wantVersion, tc.wantApp)
		}
	}
}

// helmCases are the instances the helm CLI checks: every fixture for prod
// (in each of its organizations) and the users-api example.
func helmCases(t *testing.T) map[string]stack.Options {
	cases := map[string]stack.Options{
		"example/users-api/prod": {Dir: "../../examples/users-api", Env: "prod", Environ: map[string]string{}},
	}
	for _, c := range fixtureCases(t) {
		cases[c.fixture+"/"+c.org+"-prod"] = stack.Options{Dir: filepath.Join(fixturesDir, c.fixture), Env: "prod", Org: c.org, Environ: map[string]string{}}
	}
	return cases
}

// TestHelmCLI proves the chart with the real helm v4: `helm lint` passes on
// the chart directory and on its package, and `helm template` prints the
// objects of the Kubernetes rendering, field for field; a value set on the
// command line changes what it reads.
func TestHelmCLI(t *testing.T) {
	h := helmtest.New(t)
	for name, opts := range helmCases(t) {
		t.Run(name, func(t *testing.T) {
			m, err := stack.Load(context.Background(), opts)
			if err != nil {
				t.Fatalf("does not load for prod: %v", err)
			}
			c, err := Helm(m, HelmOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), c.Name)
			for _, f := range c.Files {
				p := filepath.Join(dir, filepath.FromSlash(f.Path))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			pkg, err := c.Package()
			if err != nil {
				t.Fatal(err)
			}
			tgz := filepath.Join(t.TempDir(), c.PackageName())
			if err := os.WriteFile(tgz, pkg, 0o644); err != nil {
				t.Fatal(err)
			}
			kube, err := c.Manifests.YAML()
			if err != nil {
				t.Fatal(err)
			}
			for _, chart := range []string{dir, tgz} {
				if out, err := h.Run("lint", chart); err != nil {
					t.Fatalf("%v", err)
				} else if !bytes.Contains(out, []byte("0 chart(s) failed")) {
					t.Fatalf("helm lint %s:\n%s", chart, out)
				}
				out, err := h.Run("template", "r", chart)
				if err != nil {
					t.Fatal(err)
				}
				helmtest.Equal(t, out, kube)
			}

			// A values override reaches the objects.
			svc := m.Services[0]
			out, err := h.Run("template", "r", dir, "--set", "services."+svc.Name+".replicas=7", "--set", "namespace=other-ns")
			if err != nil {
				t.Fatal(err)
			}
			objs, err := helmtest.Objects(out)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, o := range objs {
				meta, _ := o["metadata"].(map[string]any)
				if ns, ok := meta["namespace"]; ok && ns != "other-ns" {
					t.Errorf("%s %s: namespace %v after --set namespace=other-ns", o["kind"], meta["name"], ns)
				}
				spec, _ := o["spec"].(map[string]any)
				if (o["kind"] == "Deployment" || o["kind"] == "StatefulSet") && meta["name"] == dns1035Label(svc.Name) {
					found = true
					if spec["replicas"] != 7 {
						t.Errorf("replicas %v after --set services.%s.replicas=7", spec["replicas"], svc.Name)
					}
				}
			}
			if !found {
				t.Errorf("no workload for service %s", svc.Name)
			}
		})
	}
}
