package render

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/goldentest"
	"github.com/quai-dev/quai/internal/stack"
)

// fixturesDir holds the example stacks shared by the loader, lint and render tests.
const fixturesDir = "../../testdata/stacks"

// projectPlaceholder replaces the absolute project directory in golden
// files, so they do not depend on where the repository is checked out.
const projectPlaceholder = "/PROJECT"

// instanceCase is one instance of one fixture.
type instanceCase struct {
	fixture, org, env string
}

func (c instanceCase) String() string { return c.fixture + "/" + c.org + "-" + c.env }

// fixtureCases lists every fixture with every environment it declares
// (envs/*.yaml, or "dev" when it has none), for the default organization
// and for each organization under orgs/.
func fixtureCases(t testing.TB) []instanceCase {
	t.Helper()
	entries, err := os.ReadDir(fixturesDir)
	if err != nil {
		t.Fatalf("read fixtures: %v", err)
	}
	var cases []instanceCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(fixturesDir, e.Name())
		envs := []string{}
		files, _ := filepath.Glob(filepath.Join(dir, "envs", "*.y*ml"))
		for _, f := range files {
			envs = append(envs, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".yaml"), ".yml"))
		}
		if len(envs) == 0 {
			envs = []string{stack.DefaultEnv}
		}
		slices.Sort(envs)
		envs = slices.Compact(envs)
		orgs := []string{stack.DefaultOrg}
		orgDirs, _ := os.ReadDir(filepath.Join(dir, "orgs"))
		for _, o := range orgDirs {
			if o.IsDir() {
				orgs = append(orgs, o.Name())
			}
		}
		for _, org := range orgs {
			for _, env := range envs {
				cases = append(cases, instanceCase{fixture: e.Name(), org: org, env: env})
			}
		}
	}
	if len(cases) == 0 {
		t.Fatal("no fixtures found")
	}
	return cases
}

func loadCase(t testing.TB, c instanceCase) (*stack.Model, error) {
	t.Helper()
	// An empty Environ keeps the developer's shell out of the rendering:
	// only the fixture's .env feeds interpolation.
	return stack.Load(context.Background(), stack.Options{
		Dir: filepath.Join(fixturesDir, c.fixture), Env: c.env, Org: c.org, Environ: map[string]string{},
	})
}

// kubeGolden is the Kubernetes golden text: the warnings and secret hints
// as comments, then the manifests.
func kubeGolden(ms *Manifests, stream []byte) []byte {
	var b bytes.Buffer
	for _, w := range ms.Warnings {
		fmt.Fprintf(&b, "# warning: %s\n", w)
	}
	for _, s := range ms.Secrets {
		fmt.Fprintf(&b, "# secret: %s\n", s.Command(ms.Namespace))
	}
	b.Write(stream)
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for _, c := range fixtureCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			base := filepath.Join("testdata", "golden", c.fixture, c.org+"-"+c.env)
			m, err := loadCase(t, c)
			if err != nil {
				// A fixture that does not load is recorded, not rendered.
				goldentest.Check(t, base+".load-error.txt", []byte(err.Error()+"\n"))
				return
			}

			ms, err := Kubernetes(m, KubeOptions{})
			if err != nil {
				t.Fatalf("Kubernetes: %v", err)
			}
			stream, err := ms.YAML()
			if err != nil {
				t.Fatal(err)
			}
			validateManifests(t, stream, externalClaims(m)...)
			goldentest.Check(t, base+".kubernetes.yaml", kubeGolden(ms, stream))

			again, err := Kubernetes(m, KubeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := again.YAML(); !bytes.Equal(b, stream) {
				t.Error("second Kubernetes rendering differs from the first")
			}

			compose, err := Compose(m)
			if err != nil {
				t.Fatalf("Compose: %v", err)
			}
			compose = bytes.ReplaceAll(compose, []byte(m.Dir), []byte(projectPlaceholder))
			goldentest.Check(t, base+".compose.yaml", compose)
		})
	}
}

func externalClaims(m *stack.Model) []string {
	var out []string
	for _, v := range m.Volumes {
		if v.External {
			out = append(out, dnsLabel(v.Name))
		}
	}
	return out
}
