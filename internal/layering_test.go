package internal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rules is quai's layering, checked over the whole import graph rather than
// import by import: a package that may not use the engine may not use it
// through a third package either, since it would link it all the same.
//
// Patterns: "./internal/engine" is a package of this module and
// "./internal/runtime/..." that package and every one below it (as with go
// list); "*test" matches a path element ending in "test"; a path whose first
// element has a dot ("github.com/x/y/...") is a third-party package; "std" is
// the whole standard library and any other path ("testing") one of its
// packages.
//
// The rules hold the code that ships: what a package's non-test files import.
// A test may stand up a whole daemon around the package it tests (the CLI's
// tests do, through daemontest) without linking it into the binary. Test
// helper packages (runtimetest, dockertest, daemontest...) follow the rules
// of the tree they sit in, so a runtime's conformance suite links no more
// than the runtime itself; none needs an exception today.
var rules = []rule{
	{
		from: []string{"./internal/cli/..."},
		deny: []string{
			"./internal/runtime/...", "./internal/engine", "./internal/store",
			"./internal/proxy", "./internal/api", "./internal/daemon/...", "./internal/proxyd/...",
		},
		why: "the CLI talks to the daemon through internal/client and links no daemon code; " +
			"cmd/quai hands the serve verb its daemon (internal/daemon/serve) and the proxy verbs " +
			"their proxy process (internal/proxyd/proxycmd)",
	},
	{
		from: []string{"./internal/proxyd/..."},
		deny: []string{
			"./internal/engine", "./internal/store", "./internal/runtime/...", "./internal/api",
			"./internal/daemon/...", "./internal/cli/...", "./internal/client", "./internal/metrics",
			"k8s.io/...", "modernc.org/...",
		},
		why: "the proxy process holds the listeners and the route table and nothing else: " +
			"it knows addresses, not services, and links no engine, state, runtime or Kubernetes client",
	},
	{
		from: []string{"./internal/client"},
		only: []string{"std", "./internal/wire", "golang.org/x/..."},
		why: "the client (the CLI, tests, any remote client) speaks the API's wire types and " +
			"links nothing of the daemon: no engine, store, SQLite, certificates or logger; " +
			"a third-party module joins this list only if it is small and daemon-free",
	},
	{
		from: []string{"./internal/web"},
		only: []string{"std", "./internal/client", "./internal/wire", "golang.org/x/..."},
		why: "the dashboard is a client of the API: every page and action goes through the API " +
			"handler the daemon hands it (internal/client over an in-process transport), so the " +
			"API authorizes it; it links no engine, store, runtime or API code",
	},
	{
		from: []string{"./internal/loadtest"},
		only: []string{"std", "./internal/wire"},
		why: "the load tester is a library of its own: the CLI runs it and feeds it the instance " +
			"status it watches; it links no daemon code",
	},
	{
		from: []string{"./internal/auth"},
		only: []string{"std", "golang.org/x/..."},
		why: "the access policy (roles, rules, principals, token and password formats) is pure logic the API " +
			"imports to decide; keeping users and tokens in the store is internal/auth/accounts'",
	},
	{
		from: []string{"./internal/auth/accounts"},
		deny: []string{"./internal/cli/...", "./internal/client", "./internal/daemon/..."},
		why: "the accounts keep users, tokens, the audit log and hooks in the store and implement the API's " +
			"interfaces; the daemon wires them into the API",
	},
	{
		from: []string{"./internal/access"},
		only: []string{"std", "golang.org/x/..."},
		why: "the access-rule parsers are shared by the stack loader (which the CLI links) and " +
			"the proxy: a leaf with no quai or third-party imports beyond x/crypto",
	},
	{
		from: []string{"./internal/wire"},
		only: []string{"std"},
		why:  "the API's vocabulary is a leaf that both the API and its clients import",
	},
	{
		from: []string{"./internal/runtime/..."},
		deny: []string{
			"./internal/engine", "./internal/store", "./internal/proxy", "./internal/api",
			"./internal/daemon/...", "./internal/cli/...", "./internal/client",
		},
		why: "runtimes sit below the engine, the store and the API: they run what they are " +
			"told and know nothing of releases, routes or the daemon",
	},
	{
		from: []string{"./internal/alert"},
		deny: []string{
			"./internal/engine", "./internal/store", "./internal/proxy", "./internal/api",
			"./internal/daemon/...", "./internal/cli/...", "./internal/client",
			"./internal/runtime/process", "./internal/runtime/docker", "./internal/runtime/kube",
		},
		why: "alerting reads the engine, the runtimes, the proxy and the metrics through the small " +
			"interfaces it declares (InstanceSource, ReplicaWatcher, CertSource, MetricSource); the daemon wires them",
	},
	{
		from: []string{"./internal/upload"},
		only: []string{"std", "./internal/wire", "github.com/moby/patternmatcher/..."},
		why: "the CLI packs project folders and the daemon unpacks them with the same small " +
			"package: it links nothing of either side",
	},
	{
		from: []string{"./internal/apitls"},
		deny: []string{
			"./internal/engine", "./internal/store", "./internal/proxy", "./internal/api",
			"./internal/daemon/...", "./internal/cli/...", "./internal/client", "./internal/runtime/...",
		},
		why: "the network API's certificates are a leaf the daemon wires; the proxy's CA is its own",
	},
	{
		from: []string{"./internal/catalog"},
		deny: []string{
			"./internal/engine", "./internal/store", "./internal/proxy", "./internal/api",
			"./internal/daemon/...", "./internal/cli/...", "./internal/client", "./internal/runtime/...",
		},
		why: "the catalog reads and writes project folders; sealing their secrets and deploying them " +
			"is the CLI's and the daemon's work",
	},
	{
		from: []string{"./internal/render"},
		deny: []string{
			"./internal/engine", "./internal/store", "./internal/runtime/...", "./internal/proxy",
			"./internal/api", "./internal/daemon/...", "./internal/cli/...", "./internal/client",
			"./internal/registry/helmoci", "./internal/secrets/...",
		},
		why: "rendering (Kubernetes manifests, Compose files, Helm charts and their packages) is a " +
			"pure function of the model: it reads the stack and writes bytes; pushing a chart is " +
			"internal/registry/helmoci's",
	},
	{
		from: []string{"./internal/registry/helmoci"},
		only: []string{"std", "./internal/registry", "oras.land/...", "github.com/opencontainers/...", "golang.org/x/..."},
		why: "pushing a chart is registry transport: the Docker config's credentials and oras-go; " +
			"it links no daemon, engine or renderer (the CLI hands it the packaged bytes)",
	},
	{
		from:   []string{"./..."},
		except: []string{"./internal/stack/..."},
		deny:   []string{"github.com/compose-spec/compose-go/..."},
		direct: true,
		why: "only internal/stack loads stack files; everything else, tests included, " +
			"uses stack.Model (reaching compose-go through internal/stack is fine)",
	},
	{
		from:   []string{"./cmd/...", "./internal/..."},
		except: []string{"./internal/.../*test/..."},
		deny:   []string{"testing", "./.../*test/..."},
		// internal/loadtest is `quai loadtest`, not a test helper.
		allow: []string{"./internal/loadtest"},
		why:   "test helpers live in _test.go files and *test packages, never in the binary",
	},
}

