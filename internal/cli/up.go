package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/lint"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/version"
	"github.com/quai-dev/quai/internal/wire"
)

// upOptions are the flags of `quai up` and `quai install`.
type upOptions struct {
	Dir     string
	Env     string
	Org     string
	Runtime string
	DryRun  bool
	Yes     bool
	NoWait  bool
	// Allow lists the lint rules whose error findings may be deployed.
	Allow []string
	// FromBackup installs a new instance on the data of these snapshots.
	FromBackup []string
}

func (o *upOptions) flags(cmd *cobra.Command) {
	envFlag(cmd, &o.Env)
	orgFlag(cmd, &o.Org)
	runtimeFlag(cmd, &o.Runtime)
	dryRunFlag(cmd, &o.DryRun, "print the plan and change nothing")
	yesFlag(cmd, &o.Yes)
	f := cmd.Flags()
	f.BoolVar(&o.NoWait, "no-wait", false, "fail at once when another operation runs on the instance, instead of waiting for it")
	f.StringArrayVar(&o.Allow, "allow", nil, "deploy despite error findings of this lint rule, e.g. --allow QL033 (repeatable; recorded in the release)")
	f.StringArrayVar(&o.FromBackup, "from-backup", nil, "install a new instance holding the data of this snapshot (repeatable, one per service; `quai backup ls` lists them)")
}

func newUpCmd(g *globals) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up [DIR | INSTANCE]",
		Short: "Install or update an instance from a project directory",
		Long: `up loads the stack in DIR, shows what will change, asks for confirmation
when a terminal is attached (unless -y), then deploys and prints the
instance's URLs.

Without DIR it deploys the project around the current directory: the
nearest folder, from here upwards, holding compose.yaml (or compose.yml,
docker-compose.yml, docker-compose.yaml), as docker compose finds it. An
installed INSTANCE instead of DIR deploys that instance's project folder
again with its environment and organization.

A downed instance whose stack did not change starts its release again, as
quai start does, without a new release.`,
		Example: `  quai up                                 # the project around this directory, env dev
  quai up ./shop --env prod --org acme    # with envs/prod.yaml and orgs/acme/ overlays
  quai up ./shop -e staging --dry-run     # print the plan, change nothing
  quai up ./shop -e prod -y --runtime docker
  quai up shop-prod                       # the installed instance's project, env and org`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Dir = args[0]
			}
			return g.deploy(cmd.Context(), o, deployUp)
		},
	}
	o.flags(cmd)
	return cmd
}

type deployMode int

const (
	deployUp deployMode = iota
	deployInstall
)

