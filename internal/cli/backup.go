package cli

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

func newBackupCmd(g *globals) *cobra.Command {
	var p projectFlags
	cmd := &cobra.Command{
		Use:   "backup [INSTANCE] [SERVICE]",
		Short: "Back up an instance's data now, and manage its backups",
		Long: `backup snapshots the data of every service of INSTANCE that declares
x-quai.backup (or of SERVICE) into the organization's repository: database
dumps streamed from beside the database, volume and file snapshots. Snapshots
are deduplicated, compressed and encrypted. Progress shows bytes, files, rate
and the time left.

The daemon also runs backups on the stack's schedules, prunes them by the
stack's retention, and drills them weekly. A failed or missed backup and a
failed verify or drill is an error event and shows in red in quai ls and
quai status.

In a project folder INSTANCE may be left out: the instance is the one the
project deploys for -e/--env and --org, and a single argument naming one of
its services is that service.

Exit status: 0 when every snapshot was taken, 1 when any failed.`,
		Example: `  quai backup shop-prod              back up every service with x-quai.backup
  quai backup shop-prod db           back up one service
  quai backup ls shop-prod           list its snapshots
  quai restore shop-prod --snapshot 4f2a9c db
  quai backup drill shop-prod        prove the newest snapshots restore
  quai backup -e prod db             in a project folder: db of its prod instance`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, service, err := resolveInstanceService(ctx, "backup", args, p)
			if err != nil {
				return err
			}
			return t.explain(g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Backup(ctx, t.Name, service, emit)
			}))
		},
	}
	p.flags(cmd)
	cmd.AddCommand(newBackupLsCmd(g), newBackupVerifyCmd(g), newBackupPruneCmd(g), newBackupDrillCmd(g),
		newBackupKeyCmd(g), newBackupTargetCmd(g), newBackupSystemCmd(g))
	return cmd
}

func newBackupLsCmd(g *globals) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "ls [INSTANCE]",
		Short: "List snapshots (and drills) of an instance, or of every instance",
		Long: `ls lists backup runs newest first: snapshot id, service, kind, size, the
bytes it added to the repository after deduplication, duration, status and
when a verify last re-read it. Failed runs show in red, with their error.
The last drills follow.

--org lists what the organization's repository holds instead, whether this
daemon took the snapshots or not: on a new host, after quai backup key
import and quai backup target set, it finds the old host's snapshots.`,
		Example: `  quai backup ls shop-prod
  quai backup ls --json | jq '.runs[] | select(.status != "done")'
  quai backup ls --org acme`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			instance := ""
			if len(args) == 1 {
				instance = args[0]
			}
			get := func(c *client.Client) (wire.BackupList, error) { return c.Backups(ctx, instance) }
			if org != "" {
				if instance != "" {
					return errors.New("give an instance or --org, not both")
				}
				get = func(c *client.Client) (wire.BackupList, error) { return c.RepositorySnapshots(ctx, org) }
			}
			return show(ctx, g, get, func(l wire.BackupList) error { return g.printBackups(l, instance == "", time.Now()) })
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "list the snapshots in this organization's repository")
	return cmd
}

func (g *globals) printBackups(l wire.BackupList, withInstance bool, now time.Time) error {
	if len(l.Runs) == 0 && len(l.Drills) == 0 {
		fprintln(g.stdout, "no backups yet; take one with: quai backup INSTANCE")
		return nil
	}
	header := []string{"SNAPSHOT", "SERVICE", "KIND", "SIZE", "ADDED", "DURATION", "STATUS", "VERIFIED", "STARTED", "ERROR"}
	if withInstance {
		header = append([]string{"INSTANCE"}, header...)
	}
	rows := [][]string{header}
	bad := []bool{false}
	for _, r := range l.Runs {
		status := r.Status
		if r.Trigger != "" && r.Trigger != wire.TriggerManual {
			status += " (" + r.Trigger + ")"
		}
		verified := ago(r.Verified, now)
		if r.VerifyError != "" {
			verified = "FAILED"
		}
		row := []string{dash(r.Snapshot), r.Service, r.Kind, bytesHuman(r.Bytes), bytesHuman(r.Added),
			r.Duration.Round(time.Millisecond).String(), status, verified, ago(r.Started, now), dash(firstNonEmpty(r.Error, r.VerifyError))}
		if withInstance {
			row = append([]string{r.Instance}, row...)
		}
		rows = append(rows, row)
		bad = append(bad, r.Status == wire.BackupFailed || r.Status == wire.BackupInterrupted || r.VerifyError != "")
	}
	g.writeRows(rows, bad)
	if len(l.Drills) > 0 {
		fprintln(g.stdout)
		rows, bad = [][]string{{"DRILL", "INSTANCE", "STATUS", "STARTED", "TOOK", "ERROR"}}, []bool{false}
		for _, d := range l.Drills {
			took := "-"
			if !d.Finished.IsZero() {
				took = d.Finished.Sub(d.Started).Round(time.Millisecond).String()
			}
			rows = append(rows, []string{fmt.Sprint(d.ID), d.Instance, d.Status, ago(d.Started, now), took, dash(oneLine(d.Error))})
			bad = append(bad, d.Status != wire.BackupDone && d.Status != wire.BackupRunning)
		}
		g.writeRows(rows, bad)
	}
	return nil
}