// A rule says what the module's packages matching from (minus except) must
// not reach: any package matching deny (unless it matches allow), or, when
// only is set, any package matching none of only. A direct rule checks each package's own imports,
// its tests' included, instead of what it reaches.
type rule struct {
	from   []string
	except []string
	deny   []string
	allow  []string
	only   []string
	direct bool
	why    string
}

func TestLayering(t *testing.T) {
	g := loadGraph(t)
	for _, r := range rules {
		t.Run(strings.Join(r.from, "+"), func(t *testing.T) {
			subjects := g.subjects(r)
			if len(subjects) == 0 {
				t.Fatalf("no package matches %q: the rule checks nothing; fix its pattern", r.from)
			}
			var broken []string
			for _, s := range subjects {
				broken = append(broken, g.violations(r, s)...)
			}
			if len(broken) > 0 {
				t.Errorf("%s\nwhy: %s", strings.Join(broken, "\n"), r.why)
			}
		})
	}
}

// TestLayeringChecker runs the checker on a made-up graph, so a rule that
// finds nothing on the real one is known to be able to.
func TestLayeringChecker(t *testing.T) {
	g := &graph{module: "m", pkgs: map[string]*pkg{}}
	add := func(path string, imports ...string) {
		p := &pkg{ImportPath: path, Imports: imports}
		switch {
		case strings.HasPrefix(path, "m/"):
			p.Module = &module{Path: "m"}
			g.mine = append(g.mine, path)
		case !strings.Contains(path, "."):
			p.Standard = true
		}
		g.pkgs[path] = p
	}
	add("m/internal/cli", "fmt", "m/internal/long", "m/internal/client")
	add("m/internal/long", "m/internal/long2")
	add("m/internal/long2", "m/internal/engine")
	add("m/internal/client", "m/internal/engine", "example.com/big", "golang.org/x/term")
	add("m/internal/engine", "m/internal/store")
	add("m/internal/store")
	add("m/internal/cli/serve", "m/internal/engine")
	add("m/internal/stack", "example.com/yaml")
	add("m/internal/lint", "m/internal/stack")
	add("m/internal/lint/linttest", "m/internal/stack", "testing")
	add("m/internal/lint/linttest/app", "m/internal/lint/linttest")
	add("m/internal/render", "m/internal/lint/linttest")
	add("fmt")
	add("testing")
	add("example.com/big")
	add("example.com/yaml")
	add("golang.org/x/term")
	g.pkgs["m/internal/render"].XTestImports = []string{"example.com/yaml"}
	tests := []struct {
		name string
		r    rule
		want []string
	}{
		{
			name: "deny stops at the first forbidden package of the shortest chain",
			r: rule{
				from: []string{"./internal/cli/..."}, except: []string{"./internal/cli/serve"},
				deny: []string{"./internal/engine", "./internal/store"},
			},
			want: []string{"internal/cli must not reach internal/engine: internal/cli → internal/client → internal/engine"},
		},
		{
			name: "only",
			r:    rule{from: []string{"./internal/client"}, only: []string{"std", "./internal/store", "golang.org/x/..."}},
			want: []string{
				"internal/client must not reach internal/engine: internal/client → internal/engine",
				"internal/client must not reach example.com/big: internal/client → example.com/big",
			},
		},
		{
			name: "direct, tests included",
			r: rule{
				from: []string{"./..."}, except: []string{"./internal/stack/..."},
				deny: []string{"example.com/yaml"}, direct: true,
			},
			want: []string{"internal/render must not import example.com/yaml (in its tests)"},
		},
		{
			name: "test helpers",
			r: rule{
				from: []string{"./internal/..."}, except: []string{"./internal/.../*test/..."},
				deny: []string{"testing", "./.../*test/..."},
			},
			want: []string{"internal/render must not reach internal/lint/linttest: internal/render → internal/lint/linttest"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range g.subjects(tt.r) {
				got = append(got, g.violations(tt.r, s)...)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// pkg is what go list says of a package, as much as the rules need.
type pkg struct {
	ImportPath   string
	Standard     bool
	Module       *module
	Imports      []string
	TestImports  []string
	XTestImports []string
	Error        *struct{ Err string }
}

type module struct {
	Path string
	Main bool
}

type graph struct {
	module string          // the module's path
	pkgs   map[string]*pkg // by import path: the module's packages and all they reach
	mine   []string        // the module's packages, sorted
}

// loadGraph runs go list once, over the module the test sits in.
func loadGraph(t *testing.T) *graph {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps",
		"-json=ImportPath,Standard,Module,Imports,TestImports,XTestImports,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./... in %s: %v\n%s", root, err, stderr.Bytes())
	}
	g := &graph{pkgs: map[string]*pkg{}}
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		if p.Module != nil && p.Module.Main {
			g.module = p.Module.Path
			g.mine = append(g.mine, p.ImportPath)
		}
		g.pkgs[p.ImportPath] = &p
	}
	slices.Sort(g.mine)
	return g
}

// moduleRoot is the directory holding go.mod, at or above the test's.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the test's directory")
		}
		dir = parent
	}
}

