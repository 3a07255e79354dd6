package cli

import "github.com/spf13/cobra"

// commands lists every verb but those handed to Run; each lives in its own
// file.
func commands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newVersionCmd(g),
		newUpCmd(g),
		newInstallCmd(g),
		newLsCmd(g),
		newStatusCmd(g),
		newLogsCmd(g),
		newExecCmd(g),
		newReleasesCmd(g),
		newRollbackCmd(g),
		newPromoteCmd(g),
		newRestartCmd(g),
		newDownCmd(g),
		newStartCmd(g),
		newRmCmd(g),
		newLintCmd(g),
		newRenderCmd(g),
		newPublishCmd(g),
		newConfigCmd(g),
		newPruneCmd(g),
		newVolumesCmd(g),
		newSecretsCmd(g),
		newBackupCmd(g),
		newRestoreCmd(g),
		newAlertsCmd(g),
		newLoadtestCmd(g),
		newTopCmd(g),
		newMetricsCmd(g),
		newUserCmd(g),
		newTokenCmd(g),
		newOrgCmd(g),
		newAuditCmd(g),
		newHookCmd(g),
		newWhoAmICmd(g),
		newInfoCmd(g),
		newLoginCmd(g),
		newContextCmd(g),
		newCatalogCmd(g),
		newDashboardCmd(g),
	}
}
