package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
)

// completionTimeout bounds how long a completion waits for the daemon: a
// shell waiting on a Tab must not hang.
const completionTimeout = 2 * time.Second

// completionClient is a client of a running daemon, for completions. It
// never starts one: pressing Tab must not spawn a daemon.
func (g *globals) completionClient() (*client.Client, context.Context, context.CancelFunc, bool) {
	if rc, _, err := g.remote(); err != nil {
		return nil, nil, nil, false
	} else if rc != nil {
		c, err := rc.client()
		if err != nil {
			return nil, nil, nil, false
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		return c, ctx, cancel, true
	}
	sock, err := g.socketPath()
	if err != nil {
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	return client.New(sock), ctx, cancel, true
}

// completeNames completes from what list returns, or nothing when the
// daemon cannot say.
func (g *globals) completeNames(list func(context.Context, *client.Client) ([]string, error)) ([]string, cobra.ShellCompDirective) {
	c, ctx, cancel, ok := g.completionClient()
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer cancel()
	defer c.Close()
	names, err := list(ctx, c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	slices.Sort(names)
	return slices.Compact(names), cobra.ShellCompDirectiveNoFileComp
}

// completeInstance completes an INSTANCE first argument and, for verbs
// that take one, a SERVICE second argument.
func (g *globals) completeInstance(withService bool) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch {
		case len(args) == 0:
			return g.completeNames(func(ctx context.Context, c *client.Client) ([]string, error) {
				list, err := c.Instances(ctx)
				names := make([]string, 0, len(list))
				for _, in := range list {
					names = append(names, in.Name)
				}
				return names, err
			})
		case len(args) == 1 && withService:
			return g.completeNames(func(ctx context.Context, c *client.Client) ([]string, error) {
				st, err := c.Status(ctx, args[0])
				names := make([]string, 0, len(st.Services))
				for _, s := range st.Services {
					names = append(names, s.Service)
				}
				return names, err
			})
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeReleases completes the release numbers of the instance in args[0].
func (g *globals) completeReleases(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeNames(func(ctx context.Context, c *client.Client) ([]string, error) {
		rels, err := c.Releases(ctx, args[0])
		names := make([]string, 0, len(rels))
		for _, r := range rels {
			names = append(names, strconv.Itoa(r.Number)+"\t"+string(r.Status)+" "+r.Cause)
		}
		return names, err
	})
}

// completeEnvs completes environment names: those of the project
// directory's overlays (envs/*.yaml) and those of installed instances.
func (g *globals) completeEnvs(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	dir := "."
	if len(args) > 0 && isDir(args[0]) {
		dir = args[0]
	}
	var local []string
	for _, ext := range []string{"*.yaml", "*.yml"} {
		files, _ := filepath.Glob(filepath.Join(dir, "envs", ext))
		for _, f := range files {
			local = append(local, strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".yaml"), ".yml"))
		}
	}
	names, directive := g.completeNames(func(ctx context.Context, c *client.Client) ([]string, error) {
		list, err := c.Instances(ctx)
		envs := slices.Clone(local)
		for _, in := range list {
			envs = append(envs, in.Identity.Env)
		}
		return envs, err
	})
	if names == nil {
		slices.Sort(local)
		names = slices.Compact(local)
	}
	return names, directive
}

// completeOrgs completes the organizations of installed instances.
func (g *globals) completeOrgs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return g.completeNames(func(ctx context.Context, c *client.Client) ([]string, error) {
		list, err := c.Instances(ctx)
		orgs := make([]string, 0, len(list))
		for _, in := range list {
			orgs = append(orgs, in.Identity.Org)
		}
		return orgs, err
	})
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// completeDirs completes a project directory argument.
func completeDirs(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// initCompletionCmd adds cobra's `completion` verb now rather than when it
// runs, so that the reference documents it, with examples.
func initCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = `  source <(quai completion bash)
  quai completion zsh > "${fpath[1]}/_quai"
  quai completion fish > ~/.config/fish/completions/quai.fish`
		for _, sh := range c.Commands() {
			sh.Example = completionExamples[sh.Name()]
		}
	}
}

// completionExamples is how each shell loads quai's completion.
var completionExamples = map[string]string{
	"bash": `  source <(quai completion bash)                       # this shell
  quai completion bash > /etc/bash_completion.d/quai   # every new shell`,
	"zsh":        `  quai completion zsh > "${fpath[1]}/_quai"   # then start a new shell`,
	"fish":       `  quai completion fish > ~/.config/fish/completions/quai.fish`,
	"powershell": `  quai completion powershell | Out-String | Invoke-Expression`,
}

// completeEverywhere gives every verb, those added by other files and
// packages too, the completions its arguments and flags call for: instance
// (and service) names for an INSTANCE (SERVICE) argument, environments for
// --env, organizations for --org, runtimes for --runtime. A verb's own
// completion is kept.
func (g *globals) completeEverywhere(root *cobra.Command) {
	flags := map[string]cobra.CompletionFunc{
		"env":     g.completeEnvs,
		"org":     g.completeOrgs,
		"runtime": cobra.FixedCompletions(runtimeNames, cobra.ShellCompDirectiveNoFileComp),
	}
	walk(root, func(c *cobra.Command) {
		if fields := strings.Fields(c.Use); c.ValidArgsFunction == nil && len(fields) > 1 && strings.Trim(fields[1], "[]") == "INSTANCE" {
			c.ValidArgsFunction = g.completeInstance(len(fields) > 2 && strings.Trim(fields[2], "[]") == "SERVICE")
		}
		for name, fn := range flags {
			if c.LocalFlags().Lookup(name) == nil {
				continue
			}
			if _, ok := c.GetFlagCompletionFunc(name); !ok {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
	})
}
