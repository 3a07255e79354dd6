package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/wire"
)

// unchangedValue stands for a value in the file `quai secrets edit` opens:
// values never leave the daemon, so the editor shows names only.
const unchangedValue = "<unchanged>"

func newSecretsEditCmd(g *globals) *cobra.Command {
	var o secretsFile
	cmd := &cobra.Command{
		Use:   "edit DIR --env ENV [--org ORG]",
		Short: "Add, change and remove sealed secrets in $EDITOR",
		Long: `edit opens the names of secrets/ENV.yaml (or with --org
orgs/ORG/secrets/ENV.yaml) in $EDITOR (else $VISUAL, else vi), one
"NAME: ` + unchangedValue + `" line each: values never leave the daemon, so
none is shown. Replace ` + unchangedValue + ` by a new value to change it,
delete a line to remove its secret, add "NAME: value" lines to add secrets;
save and quit, and the changes are sealed at once. An unchanged file changes
nothing.

The file is private (mode 0600 in a directory only you can enter), kept in
memory when the system allows (/dev/shm, else $XDG_RUNTIME_DIR), and removed
when the editor quits, on error and on interrupt.`,
		Example: `  quai secrets edit ./shop --env prod
  EDITOR=nano quai secrets edit ./shop --env prod --org acme`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			if err := o.check(); err != nil {
				return err
			}
			current, err := readSealedFile(o.path())
			if err != nil {
				return err
			}
			var names []string
			if current != nil {
				meta, err := sops.Inspect(current)
				if err != nil {
					return fmt.Errorf("%s: %w", o.rel(), err)
				}
				names = meta.Names
			}
			set, del, err := g.editNames(cmd.Context(), o.rel(), names)
			if err != nil {
				return err
			}
			if len(set) == 0 && len(del) == 0 {
				fprintf(g.stderr, "no change; %s was left as it is\n", o.rel())
				return nil
			}
			res, err := g.changeSealedFile(cmd.Context(), o, wire.SecretsFileRequest{Set: set, Delete: del})
			if err != nil {
				return err
			}
			var what []string
			if len(set) > 0 {
				what = append(what, "sealed "+strings.Join(slices.Sorted(maps.Keys(set)), ", "))
			}
			if len(del) > 0 {
				what = append(what, "removed "+strings.Join(del, ", "))
			}
			return g.printSealed(res, fmt.Sprintf("%s in %s", strings.Join(what, "; "), res.File))
		},
	}
	o.flags(cmd)
	return cmd
}

// editNames runs the editor on names and returns the values to set and the
// names to delete.
func (g *globals) editNames(ctx context.Context, rel string, names []string) (map[string]string, []string, error) {
	dir, err := privateTempDir()
	if err != nil {
		return nil, nil, err
	}
	// Removed whatever happens next; an interrupt (SIGINT, SIGTERM through
	// the verb's context, SIGHUP here) kills the editor and returns here.
	defer func() { _ = os.RemoveAll(dir) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		select {
		case <-hup:
			cancel()
		case <-ctx.Done():
		}
	}()

	path := filepath.Join(dir, filepath.Base(rel))
	if err := os.WriteFile(path, editTemplate(rel, names), 0o600); err != nil {
		return nil, nil, fmt.Errorf("write the file to edit: %w", err)
	}
	editor := cmp.Or(os.Getenv("EDITOR"), os.Getenv("VISUAL"), "vi")
	// Through the shell, as git does, so EDITOR may carry arguments; exec,
	// so an interrupt kills the editor itself, not a shell above it.
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "exec "+editor+` "$@"`, "sh", path) //nolint:gosec // EDITOR is the user's own command
	cmd.Stdin, cmd.Stdout, cmd.Stderr = g.stdin, g.stdout, g.stderr
	// What the editor started may hold its output open after it is killed.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("interrupted; nothing was sealed: %w", ctx.Err())
		}
		return nil, nil, fmt.Errorf("the editor (%s) failed: %w; nothing was sealed", editor, err)
	}
	edited, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read the edited file: %w", err)
	}
	return parseEdited(edited, names)
}

// privateTempDir makes a directory only the user can enter, in memory when
// the system has a memory-backed place for it.
func privateTempDir() (string, error) {
	var bases []string
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		bases = append(bases, "/dev/shm")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		bases = append(bases, d)
	}
	bases = append(bases, os.TempDir())
	var errs []error
	for _, b := range bases {
		// MkdirTemp makes it 0700, whatever the umask.
		dir, err := os.MkdirTemp(b, "quai-secrets-")
		if err == nil {
			return dir, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("create a private directory for the file to edit: %w", errors.Join(errs...))
}

func editTemplate(rel string, names []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# The secrets of %s. Values are never shown: each is %s.
# Change a value: replace %s by the new value (quote it if it holds
#   ": " or starts with a special character; use "|" for several lines).
# Remove a secret: delete its line. Add one: add a "NAME: value" line.
# Save and quit to seal the changes; an unchanged file changes nothing.
`, rel, unchangedValue, unchangedValue)
	for _, n := range names {
		fmt.Fprintf(&b, "%s: %s\n", n, unchangedValue)
	}
	return b.Bytes()
}

// parseEdited reads the edited file back: values to set, names (of names)
// to delete. Its errors name lines and names, never a value.
func parseEdited(data []byte, names []string) (map[string]string, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("the edited file is not YAML (%w); nothing was sealed: run edit again", err)
	}
	set := map[string]string{}
	seen := map[string]bool{}
	if len(doc.Content) > 0 {
		m := doc.Content[0]
		if m.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("line %d: the edited file must be NAME: value lines; nothing was sealed", m.Line)
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			name := k.Value
			if err := secrets.CheckName(name); err != nil {
				return nil, nil, fmt.Errorf("line %d: %w; nothing was sealed", k.Line, err)
			}
			if seen[name] {
				return nil, nil, fmt.Errorf("line %d: %s appears twice; nothing was sealed", k.Line, name)
			}
			seen[name] = true
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || v.Value == "" {
				return nil, nil, fmt.Errorf("line %d: %s needs a single text value (delete the line to remove it); nothing was sealed", k.Line, name)
			}
			switch {
			case v.Value != unchangedValue || v.Style != 0:
				set[name] = v.Value
			case !slices.Contains(names, name):
				return nil, nil, fmt.Errorf("line %d: %s is new: replace %s by its value; nothing was sealed", k.Line, name, unchangedValue)
			}
		}
	}
	var del []string
	for _, n := range names {
		if !seen[n] {
			del = append(del, n)
		}
	}
	return set, del, nil
}
