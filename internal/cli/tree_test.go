package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/serve"
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
	walk(cli.Command(serve.Command))
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
		if !strings.HasPrefix(c.Example, "  quai ") && !strings.HasPrefix(c.Example, "  source ") {
			t.Errorf("%s: its Example should start with \"  quai \", indented like every other verb's", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%s has no Short description", c.CommandPath())
		}
	}
}

// flagShape is what must agree between two flags of the same name.
type flagShape struct {
	shorthand, kind string
}

// shared are the flags spelled in flags.go; every verb that takes one
// must declare it there, so its help text is the same everywhere too.
var shared = map[string]bool{"env": true, "org": true, "runtime": true, "yes": true}

// TestFlagsAreConsistent: a flag name means one thing across verbs: the
// same shorthand (-e is --env everywhere, --env is -e everywhere), the same
// type, and for the flags every verb shares, the same help. A verb taking an
// INSTANCE completes it from the daemon.
func TestFlagsAreConsistent(t *testing.T) {
	byName := map[string]flagShape{}
	usage := map[string]string{}
	where := map[string]string{}
	byShort := map[string]string{}
	for _, c := range verbs(t) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			at := fmt.Sprintf("%s --%s", c.CommandPath(), f.Name)
			shape := flagShape{f.Shorthand, f.Value.Type()}
			if prev, ok := byName[f.Name]; ok && prev != shape {
				t.Errorf("%s is %+v but %s is %+v: one name, one meaning", at, shape, where[f.Name], prev)
			}
			if prev, ok := usage[f.Name]; ok && shared[f.Name] && prev != f.Usage {
				t.Errorf("%s's help differs from %s's: declare it with the helper in flags.go", at, where[f.Name])
			}
			if f.Shorthand != "" {
				if prev, ok := byShort[f.Shorthand]; ok && prev != f.Name {
					t.Errorf("%s: -%s is --%s elsewhere", at, f.Shorthand, prev)
				}
				byShort[f.Shorthand] = f.Name
			}
			if _, ok := byName[f.Name]; !ok {
				byName[f.Name], usage[f.Name], where[f.Name] = shape, f.Usage, at
			}
		})
		if strings.Contains(c.Use, "INSTANCE") && c.ValidArgsFunction == nil {
			t.Errorf("%s takes an INSTANCE but does not complete it: set ValidArgsFunction", c.CommandPath())
		}
	}
	if byName["env"].shorthand != "e" {
		t.Errorf("--env is not -e")
	}
}