func (g *graph) inModule(path string) bool {
	p := g.pkgs[path]
	return p != nil && p.Module != nil && p.Module.Path == g.module
}

// name is how a package is matched and printed: relative to the module for
// the module's packages, by import path for the others.
func (g *graph) name(path string) string {
	if g.inModule(path) {
		return strings.TrimPrefix(strings.TrimPrefix(path, g.module), "/")
	}
	return path
}

// matches reports whether the package at path matches pattern (see rules).
func (g *graph) matches(path, pattern string) bool {
	std := g.pkgs[path] != nil && g.pkgs[path].Standard
	first, _, _ := strings.Cut(pattern, "/")
	switch {
	case pattern == "std":
		return std
	case first == ".":
		return g.inModule(path) && matchElems(strings.Split(pattern, "/")[1:], strings.Split(g.name(path), "/"))
	case strings.Contains(first, "."):
		return !std && !g.inModule(path) && matchElems(strings.Split(pattern, "/"), strings.Split(path, "/"))
	default:
		return std && matchElems(strings.Split(pattern, "/"), strings.Split(path, "/"))
	}
}

// matchElems matches a path's elements against a pattern's: "..." stands for
// any number of elements (none included), the others are path.Match patterns.
func matchElems(pattern, name []string) bool {
	if len(pattern) == 0 {
		return len(name) == 0
	}
	if pattern[0] == "..." {
		for i := range len(name) + 1 {
			if matchElems(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, _ := path.Match(pattern[0], name[0])
	return ok && matchElems(pattern[1:], name[1:])
}

func (g *graph) matchesAny(path string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return g.matches(path, p) })
}

// subjects lists the module's packages r holds.
func (g *graph) subjects(r rule) []string {
	return slices.DeleteFunc(slices.Clone(g.mine), func(path string) bool {
		return !g.matchesAny(path, r.from) || g.matchesAny(path, r.except)
	})
}

// forbidden reports whether a package r holds must not reach path.
func (g *graph) forbidden(r rule, path string) bool {
	if r.only != nil {
		return !g.matchesAny(path, r.only)
	}
	return g.matchesAny(path, r.deny) && !g.matchesAny(path, r.allow)
}

// violations lists what subject reaches against r, each forbidden package
// with the shortest import chain to it. The search does not go on through a
// forbidden package, so each chain ends where the layering is first broken.
func (g *graph) violations(r rule, subject string) []string {
	if r.direct {
		var out []string
		p := g.pkgs[subject]
		for i, imports := range [][]string{p.Imports, slices.Concat(p.TestImports, p.XTestImports)} {
			for _, imp := range imports {
				if imp == subject || !g.forbidden(r, imp) {
					continue
				}
				line := fmt.Sprintf("%s must not import %s", g.name(subject), g.name(imp))
				if i == 1 {
					line += " (in its tests)"
				}
				if !slices.Contains(out, line) {
					out = append(out, line)
				}
			}
		}
		return out
	}
	var out []string
	prev := map[string]string{subject: ""}
	for queue := []string{subject}; len(queue) > 0; queue = queue[1:] {
		path := queue[0]
		if path != subject && g.forbidden(r, path) {
			var chain []string
			for p := path; p != ""; p = prev[p] {
				chain = append(chain, g.name(p))
			}
			slices.Reverse(chain)
			out = append(out, fmt.Sprintf("%s must not reach %s: %s",
				g.name(subject), g.name(path), strings.Join(chain, " → ")))
			continue
		}
		if p := g.pkgs[path]; p != nil && !p.Standard {
			for _, imp := range p.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = path
					queue = append(queue, imp)
				}
			}
		}
	}
	return out
}
