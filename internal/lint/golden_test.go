package lint

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/goldentest"
	"github.com/quai-dev/quai/internal/stack"
)

// fixturesDir holds the shared stack fixtures, one project per directory.
var fixturesDir = filepath.Join("..", "..", "testdata", "stacks")

// goldenTargets lists what each fixture is linted for: every environment,
// plus every organization overlay in the environments it has one for.
func goldenTargets(t *testing.T, dir string) []stack.Options {
	t.Helper()
	targets := []stack.Options{}
	for _, env := range []string{"dev", "staging", "prod"} {
		targets = append(targets, stack.Options{Dir: dir, Env: env})
	}
	orgs, err := os.ReadDir(filepath.Join(dir, "orgs"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, o := range orgs {
		if !o.IsDir() {
			continue
		}
		for _, env := range []string{"dev", "staging", "prod"} {
			if _, err := os.Stat(filepath.Join(dir, "orgs", o.Name(), env+".yaml")); err == nil {
				targets = append(targets, stack.Options{Dir: dir, Env: env, Org: o.Name()})
			}
		}
	}
	return targets
}

// TestGolden lints every fixture for every target and compares the text
// report with testdata/golden/<fixture>[-<org>]-<env>.txt; -update rewrites.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir(fixturesDir)
	if err != nil {
		t.Fatal(err)
	}
	var checked []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(fixturesDir, e.Name())
		for _, opts := range goldenTargets(t, dir) {
			name := e.Name()
			if opts.Org != "" {
				name += "-" + opts.Org
			}
			name += "-" + opts.Env
			path := filepath.Join("testdata", "golden", name+".txt")
			checked = append(checked, path)
			t.Run(name, func(t *testing.T) {
				// An empty environment: only the project's .env feeds
				// interpolation, so results do not depend on the shell.
				opts.Environ = map[string]string{}
				var got bytes.Buffer
				m, err := stack.Load(context.Background(), opts)
				if err != nil {
					got.WriteString("load error:\n" + err.Error() + "\n")
				} else {
					src, err := ReadSources(m)
					if err != nil {
						t.Fatal(err)
					}
					if err := WriteText(&got, Check(m, Options{Sources: src})); err != nil {
						t.Fatal(err)
					}
				}
				goldentest.Check(t, path, got.Bytes())
			})
		}
	}
	// A golden file whose fixture or target is gone is stale.
	goldentest.Stale(t, filepath.Join("testdata", "golden", "*.txt"), checked)
}

// TestGoldenFindingsAreReal spot-checks the fixtures' golden reports against
// what the fixtures are known to contain, so that an -update cannot silently
// bless a regression.
func TestGoldenFindingsAreReal(t *testing.T) {
	tests := []struct {
		golden string
		want   []string
		absent []string
	}{
		{"wordpress-prod.txt",
			[]string{"QL010 service \"wordpress\" uses image wordpress:latest", "QL014 service \"mysql\"", "QL021 database service \"mysql\"",
				"QL011 service \"mysql\" sets MYSQL_ROOT_PASSWORD from a variable with a literal default", "QL025 service \"wordpress\" depends on database \"mysql\""},
			[]string{"QL012 service \"wordpress\""}}, // suppressed in the fixture
		{"wordpress-dev.txt", []string{"QL015"}, []string{"QL011", "QL021"}},
		{"syncthing-prod.txt", []string{"QL017", "QL015"}, nil},
		{"users-api-dev.txt", []string{"QL015 service \"db\" publishes fixed host port 5432"}, []string{"QL014"}},
		{"django-prod.txt", nil, []string{"QL011", "QL013", "QL019"}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "golden", tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q:\n%s", tc.golden, w, b)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(string(b), a) {
					t.Errorf("%s has %q:\n%s", tc.golden, a, b)
				}
			}
		})
	}
}
