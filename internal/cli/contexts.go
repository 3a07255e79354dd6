package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// contextInfo is how a daemon context is shown: never with its token.
type contextInfo struct {
	Name        string    `json:"name"`
	Current     bool      `json:"current"`
	URL         string    `json:"url"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	User        string    `json:"user,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	HasToken    bool      `json:"has_token"`
}

func contextView(name string, rc *remoteContext, current bool) contextInfo {
	if rc == nil {
		return contextInfo{Name: defaultContext, Current: current, URL: "unix socket of the local daemon"}
	}
	return contextInfo{Name: name, Current: current, URL: rc.URL, Fingerprint: rc.Fingerprint, User: rc.User,
		Expires: rc.Expires, HasToken: rc.Token != ""}
}

func newContextCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context",
		Short: "List, choose and remove daemon contexts (the daemons quai login stored)",
		Long: `A daemon context is a quai daemon the CLI talks to: "default" is the local
daemon on its unix socket, the others are remote daemons stored by
` + "`quai login`" + `. The context in use is --context, else $QUAI_CONTEXT, else
the one ` + "`quai context use`" + ` chose. Tokens are never printed.`,
		Example: `  quai context ls
  quai context use staging
  QUAI_CONTEXT=prod quai ls
  quai context rm staging`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newContextLsCmd(g), newContextUseCmd(g), newContextRmCmd(g), newContextShowCmd(g))
	return cmd
}

func newContextLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Short:   "List the daemon contexts; * marks the one in use",
		Example: `  quai context ls` + "\n" + `  quai context ls --json`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cf, _, err := loadContexts()
			if err != nil {
				return err
			}
			inUse, _ := g.contextInUse(cf)
			list := []contextInfo{contextView(defaultContext, nil, inUse == defaultContext)}
			for _, n := range cf.names() {
				list = append(list, contextView(n, cf.Contexts[n], inUse == n))
			}
			if g.JSON {
				return g.printJSON(list)
			}
			tw := newTable(g.stdout)
			fprintln(tw, "NAME\tURL\tUSER\tFINGERPRINT\tEXPIRES")
			for _, c := range list {
				mark := " "
				if c.Current {
					mark = "*"
				}
				fp, exp := c.Fingerprint, ""
				if len(fp) > 23 {
					fp = fp[:23] + "…"
				}
				if !c.Expires.IsZero() {
					exp = c.Expires.Local().Format(time.DateTime)
				}
				fprintf(tw, "%s %s\t%s\t%s\t%s\t%s\n", mark, c.Name, c.URL, c.User, fp, exp)
			}
			return tw.Flush()
		},
	}
}

func newContextUseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "use NAME",
		Short:             "Make a daemon context the one in use (default: the local daemon)",
		Example:           `  quai context use staging` + "\n" + `  quai context use default`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContexts,
		RunE: func(_ *cobra.Command, args []string) error {
			cf, path, err := loadContexts()
			if err != nil {
				return err
			}
			name := args[0]
			if name == defaultContext {
				cf.Current = ""
			} else if _, ok := cf.Contexts[name]; !ok {
				return fmt.Errorf("no daemon context %q: `quai context ls` lists them", name)
			} else {
				cf.Current = name
			}
			if err := cf.save(path); err != nil {
				return err
			}
			fprintf(g.stdout, "now using context %q\n", name)
			return nil
		},
	}
}

func newContextRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "rm NAME...",
		Short:             "Remove daemon contexts and their tokens from this machine",
		Long:              "rm forgets contexts here; their tokens stay valid on the daemon until they expire or `quai token revoke` there.",
		Example:           `  quai context rm staging`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeContexts,
		RunE: func(_ *cobra.Command, args []string) error {
			cf, path, err := loadContexts()
			if err != nil {
				return err
			}
			for _, name := range args {
				if _, ok := cf.Contexts[name]; !ok {
					return fmt.Errorf("no daemon context %q: `quai context ls` lists them", name)
				}
				delete(cf.Contexts, name)
				if cf.Current == name {
					cf.Current = ""
				}
			}
			if err := cf.save(path); err != nil {
				return err
			}
			for _, name := range args {
				fprintf(g.stdout, "removed context %q\n", name)
			}
			return nil
		},
	}
}

func newContextShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "show [NAME]",
		Short:             "Show a daemon context (default the one in use) and whether its daemon answers",
		Example:           `  quai context show` + "\n" + `  quai context show staging --json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			cf, _, err := loadContexts()
			if err != nil {
				return err
			}
			inUse, _ := g.contextInUse(cf)
			name := inUse
			if len(args) == 1 {
				name = args[0]
			}
			var rc *remoteContext
			if name != defaultContext {
				var ok bool
				if rc, ok = cf.Contexts[name]; !ok {
					return fmt.Errorf("no daemon context %q: `quai context ls` lists them", name)
				}
			}
			v := contextView(name, rc, name == inUse)
			status := "not checked (local daemon)"
			if rc != nil {
				status = g.contextStatus(cmd.Context(), rc)
			}
			if g.JSON {
				return g.printJSON(struct {
					contextInfo
					Status string `json:"status"`
				}{v, status})
			}
			fprintf(g.stdout, "name:         %s\nin use:       %t\nurl:          %s\n", v.Name, v.Current, v.URL)
			if rc != nil {
				fp := v.Fingerprint
				if fp == "" {
					fp = "(none: the system's roots are trusted)"
				}
				fprintf(g.stdout, "fingerprint:  %s\nuser:         %s\ntoken:        stored (not shown)\n", fp, v.User)
				if !v.Expires.IsZero() {
					fprintf(g.stdout, "expires:      %s\n", v.Expires.Local().Format(time.DateTime))
				}
			}
			fprintf(g.stdout, "status:       %s\n", status)
			return nil
		},
	}
}

// contextStatus says whether rc's daemon answers and accepts its token.
func (g *globals) contextStatus(ctx context.Context, rc *remoteContext) string {
	c, err := rc.client()
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		return err.Error()
	}
	return "ok, quai " + info.Version
}

// completeContexts completes daemon context names.
func completeContexts(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	cf, _, err := loadContexts()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return append([]string{defaultContext}, cf.names()...), cobra.ShellCompDirectiveNoFileComp
}
