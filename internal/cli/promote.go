package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// promoteOptions are the flags of `quai promote`.
type promoteOptions struct {
	// Project is a project directory, or the name of a project whose
	// source instance is installed (its recorded directory is used).
	Project string
	From    string
	To      string
	Org     string
	// Release is the source release; 0 means its active one.
	Release int
	Runtime string
	DryRun  bool
	Yes     bool
	NoWait  bool
	Allow   []string
}

func newPromoteCmd(g *globals) *cobra.Command {
	var o promoteOptions
	cmd := &cobra.Command{
		Use:   "promote [PROJECT] --from ENV --to ENV",
		Short: "Deploy the images a release of one environment ran to another environment",
		Long: `promote deploys to the target instance (PROJECT in the --to environment)
exactly the images a release of the source instance (the --from environment)
ran — by the image ids or registry digests the release recorded, never
rebuilt nor pulled by tag — with the target's own stack: its environment's
overlay, its organization's overlay, its configuration and secrets, loaded as
"quai up --env TO" would load them.

PROJECT is a project directory (default: the project around the current
directory, searched upwards like quai up) or the name
of a project whose source instance is installed, whose recorded directory is
then used.

The target's x-quai.promotion rules are checked first (which environments
may promote to it, how long the source must have been healthy...); a refusal
names each rule and how to satisfy it. The plan says, per service, the image
change, the configuration keys that change and the secrets by name, and is
confirmed when a terminal is attached (unless -y). The new release's cause
is "promoted from INSTANCE release N", as "quai releases" shows.

Promoting between runtimes (Docker to Kubernetes) needs registry digests
(x-quai.registry): an image id exists only on the engine that built it.`,
		Example: `  quai promote ./shop --from staging --to prod
  quai promote shop --from staging --to prod --org acme --release 12
  quai promote --from staging --to prod --dry-run --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Project = args[0]
			}
			return g.promote(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "", "environment whose release is promoted (required)")
	f.StringVar(&o.To, "to", "", "environment to deploy it to (required)")
	f.StringVar(&o.Org, "org", "", "organization of both instances (default \"default\")")
	f.IntVar(&o.Release, "release", 0, "source release to promote (default: its active release)")
	f.StringVar(&o.Runtime, "runtime", "", "runtime of a target not installed yet; an existing target keeps its own")
	f.BoolVar(&o.DryRun, "dry-run", false, "check the rules, print the plan and change nothing")
	f.BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	f.BoolVar(&o.NoWait, "no-wait", false, "fail at once when another operation runs on the target, instead of waiting for it")
	f.StringArrayVar(&o.Allow, "allow", nil, "deploy despite error findings of this lint rule in the target's stack (repeatable)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// promotePlan is what `quai promote --dry-run --json` prints.
type promotePlan struct {
	Instance string `json:"instance"`
	Source   string `json:"source"`
	// Release is the target release the promotion would create.
	Release     int      `json:"release"`
	Text        string   `json:"text"`
	Fingerprint string   `json:"fingerprint"`
	Warnings    []string `json:"warnings,omitempty"`
}

// promote checks and plans on the daemon (a dry run), shows the plan,
// confirms, then streams the promotion.
func (g *globals) promote(ctx context.Context, o promoteOptions) error {
	if o.From == o.To {
		return fmt.Errorf("--from and --to are both %s: promote between two environments", o.From)
	}
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	dir, err := promoteDir(ctx, c, o)
	if err != nil {
		return err
	}
	m, err := loadStack(ctx, "promote", stack.Options{Dir: dir, Env: o.To, Org: o.Org})
	if err != nil {
		return err
	}
	if err := lintGate(m, o.Allow); err != nil {
		return err
	}
	source := stack.Identity{Org: m.Identity.Org, Project: m.Identity.Project, Env: o.From}.Name()
	target := m.Identity.Name()
	payload, err := g.modelPayload(ctx, c, m)
	if err != nil {
		return err
	}
	opts := client.PromoteOptions{Source: source, Release: o.Release, Runtime: o.Runtime, NoWait: o.NoWait}

	plan := promotePlan{Instance: target, Source: source}
	dry := opts
	dry.DryRun = true
	if _, err := c.Promote(ctx, payload, target, dry, func(ev wire.Event) {
		switch ev.Kind {
		case wire.EventPlan:
			plan.Text, plan.Release = ev.Text, ev.Release
		case wire.EventWarning:
			plan.Warnings = append(plan.Warnings, ev.Message)
		}
	}); err != nil {
		return err
	}
	plan.Fingerprint = wire.Plan{Text: plan.Text}.Fingerprint()
	if o.DryRun && g.JSON {
		return g.printJSON(plan)
	}
	if !g.JSON {
		for _, w := range plan.Warnings {
			fprintf(g.stderr, "warning: %s\n", w)
		}
		fprint(g.stdout, ensureNewline(plan.Text))
	}
	if o.DryRun {
		return nil
	}
	if g.interactive() && !o.Yes {
		ok, err := g.confirm(fmt.Sprintf("Promote to %s?", target))
		if err != nil {
			return err
		}
		if !ok {
			return declined("canceled; nothing changed")
		}
		// The user agreed to this plan, not to whatever the daemon plans
		// by the time the answer comes.
		opts.Fingerprint = plan.Fingerprint
	}
	return g.deployAndShow(ctx, c, target, func(emit wire.Emitter) (wire.Event, error) {
		return c.Promote(ctx, payload, target, opts, g.skipShown(emit, plan.Warnings))
	})
}

// skipShown drops the plan and the warnings the dry run already showed.
func (g *globals) skipShown(emit wire.Emitter, warnings []string) wire.Emitter {
	if g.JSON {
		return emit
	}
	emit = g.skipPlan(emit)
	return func(ev wire.Event) {
		if ev.Kind != wire.EventWarning || !slices.Contains(warnings, ev.Message) {
			emit(ev)
		}
	}
}

// promoteDir is the project directory: PROJECT when it is a directory (or
// empty: the current one), else the directory recorded on the installed
// source instance of the project named PROJECT.
func promoteDir(ctx context.Context, c *client.Client, o promoteOptions) (string, error) {
	if o.Project == "" {
		// The project around the current directory, as for up.
		if dir, ok := findProject("."); ok {
			return dir, nil
		}
		return ".", nil
	}
	if fi, err := os.Stat(o.Project); err == nil && fi.IsDir() {
		return o.Project, nil
	}
	source := stack.Identity{Org: o.Org, Project: o.Project, Env: o.From}.Name()
	if c.Remote() != "" {
		return "", fmt.Errorf("%s is not a project directory here: with a remote daemon (%s) promote needs the project's folder on this machine, e.g. quai promote ./%s --from %s --to %s",
			o.Project, c.Remote(), o.Project, o.From, o.To)
	}
	st, err := c.Status(ctx, source)
	if errors.Is(err, client.ErrNotFound) {
		return "", fmt.Errorf("%s is neither a project directory nor a project with an installed %s instance (%s); pass the project directory, e.g. quai promote ./%s --from %s --to %s",
			o.Project, o.From, source, o.Project, o.From, o.To)
	}
	if err != nil {
		return "", err
	}
	return st.Dir, nil
}
