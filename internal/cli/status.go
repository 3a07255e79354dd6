package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newStatusCmd(g *globals) *cobra.Command {
	var p projectFlags
	cmd := &cobra.Command{
		Use:   "status [INSTANCE]",
		Short: "Show an instance's services, replicas, health, routes and release",
		Long: `status shows INSTANCE; without it, the instance the project around the
current directory deploys for -e/--env and --org (as quai up names it).`,
		Example: `  quai status                      # in a project folder: its dev instance
  quai status -e prod              # its prod instance
  quai status shop-prod --json | jq '.services[].ready'`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := resolveInstance(ctx, "status", firstArg(args), p)
			if err != nil {
				return err
			}
			return t.explain(show(ctx, g, func(c *client.Client) (wire.InstanceStatus, error) { return c.Status(ctx, t.Name) },
				func(st wire.InstanceStatus) error {
					printStatus(g, st, time.Now())
					return nil
				}))
		},
	}
	p.flags(cmd)
	return cmd
}

func printStatus(g *globals, st wire.InstanceStatus, now time.Time) {
	w := g.stdout
	fprintf(w, "%s  %s  release %d  runtime %s  updated %s\n", st.Name, st.State, st.Release, dash(st.Runtime), ago(st.Updated, now))
	if st.Dir != "" {
		fprintf(w, "project  %s\n", st.Dir)
	}
	if len(st.URLs) > 0 {
		fprintf(w, "urls     %s\n", strings.Join(st.URLs, "  "))
	}
	if st.Backup != nil {
		b, failing := backupSummary(st.Backup, now)
		if failing && st.Backup.Last != nil && st.Backup.Last.Error != "" {
			b += ": " + oneLine(st.Backup.Last.Error)
		}
		if st.Backup.Drill != nil && st.Backup.Drill.Error != "" && st.Backup.Drill.Status != wire.BackupDone {
			b += "; drill: " + oneLine(st.Backup.Drill.Error)
		}
		fprintln(w, red("backup   "+b, failing && isTerminal(w) && os.Getenv("NO_COLOR") == ""))
	}
	for _, c := range st.Certificates {
		line, failing := certLine(c, now)
		fprintln(w, red("tls      "+line, failing && isTerminal(w) && os.Getenv("NO_COLOR") == ""))
	}
	fprintln(w)
	// Runtimes with several machines (Kubernetes) say where each replica runs.
	withNode := false
	for _, s := range st.Services {
		for _, r := range s.Replicas {
			withNode = withNode || r.Node != ""
		}
	}
	tw := newTable(w)
	row := func(cols ...string) {
		if !withNode {
			cols = append(cols[:8], cols[9:]...)
		}
		fprintln(tw, strings.Join(cols, "\t"))
	}
	row("SERVICE", "READY", "REPLICA", "STATE", "HEALTH", "RESTARTS", "RELEASE", "ADDRESS", "NODE", "CPU", "MEM", "STARTED")
	for _, s := range st.Services {
		ready := fmt.Sprintf("%d/%d", s.Ready, s.Desired)
		if len(s.Replicas) == 0 {
			row(s.Service, ready, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-")
			continue
		}
		for i, r := range s.Replicas {
			svc, rd := s.Service, ready
			if i > 0 {
				svc, rd = "", ""
			}
			cpu := cpuText(r.Status)
			health := string(r.Status.Health)
			if r.Status.Message != "" && !r.Status.Healthy() {
				health += " (" + r.Status.Message + ")"
			}
			row(svc, rd, r.Replica, string(r.Status.State), dash(health), strconv.Itoa(r.Status.Restarts), strconv.Itoa(r.Release),
				dash(r.Address), dash(r.Node), cpu, bytesHuman(r.Status.MemoryBytes), ago(r.Status.Started, now))
		}
	}
	_ = tw.Flush()
}

// cpuText is a replica's CPU use with one decimal: "0.4%", "<0.1%" for a
// trace, "0.0%" for an idle replica whose runtime measures it (it reports
// its memory), "-" when the runtime does not say.
func cpuText(st wire.ReplicaStatus) string {
	switch p := st.CPUPercent; {
	case p >= 0.05:
		return fmt.Sprintf("%.1f%%", p)
	case p > 0:
		return "<0.1%"
	case st.MemoryBytes > 0:
		return "0.0%"
	}
	return "-"
}

// certLine is one certificate in a status report, and whether it needs the
// user: no certificate, or one that fails to renew.
func certLine(c wire.CertificateState, now time.Time) (string, bool) {
	line := c.Host + "  " + c.Source
	switch {
	case c.NotAfter.IsZero() && c.Error != "":
		return line + "  no certificate: " + strings.Join(strings.Fields(c.Error), " "), true
	case c.NotAfter.IsZero():
		return line + "  obtaining a certificate", false
	}
	left := c.NotAfter.Sub(now)
	expiry := "expires " + c.NotAfter.UTC().Format("2006-01-02")
	switch {
	case left <= 0:
		expiry = "expired " + c.NotAfter.UTC().Format("2006-01-02")
	case left < 48*time.Hour:
		expiry += fmt.Sprintf(" (in %dh)", int(left.Hours()))
	default:
		expiry += fmt.Sprintf(" (in %dd)", int(left.Hours()/24))
	}
	if c.Error != "" {
		return line + "  " + expiry + "; renewal failing: " + strings.Join(strings.Fields(c.Error), " "), true
	}
	return line + "  " + expiry, left <= 0
}