// writeRows prints an aligned table whose rows flagged bad are red on a
// terminal (NO_COLOR turns colour off).
func (g *globals) writeRows(rows [][]string, bad []bool) {
	var buf bytes.Buffer
	tw := newTable(&buf)
	for _, r := range rows {
		fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
	color := isTerminal(g.stdout) && os.Getenv("NO_COLOR") == ""
	for i, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		fprintln(g.stdout, red(line, color && i < len(bad) && bad[i]))
	}
}

// red wraps s in the terminal's red when on.
func red(s string, on bool) string {
	if !on {
		return s
	}
	return "\x1b[31m" + s + "\x1b[0m"
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

type verifyOptions struct {
	All     bool
	Percent float64
}

func newBackupVerifyCmd(g *globals) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify [INSTANCE]",
		Short: "Re-read snapshots from the repository and check their integrity",
		Long: `verify re-reads each service's newest snapshot (every snapshot with --all)
and checks every chunk against its authenticated hash, so damage in the
repository is found before a restore needs it. --percent re-reads a random
sample of the data. A failed verify is an error event and shows in
quai backup ls.`,
		Example: `  quai backup verify shop-prod
  quai backup verify --all
  quai backup verify shop-prod --percent 10`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req := wire.VerifyRequest{All: o.All, Percent: o.Percent}
			if len(args) == 1 {
				req.Instance = args[0]
			}
			return g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.VerifyBackups(ctx, req, emit)
			})
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "verify every snapshot, not only each service's newest")
	cmd.Flags().Float64Var(&o.Percent, "percent", 0, "re-read this percentage of the data (default: all of it)")
	return cmd
}

func newBackupPruneCmd(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune [INSTANCE]",
		Short: "Delete snapshots the stack's retention no longer keeps",
		Long: `prune applies each service's x-quai.backup.retention (keep_last, keep_daily,
keep_weekly, keep_monthly) to its snapshots. Scheduled backups prune after
each run. Snapshots of removed instances are never pruned.`,
		Example: `  quai backup prune shop-prod --dry-run
  quai backup prune`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			instance := ""
			if len(args) == 1 {
				instance = args[0]
			}
			return g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.PruneBackups(ctx, instance, dryRun, emit)
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted and delete nothing")
	return cmd
}

func newBackupDrillCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "drill INSTANCE",
		Short: "Prove the newest snapshots restore: restore them into a throw-away copy and check it",
		Long: `drill installs a throw-away copy of INSTANCE on the same runtime (its
environment is drill-<random>, without routes), restores each backed-up
service's newest snapshot into it, checks that each database answers with
the row counts and each volume with the file hashes recorded at backup time,
starts the application on the restored data and waits for its health checks,
then removes the copy with its volumes. The result is recorded and shown in
quai backup ls and quai status. The daemon drills weekly by itself.

Exit status: 0 when the drill passed, 1 when it failed.`,
		Example: `  quai backup drill shop-prod`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.operate(ctx, func(c *client.Client, emit wire.Emitter) (wire.Event, error) {
				return c.Drill(ctx, args[0], emit)
			})
		},
	}
}

func newBackupKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Export or import the repository password of an organization",
		Example: `  quai backup key export --org acme -o acme-backup.key
  quai backup key import --org acme acme-backup.key`,
	}
	var org, out string
	export := &cobra.Command{
		Use:   "export",
		Short: "Print or save the repository password, to restore on another host",
		Long: `export prints (or writes to --output, mode 0600) the password that encrypts the
organization's backup repository, with the repository's target. With both,
a new host restores from an S3 repository after this one is lost. Anyone who
holds the password and can read the repository can read every backup: keep
it offline, e.g. in a password manager or a safe, never beside the backups.`,
		Example: `  quai backup key export --org acme --output acme-backup.key
  quai backup key export --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return g.withClient(ctx, func(c *client.Client) error {
				k, err := c.BackupKey(ctx, cmp.Or(org, "default"))
				if err != nil {
					return err
				}
				fprintln(g.stderr, "warning: this password decrypts every backup of org "+k.Org+"; store it offline, away from the backups")
				if out != "" {
					b := fmt.Sprintf("org: %s\ntarget: %s\npassword: %s\n", k.Org, k.Target, k.Password)
					if err := os.WriteFile(out, []byte(b), 0o600); err != nil {
						return fmt.Errorf("write %s: %w", out, err)
					}
					fprintln(g.stdout, "wrote "+out)
					return nil
				}
				if g.JSON {
					return g.printJSON(k)
				}
				fprintf(g.stdout, "org:      %s\ntarget:   %s\npassword: %s\n", k.Org, k.Target, k.Password)
				return nil
			})
		},
	}
	export.Flags().StringVar(&org, "org", "", "organization (default \"default\")")
	export.Flags().StringVarP(&out, "output", "o", "", "write to this file (mode 0600) instead of printing")
	var replace bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Give this daemon a repository password exported from another host",
		Long: `import reads a file written by quai backup key export (or "-" for stdin) and
records its password, sealed, for the organization, so this daemon opens the
repository the other host wrote. Point the organization at that repository
with quai backup target set, then list its snapshots with quai backup ls or
install from one with quai up --from-backup. A different password this host
already holds is kept unless --replace.`,
		Example: `  quai backup key import --org acme acme-backup.key
  quai backup target set --org acme s3://backups/acme?endpoint=s3.example.com
  quai up ./shop --org acme --env prod --from-backup 4f2a9c`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var b []byte
			var err error
			if args[0] == "-" {
				b, err = io.ReadAll(io.LimitReader(g.stdin, 64<<10))
			} else {
				b, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("read the exported key: %w", err)
			}
			pw := ""
			for line := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "password:"); ok {
					pw = strings.TrimSpace(v)
				}
			}
			if pw == "" {
				return fmt.Errorf("%s holds no \"password:\" line; use the file quai backup key export --output wrote", args[0])
			}
			o := cmp.Or(org, "default")
			return g.withClient(ctx, func(c *client.Client) error {
				if err := c.ImportBackupKey(ctx, o, wire.BackupKeyImport{Password: pw, Replace: replace}); err != nil {
					return err
				}
				fprintf(g.stdout, "imported the backup password of org %s; point it at the repository with: quai backup target set --org %s URL\n", o, o)
				return nil
			})
		},
	}
	imp.Flags().StringVar(&org, "org", "", "organization (default \"default\")")
	imp.Flags().BoolVar(&replace, "replace", false, "replace a different password this host holds (its snapshots become unreadable)")
	cmd.AddCommand(export, imp)
	return cmd
}

func newBackupTargetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Show or set where an organization's backup repository lives",
		Example: `  quai backup target show --org acme
  quai backup target set --org acme s3://backups/acme?endpoint=s3.example.com`,
	}
	var org string
	showCmd := &cobra.Command{
		Use:     "show",
		Short:   "Show the repository target of an organization",
		Example: `  quai backup target show --org acme`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.BackupTarget, error) { return c.BackupTarget(ctx, cmp.Or(org, "default")) },
				func(t wire.BackupTarget) error {
					fprintf(g.stdout, "org:    %s\ntarget: %s\n", t.Org, t.URL)
					return nil
				})
		},
	}
	var secretStdin bool
	set := &cobra.Command{
		Use:   "set URL",
		Short: "Set the repository target of an organization (a directory or S3)",
		Long: `set points the organization's backup repository at URL: file:///abs/dir,
or s3://bucket/prefix?endpoint=host:port&region=R&tls=true. S3 credentials
come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the secret key from
stdin with --secret-key-stdin; the daemon stores them sealed. Existing
snapshots stay in the old repository.`,
		Example: `  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... quai backup target set --org acme s3://backups/acme?endpoint=s3.example.com
  quai backup target set --org acme file:///srv/backups/acme`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t := wire.BackupTarget{Org: cmp.Or(org, "default"), URL: args[0]}
			if strings.HasPrefix(t.URL, "s3://") {
				t.AccessKey, t.SecretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
				if secretStdin {
					b, err := io.ReadAll(io.LimitReader(g.stdin, 4096))
					if err != nil {
						return fmt.Errorf("read the secret key from stdin: %w", err)
					}
					t.SecretKey = strings.TrimSpace(string(b))
				}
				if t.AccessKey == "" || t.SecretKey == "" {
					return errors.New("an S3 target needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or --secret-key-stdin)")
				}
			}
			return g.withClient(ctx, func(c *client.Client) error {
				if err := c.SetBackupTarget(ctx, t); err != nil {
					return err
				}
				fprintf(g.stdout, "backups of org %s go to %s\n", t.Org, t.URL)
				return nil
			})
		},
	}
	set.Flags().BoolVar(&secretStdin, "secret-key-stdin", false, "read the S3 secret key from stdin")
	cmd.PersistentFlags().StringVar(&org, "org", "", "organization (default \"default\")")
	cmd.AddCommand(showCmd, set)
	return cmd
}

func newBackupSystemCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "system",
		Short: "Copy quai's own state (the store and the sealed keys) to a directory",
		Long: `system writes a consistent copy of the daemon's store (taken while it runs)
and its sealed keys directory. With the master key it is everything needed
to bring the control plane back; keep it as safe as the keys themselves.`,
		Example: `  quai backup system --dir /srv/quai-state-$(date +%F)`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return show(ctx, g, func(c *client.Client) (wire.SystemBackup, error) { return c.SystemBackup(ctx, dir) },
				func(sb wire.SystemBackup) error {
					fprintf(g.stdout, "copied quai's state to %s:\n", sb.Dir)
					for _, f := range sb.Files {
						fprintln(g.stdout, "  "+f)
					}
					return nil
				})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write (default DATA_DIR/backups/system/<time>)")
	return cmd
}

type restoreOptions struct {
	Snapshot string
	Into     string
	Yes      bool
}

func newRestoreCmd(g *globals) *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore INSTANCE --snapshot ID [SERVICE]",
		Short: "Restore a service's data from a snapshot (or copy it into another instance)",
		Long: `restore replaces the data of the snapshot's service with the snapshot's.
It first takes a safety snapshot of the data it replaces (nothing changes
when that fails), restores beside the running service, then restarts the
service (volume and file data) and what depends on it on the restored data.
Writes made during the restore are lost; the safety snapshot holds the state
before, and the command prints how to go back to it.

--into copies the data into another installed instance (e.g. prod data into
staging); to install a new instance on a snapshot use quai up --from-backup.
restore asks for confirmation when a terminal is attached, otherwise needs -y.`,
		Example: `  quai restore shop-prod --snapshot 4f2a9c
  quai restore shop-prod --snapshot 4f2a9c db --into shop-staging -y
  quai up ./shop --env qa --from-backup 4f2a9c`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if o.Snapshot == "" {
				return errors.New("name the snapshot with --snapshot ID; `quai backup ls " + args[0] + "` lists them")
			}
			req := wire.RestoreRequest{Snapshot: o.Snapshot, Into: o.Into}
			if len(args) == 2 {
				req.Service = args[1]
			}
			target := cmp.Or(o.Into, args[0])
			if !o.Yes && !g.interactive() {
				return fmt.Errorf("restore replaces data of %s: pass -y to confirm when no terminal is attached", target)
			}
			return g.withClient(ctx, func(c *client.Client) error {
				if !o.Yes {
					if _, err := c.Status(ctx, target); err != nil {
						return err
					}
					ok, err := g.confirm(fmt.Sprintf("Replace the data of %s with snapshot %s? A safety snapshot is taken first.", target, o.Snapshot))
					if err != nil {
						return err
					}
					if !ok {
						return errors.New("canceled; nothing was restored")
					}
				}
				_, err := g.runOperation(func(emit wire.Emitter) (wire.Event, error) {
					return c.Restore(ctx, args[0], req, emit)
				})
				return err
			})
		},
	}
	cmd.Flags().StringVar(&o.Snapshot, "snapshot", "", "snapshot id (or a unique prefix) to restore")
	cmd.Flags().StringVar(&o.Into, "into", "", "restore into this installed instance instead")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// backupSummary is the backup column of quai ls and line of quai status,
// and whether it needs attention.
func backupSummary(st *wire.BackupState, now time.Time) (string, bool) {
	if st == nil {
		return "-", false
	}
	var parts []string
	switch {
	case st.Last == nil:
		parts = append(parts, "never")
	case st.Last.Status == wire.BackupDone:
		parts = append(parts, "ok "+ago(st.Last.Finished, now))
	default:
		parts = append(parts, st.Last.Status+" "+ago(st.Last.Started, now))
	}
	if len(st.Missed) > 0 {
		parts = append(parts, "missed: "+strings.Join(st.Missed, ","))
	}
	if n := len(st.VerifyFailed); n > 0 {
		parts = append(parts, fmt.Sprintf("verify FAILED: %d snapshot(s)", n))
	}
	if st.Drill != nil {
		word := "passed"
		if st.Drill.Status != wire.BackupDone {
			word = st.Drill.Status
		}
		parts = append(parts, "drill "+word+" "+ago(st.Drill.Started, now))
	}
	return strings.Join(parts, ", "), st.Failing()
}
