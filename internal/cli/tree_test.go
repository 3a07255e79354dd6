package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/serve"
	"github.com/quai-dev/quai/internal/proxyd/proxycmd"
)

// verbs is every command of quai's tree, serve included, as Main runs it.
func verbs(t *testing.T) []*cobra.Command {
	t.Helper()
	var all []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.Command(serve.Command, proxycmd.Command))
	if len(all) < 15 {
		t.Fatalf("the tree has %d commands; the walk is broken", len(all))
	}
	return all
}

// TestEveryVerbHasExamples: `quai VERB --help` shows how it is used. A new
// verb without Example fails here.
func TestEveryVerbHasExamples(t *testing.T) {
	for _, c := range verbs(t) {
		if !c.Runnable() && !c.HasSubCommands() || c == c.Root() {
			continue
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example: add one or two command lines a user would type", c.CommandPath())
		}
		if !strings.HasPrefix(c.Example, "  ") || !strings.Contains(c.Example, "quai ") {
			t.Errorf("%s: its Example should be command lines running quai, indented two spaces like every other verb's", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%s has no Short description", c.CommandPath())
		}
	}
}

// flagShape is what must agree between two flags of the same name: the
// letter and whether it takes a value (a --env of one value and a --env
// given twice are the same flag to a user; a --env that is a switch is not).
type flagShape struct {
	shorthand  string
	takesValue bool
}

// TestFlagsAreConsistent: a flag name means one thing across verbs: the
// same shorthand (-e is --env everywhere, --env is -e everywhere) and a
// value or none. A verb taking an INSTANCE completes it from the daemon.
// flags.go declares the flags many verbs share, so that they agree.
func TestFlagsAreConsistent(t *testing.T) {
	byName := map[string]flagShape{}
	where := map[string]string{}
	byShort := map[string]string{}
	for _, c := range verbs(t) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			at := fmt.Sprintf("%s --%s", c.CommandPath(), f.Name)
			shape := flagShape{f.Shorthand, f.NoOptDefVal == ""}
			if prev, ok := byName[f.Name]; ok && prev != shape {
				t.Errorf("%s is %+v but %s is %+v: one name, one meaning", at, shape, where[f.Name], prev)
			}
			// quai loadtest takes its letters from h2load and curl, which its
			// users know: its -n is --requests, as -n is h2load's.
			if f.Shorthand != "" && (c.Name() != "loadtest" || f.Shorthand != "n") {
				if prev, ok := byShort[f.Shorthand]; ok && prev != f.Name {
					t.Errorf("%s: -%s is --%s elsewhere", at, f.Shorthand, prev)
				}
				byShort[f.Shorthand] = f.Name
			}
			if _, ok := byName[f.Name]; !ok {
				byName[f.Name], where[f.Name] = shape, at
			}
		})
		if strings.Contains(c.Use, "INSTANCE") && c.ValidArgsFunction == nil {
			t.Errorf("%s takes an INSTANCE but does not complete it: set ValidArgsFunction", c.CommandPath())
		}
	}
	for name, short := range map[string]string{"env": "e", "yes": "y", "org": "", "runtime": ""} {
		if byName[name].shorthand != short {
			t.Errorf("--%s's letter is %q, want %q", name, byName[name].shorthand, short)
		}
	}
}
