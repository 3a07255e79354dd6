// Package catalogtest installs catalog entries into temporary folders for
// tests of other packages (the Kubernetes dry run, the Docker end-to-end
// tests). It links no daemon code.
package catalogtest

import (
	"context"
	"testing"

	"github.com/quai-dev/quai/internal/catalog"
	"github.com/quai-dev/quai/internal/stack"
)

// Builtin returns the built-in entries.
func Builtin(t testing.TB) []*catalog.Entry {
	t.Helper()
	es, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// Install writes e's project folder with its defaults (a required setting
// without one gets an example value) and host NAME.ORG.example, and loads
// it for env and org, as quai catalog install then quai up do (without
// sealing secrets: the model only names them).
func Install(t testing.TB, e *catalog.Entry, env, org string) (string, *stack.Model) {
	t.Helper()
	dir := t.TempDir()
	set := map[string]string{}
	for _, s := range e.Settings {
		if s.Required && s.Default == nil {
			set[s.Name] = e.DefaultEnviron()[s.Name]
		}
	}
	host := e.Name + "." + org + ".example"
	if _, err := e.Install(catalog.InstallOptions{Dir: dir, Set: set, Host: host}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RecordHost(dir, host); err != nil {
		t.Fatal(err)
	}
	m, err := stack.Load(context.Background(), stack.Options{Dir: dir, Env: env, Org: org, Environ: map[string]string{}})
	if err != nil {
		t.Fatalf("%s does not load for env %s: %v", e.Name, env, err)
	}
	return dir, m
}
