package cli

import (
	"github.com/spf13/cobra"
)

// Flags more than one verb takes are declared here, so that they are
// spelled, abbreviated and documented the same on every verb;
// TestFlagsAreConsistent holds every verb to it, and completeEverywhere
// completes them wherever they are declared.

// envFlag declares -e/--env: the environment, whose overlay envs/ENV.yaml
// is applied; "" is dev.
func envFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "env", "e", "", "environment: applies envs/ENV.yaml (default dev)")
}

// orgFlag declares --org: the organization, whose overlays orgs/ORG/ are
// applied; "" is the default organization.
func orgFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "org", "", "organization: applies orgs/ORG/common.yaml and orgs/ORG/ENV.yaml (default \"default\", no overlay)")
}

// runtimeFlag declares --runtime: the runtime of a new instance.
func runtimeFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "runtime", "", "runtime of a new instance: process (the default), docker or kubernetes; an existing instance keeps its own")
}

// runtimeNames are the runtimes a daemon may offer.
var runtimeNames = []string{"process", "docker", "kubernetes"}

// yesFlag declares -y/--yes: answer yes to every confirmation.
func yesFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVarP(p, "yes", "y", false, "do not ask for confirmation")
}

// dryRunFlag declares --dry-run with what this verb shows instead of doing.
func dryRunFlag(cmd *cobra.Command, p *bool, what string) {
	cmd.Flags().BoolVar(p, "dry-run", false, what)
}
