// Package clidocs writes quai's command reference from its cobra tree: one
// Markdown page (docs/cli.md) and man pages. It is used by the docs tool
// (internal/clidocs/gen, `make docs` and `make man`) and by the test that
// keeps docs/cli.md current; the quai binary does not link it.
package clidocs

//go:generate go run ./gen -md ../../docs/cli.md

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/quai-dev/quai/internal/cli"
)

// Markdown writes the reference of every command under root, root first,
// as one page whose cross-references are anchors within it.
func Markdown(w io.Writer, root *cobra.Command) error {
	var b bytes.Buffer
	b.WriteString("# quai command reference\n\n")
	b.WriteString("<!-- Generated from the commands' help by `make docs` (go run ./internal/clidocs/gen); do not edit. -->\n\n")
	b.WriteString("Every verb also prints this with `quai VERB --help`. Shell completion: `quai completion --help`.\n\n")
	cmds := commands(root)
	for _, c := range cmds {
		fmt.Fprintf(&b, "%s- [%s](%s)\n", strings.Repeat("  ", depth(c)), c.CommandPath(), anchor(c.CommandPath()))
	}
	b.WriteString("- [Exit status](#exit-status)\n\n")
	for _, c := range cmds {
		c.DisableAutoGenTag = true
		c.Long = preformat(c.Long)
		if err := doc.GenMarkdownCustom(c, &b, func(file string) string {
			return anchor(strings.ReplaceAll(strings.TrimSuffix(file, ".md"), "_", " "))
		}); err != nil {
			return fmt.Errorf("reference of %s: %w", c.CommandPath(), err)
		}
	}
	b.WriteString("## Exit status\n\n")
	b.WriteString("Every verb exits with one of these codes. With `--json`, an error is also printed on stderr as\n")
	b.WriteString("`{\"error\": {\"code\": ..., \"message\": ..., \"hint\": ...}}`, with the code below (or the API's own).\n\n")
	b.WriteString("| exit | JSON error code | meaning |\n| --- | --- | --- |\n")
	for _, c := range cli.ExitCodes {
		code := "-"
		if len(c.ErrorCodes) > 0 {
			code = "`" + strings.Join(c.ErrorCodes, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| %d | %s | %s |\n", c.Code, code, c.Meaning)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// preformat fences the indented blocks of a help text (command lists,
// tables), which Markdown would otherwise run together into one paragraph.
func preformat(long string) string {
	lines := strings.Split(long, "\n")
	var out []string
	in := false
	for _, l := range lines {
		indented := strings.HasPrefix(l, "  ")
		switch {
		case indented && !in:
			out = append(out, "```")
			in = true
		case !indented && in && l != "":
			// Close before the blank lines that ended the block.
			n := len(out)
			for n > 0 && out[n-1] == "" {
				n--
			}
			out = append(out[:n], append([]string{"```"}, out[n:]...)...)
			in = false
		}
		out = append(out, l)
	}
	if in {
		out = append(out, "```")
	}
	return strings.Join(out, "\n")
}

// Man writes one man page per command into dir, which must exist.
func Man(dir string, root *cobra.Command, source string) error {
	for _, c := range commands(root) {
		c.DisableAutoGenTag = true
	}
	return doc.GenManTree(root, &doc.GenManHeader{Title: "QUAI", Section: "1", Source: source, Manual: "quai manual"}, dir)
}

// commands is root and every documented command below it, depth first in
// the order help lists them.
func commands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		out = append(out, commands(c)...)
	}
	return out
}

func depth(c *cobra.Command) int {
	n := 0
	for p := c.Parent(); p != nil; p = p.Parent() {
		n++
	}
	return n
}

// anchor is the Markdown anchor of the heading "## path".
func anchor(path string) string {
	return "#" + strings.ReplaceAll(strings.ToLower(path), " ", "-")
}

// ClearEnv unsets the QUAI_* variables that flags take their defaults
// from, so the reference shows the built-in defaults, not this machine's.
func ClearEnv() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "QUAI_") || k == "DOCKER_HOST" || k == "KUBECONFIG" {
			_ = os.Unsetenv(k)
		}
	}
}