func hasComposeFile(dir string) bool {
	for _, f := range stack.ComposeFileNames {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// deploy is `up` and `install`: load locally, plan on the daemon, confirm,
// stream the deploy, print the URLs.
func (g *globals) deploy(ctx context.Context, o upOptions, mode deployMode) error {
	var c *client.Client
	switch {
	case o.Dir == "":
		o.Dir = "."
		if dir, ok := findProject("."); ok {
			o.Dir = dir
		} else if g.interactive() {
			var err error
			if c, err = g.client(ctx); err != nil {
				return err
			}
			if err := g.pickProject(ctx, c, &o); err != nil {
				return err
			}
		}
	case !isDir(o.Dir):
		var err error
		if c, err = g.client(ctx); err != nil {
			return err
		}
		if err := instanceProject(ctx, c, &o); err != nil {
			return err
		}
	}
	m, err := loadStack(ctx, "up", stack.Options{Dir: o.Dir, Env: o.Env, Org: o.Org})
	if err != nil {
		return err
	}
	if err := lintGate(m, o.Allow); err != nil {
		return err
	}
	if c == nil {
		if c, err = g.client(ctx); err != nil {
			return err
		}
	}
	defer c.Close()
	name := m.Identity.Name()
	cause := "up"

	if mode == deployInstall && g.interactive() && !o.DryRun {
		if _, err := c.Status(ctx, name); err == nil {
			choice, err := g.askUntil(fmt.Sprintf("%s is already installed. [u]pdate it, [r]einstall it (remove, keeping data, then install), or [c]ancel? ", name),
				"please answer u, r or c", "nothing changed", func(s string) bool {
					return slices.Contains([]string{"u", "update", "r", "reinstall", "c", "cancel"}, strings.ToLower(s))
				})
			if err != nil {
				return err
			}
			switch strings.ToLower(choice) {
			case "u", "update":
				cause = "install (update)"
			case "r", "reinstall":
				if _, err := g.runOperation(func(emit wire.Emitter) (wire.Event, error) {
					return c.Remove(ctx, name, false, emit)
				}); err != nil {
					return err
				}
				cause = "reinstall"
				o.Yes = true
			default:
				return declined("canceled; nothing changed")
			}
		} else if !errors.Is(err, client.ErrNotFound) {
			return err
		} else {
			cause = "install"
		}
	}

	payload, err := g.modelPayload(ctx, c, m)
	if err != nil {
		return err
	}
	plan, err := c.Plan(ctx, payload, o.Runtime)
	if err != nil {
		return err
	}
	if o.DryRun || plan.Refused() {
		if g.JSON {
			if err := g.printJSON(plan); err != nil {
				return err
			}
		} else {
			fprint(g.stdout, ensureNewline(plan.Text))
		}
		return planRefusal(plan)
	}
	if !g.JSON {
		fprint(g.stdout, ensureNewline(plan.Text))
	}
	upOpts := client.UpOptions{Runtime: o.Runtime, NoWait: o.NoWait, Cause: cause}
	if g.interactive() && !o.Yes && !plan.Empty() {
		ok, err := g.confirm(fmt.Sprintf("Apply this plan to %s?", name))
		if err != nil {
			return err
		}
		if !ok {
			return declined("canceled; nothing changed")
		}
		// The user agreed to this plan, not to whatever the daemon plans
		// by the time the answer comes.
		upOpts.Fingerprint = plan.Fingerprint()
	}
	return g.deployAndShow(ctx, c, name, func(emit wire.Emitter) (wire.Event, error) {
		if len(o.FromBackup) > 0 {
			return c.Clone(ctx, payload, o.Runtime, o.FromBackup, g.skipPlan(emit))
		}
		return c.Up(ctx, payload, upOpts, g.skipPlan(emit))
	})
}

// deployAndShow runs a deploying operation (up, promote) on instance and
// prints where the instance answers afterwards.
func (g *globals) deployAndShow(ctx context.Context, c *client.Client, instance string, op func(wire.Emitter) (wire.Event, error)) error {
	if _, err := g.runOperation(op); err != nil {
		return err
	}
	if g.JSON {
		return nil
	}
	st, err := c.Status(ctx, instance)
	if err != nil {
		return err
	}
	printURLs(g, st.Instance)
	return nil
}

// lintGate refuses a stack with error findings of a rule the deployer did
// not allow, and records the allowed rules on the model, which the release
// keeps (and which the daemon reads for RuleHostPaths).
func lintGate(m *stack.Model, allow []string) error {
	for _, id := range allow {
		if _, ok := lint.Lookup(id); !ok {
			return usageErrorf("--allow %s: no such lint rule; quai lint --rules lists them", id)
		}
	}
	src, err := lint.ReadSources(m)
	if err != nil {
		src = nil // every value counts as a literal: more findings, never fewer
	}
	var refused []lint.Finding
	for _, f := range lint.Check(m, lint.Options{Sources: src}) {
		if f.Severity == lint.SeverityError && !slices.Contains(allow, f.Rule) {
			refused = append(refused, f)
		}
	}
	m.AllowedRules = slices.Compact(slices.Sorted(slices.Values(allow)))
	if len(refused) == 0 {
		return nil
	}
	var b strings.Builder
	if err := lint.Write(&b, lint.FormatText, lint.Report{Findings: refused, Dir: m.Dir, ToolVersion: version.Get().Version}); err != nil {
		return err
	}
	var flags []string
	for _, f := range refused {
		flags = append(flags, "--allow "+f.Rule)
	}
	return fmt.Errorf("%s has lint errors, so nothing was deployed:\n%s\nfix them, or deploy anyway with %s",
		m.Identity.Name(), strings.TrimRight(b.String(), "\n"), strings.Join(slices.Compact(slices.Sorted(slices.Values(flags))), " "))
}

// skipPlan drops the engine's plan event when the plan was already shown.
func (g *globals) skipPlan(emit wire.Emitter) wire.Emitter {
	if g.JSON {
		return emit
	}
	return func(ev wire.Event) {
		if ev.Kind != wire.EventPlan {
			emit(ev)
		}
	}
}

func printURLs(g *globals, in wire.Instance) {
	if len(in.URLs) == 0 {
		fprintf(g.stdout, "%s has no public routes\n", in.Name)
		return
	}
	fprintf(g.stdout, "%s is reachable at:\n", in.Name)
	for _, u := range in.URLs {
		fprintf(g.stdout, "  %s\n", u)
	}
}

// loadError keeps the loader's diagnostics (file:line: what, hint) and says
// where the stack was looked for.
// pickProject offers the project directories of the installed instances.
func (g *globals) pickProject(ctx context.Context, c *client.Client, o *upOptions) error {
	list, err := c.Instances(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return errors.New("no compose file in the current directory and no instance installed yet: pass the project directory, e.g. quai up ./myproject --env dev")
	}
	fprintln(g.stderr, "No compose file here. Known projects:")
	for i, in := range list {
		fprintf(g.stderr, "  %d) %-28s %s\n", i+1, in.Name, in.Dir)
	}
	var n int
	if _, err := g.askUntil(fmt.Sprintf("Deploy which? [1-%d] ", len(list)), fmt.Sprintf("please answer a number from 1 to %d", len(list)),
		"nothing deployed", func(s string) bool {
			var err error
			n, err = strconv.Atoi(s)
			return err == nil && n >= 1 && n <= len(list)
		}); err != nil {
		return err
	}
	in := list[n-1]
	o.Dir = in.Dir
	if o.Env == "" {
		o.Env = in.Identity.Env
	}
	if o.Org == "" && in.Identity.Org != stack.DefaultOrg {
		o.Org = in.Identity.Org
	}
	return nil
}

// instanceProject reads `up NAME` where NAME is no folder: the installed
// instance NAME's recorded project folder, environment and organization.
func instanceProject(ctx context.Context, c *client.Client, o *upOptions) error {
	st, err := c.Status(ctx, o.Dir)
	if errors.Is(err, client.ErrNotFound) {
		return &explainedError{
			msg: fmt.Sprintf("%s is neither a folder nor an installed instance (%s): pass the project folder, e.g. quai up ./myproject --env dev, or an instance quai ls lists",
				o.Dir, apiMessage(err)),
			err: err,
		}
	}
	if err != nil {
		return err
	}
	in := st.Instance
	if o.Env != "" && o.Env != in.Identity.Env || o.Org != "" && o.Org != in.Identity.Org {
		return usageErrorf("%s is the instance of env %s, org %s: drop -e/--env and --org, or pass its project folder (%s) to deploy another instance of it",
			in.Name, in.Identity.Env, in.Identity.Org, in.Dir)
	}
	if !isDir(in.Dir) {
		return fmt.Errorf("%s was deployed from %s, which is no folder any more: pass the project folder, e.g. quai up ./myproject -e %s", in.Name, in.Dir, in.Identity.Env)
	}
	o.Dir, o.Env = in.Dir, in.Identity.Env
	if in.Identity.Org != stack.DefaultOrg {
		o.Org = in.Identity.Org
	}
	return nil
}

func ensureNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// printJSON prints v indented, for --json.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// planRefusal is the error of a plan the daemon would refuse (the runtime
// cannot run a service, a route is another instance's), said before
// anything starts; nil for a plan that can run.
func planRefusal(p wire.Plan) error {
	if !p.Refused() {
		return nil
	}
	var why []string
	for _, f := range p.Findings {
		if f.Verdict == wire.VerdictRefuse {
			why = append(why, fmt.Sprintf("the %s runtime cannot run service %s (%s)", p.Runtime, f.Service, f.Setting))
		}
	}
	for _, c := range p.Conflicts {
		why = append(why, fmt.Sprintf("route %s is already served by instance %s", c.Route, c.Instance))
	}
	return withCode(ExitFailed, fmt.Errorf("%s: nothing was started: %s; the plan above says why and what to do", p.Instance, strings.Join(why, "; ")))
}
