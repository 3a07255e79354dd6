package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/wire"
)

func newSecretsKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "List, export, import and retire the daemon's age keys",
		Long: `key manages the daemon's age keys: one per (org, env), made on first use,
kept in DATA_DIR/keys sealed with the host's master key. A new generation
comes from ` + "`quai secrets rotate --new-key`" + `; older generations stay so what
they sealed still opens.

Export every key when it is made and keep the export apart from the host:
if the data directory is lost, the sealed files in the project open with
nothing else.`,
		Example: `  quai secrets key ls
  quai secrets key export -o quai-keys.age
  quai secrets key import quai-keys.age`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSecretsKeyLsCmd(g), newSecretsKeyExportCmd(g), newSecretsKeyImportCmd(g), newSecretsKeyRetireCmd(g))
	return cmd
}

type keyScope struct {
	Org string
	Env string
}

func (s *keyScope) flags(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&s.Org, "org", "", what+" of this org only")
	cmd.Flags().StringVarP(&s.Env, "env", "e", "", what+" of this environment only")
}

func newSecretsKeyLsCmd(g *globals) *cobra.Command {
	var o keyScope
	cmd := &cobra.Command{
		Use:   "ls [--org ORG] [--env ENV]",
		Short: "List the daemon's age keys: org, env, generation, public key",
		Long: `ls lists the daemon's age keys, newest generation first; CURRENT marks the
generation new seals use. Only public keys are shown.`,
		Example: `  quai secrets key ls
  quai secrets key ls --env prod --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			keys, err := c.SecretKeys(cmd.Context(), o.Org, o.Env)
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(keys)
			}
			if len(keys) == 0 {
				fprintln(g.stderr, "no age keys yet; `quai secrets set` makes the key of an org and env on first use")
				return nil
			}
			return printKeys(g.stdout, keys)
		},
	}
	o.flags(cmd, "keys")
	return cmd
}

func printKeys(w io.Writer, keys []wire.SecretKey) error {
	tw := newTable(w)
	fprintln(tw, "ORG\tENV\tGEN\tCURRENT\tCREATED\tRECIPIENT")
	now := time.Now()
	for _, k := range keys {
		cur := ""
		if k.Current {
			cur = "yes"
		}
		fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", k.Org, k.Env, k.Generation, dash(cur), ago(k.Created, now), k.Recipient)
	}
	return tw.Flush()
}

type keyExportOptions struct {
	keyScope
	Output         string
	PassphraseFile string
	Plain          bool
}

func newSecretsKeyExportCmd(g *globals) *cobra.Command {
	var o keyExportOptions
	cmd := &cobra.Command{
		Use:   "export [--org ORG] [--env ENV] [-o FILE]",
		Short: "Export age keys, encrypted with a passphrase, as a backup",
		Long: `export writes the daemon's age keys (every generation; all keys unless --org,
--env) as an age identity file encrypted with a passphrase (age's scrypt,
ASCII-armored): ` + "`age -d`" + ` opens it, ` + "`age -d -i FILE`" + ` and sops
(SOPS_AGE_KEY_FILE, once decrypted) use it, and ` + "`quai secrets key import`" + `
restores it on another host. The passphrase is asked on the terminal, or
read from the first line of --passphrase-file; never from the command line.

--plain writes the identity file unencrypted (to a file only, mode 0600):
for tools that cannot ask for a passphrase. Treat it as the secrets it opens.`,
		Example: `  quai secrets key export -o quai-keys.age
  quai secrets key export --org acme --env prod -o acme-prod.age --passphrase-file pass.txt
  quai secrets key export --env dev --plain -o dev-keys.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := wire.SecretsExportRequest{Org: o.Org, Env: o.Env}
			switch {
			case o.Plain && o.PassphraseFile != "":
				return usageErrorf("--plain writes no passphrase: drop --passphrase-file or --plain")
			case o.Plain && o.Output == "":
				return usageErrorf("--plain writes private keys in clear: give a file with -o, never a terminal or a pipe")
			case !o.Plain:
				pass, err := g.passphrase(o.PassphraseFile, true)
				if err != nil {
					return err
				}
				req.Passphrase = pass
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			exp, err := c.ExportSecretKeys(cmd.Context(), req)
			if err != nil {
				return err
			}
			if o.Output == "" {
				_, err := g.stdout.Write(exp.Data)
				return err
			}
			if err := fsutil.WriteFile(o.Output, exp.Data, 0o600); err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(exp.Keys)
			}
			fprintf(g.stdout, "exported %d key(s) to %s\n", len(exp.Keys), o.Output)
			return nil
		},
	}
	o.flags(cmd, "export the keys")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "write to this file (mode 0600) instead of stdout")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "read the passphrase from the first line of this file")
	cmd.Flags().BoolVar(&o.Plain, "plain", false, "write the keys unencrypted (needs -o)")
	return cmd
}

type keyImportOptions struct {
	keyScope
	PassphraseFile string
}

func newSecretsKeyImportCmd(g *globals) *cobra.Command {
	var o keyImportOptions
	cmd := &cobra.Command{
		Use:   "import [FILE] [--org ORG --env ENV]",
		Short: "Import age keys from an export or an age identity file",
		Long: `import gives the daemon the keys of FILE (stdin when FILE is - or absent):
a ` + "`quai secrets key export`" + `, encrypted or --plain, or any age identity file
(age-keygen's), whose keys then belong to --org and --env. A key keeps its
generation when it is free, else becomes the newest; a key the daemon holds
already is left alone. An encrypted export asks for its passphrase on the
terminal, or reads it from --passphrase-file.`,
		Example: `  quai secrets key import quai-keys.age
  quai secrets key import --passphrase-file pass.txt < quai-keys.age
  quai secrets key import key.txt --org acme --env prod`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			fromStdin := len(args) == 0 || args[0] == "-"
			if fromStdin {
				data, err = io.ReadAll(io.LimitReader(g.stdin, 16<<20))
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("read the keys: %w", err)
			}
			req := wire.SecretsImportRequest{Data: data, Org: o.Org, Env: o.Env}
			if encryptedBundle(data) {
				if fromStdin && o.PassphraseFile == "" {
					return usageErrorf("the keys on stdin are encrypted: give --passphrase-file, or the file as an argument to be asked for the passphrase")
				}
				if req.Passphrase, err = g.passphrase(o.PassphraseFile, false); err != nil {
					return err
				}
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.ImportSecretKeys(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(res)
			}
			fprintf(g.stdout, "imported %d key(s); %d already held\n", len(res.Imported), len(res.Present))
			if len(res.Imported) > 0 {
				return printKeys(g.stdout, res.Imported)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Org, "org", "", "the org of keys the file does not place (an age-keygen file)")
	cmd.Flags().StringVarP(&o.Env, "env", "e", "", "the environment of keys the file does not place")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "read the passphrase from the first line of this file")
	return cmd
}

// encryptedBundle says whether data is age-encrypted (armored or not).
func encryptedBundle(data []byte) bool {
	d := bytes.TrimLeft(data, " \t\r\n")
	return bytes.HasPrefix(d, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) || bytes.HasPrefix(d, []byte("age-encryption.org/"))
}

// passphrase reads a passphrase from the first line of file, else from a
// hidden prompt (asked twice when confirm).
func (g *globals) passphrase(file string, confirm bool) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read the passphrase: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return "", fmt.Errorf("%s: the passphrase (its first line) is empty", file)
		}
		return line, nil
	}
	if !isTerminal(g.stdin) {
		return "", usageErrorf("no terminal to ask for the passphrase: give --passphrase-file FILE")
	}
	p, err := g.readSecret("passphrase", confirm, false)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("the passphrase is empty")
	}
	return p, nil
}

type keyRetireOptions struct {
	keyScope
	Dir        string
	Generation int
}

func newSecretsKeyRetireCmd(g *globals) *cobra.Command {
	var o keyRetireOptions
	cmd := &cobra.Command{
		Use:   "retire DIR --org ORG --env ENV --generation N",
		Short: "Remove an old key generation that no sealed file of the project uses",
		Long: `retire removes generation N of the (org, env) key from the daemon for good,
once no sealed file of the project in DIR (secrets/*.yaml,
orgs/*/secrets/*.yaml) lists it: move them to the current generation with
` + "`quai secrets rotate`" + ` first. The current generation is never retired.
Export the keys first if older copies of the files (git history, backups)
may still need it.`,
		Example: `  quai secrets key retire ./shop --org default --env prod --generation 1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			if o.Org == "" || o.Env == "" || o.Generation < 1 {
				return usageErrorf("say which key: --org ORG --env ENV --generation N (`quai secrets key ls` lists them)")
			}
			if err := secrets.CheckScope(o.Org, o.Env); err != nil {
				return err
			}
			rels, err := projectSealedFiles(o.Dir, "", "")
			if err != nil {
				return err
			}
			req := wire.SecretsRetireRequest{Org: o.Org, Env: o.Env, Generation: o.Generation}
			for _, rel := range rels {
				b, err := os.ReadFile(filepath.Join(o.Dir, filepath.FromSlash(rel)))
				if err != nil {
					return err
				}
				req.Files = append(req.Files, wire.SealedFile{Path: rel, Sealed: b})
			}
			c, err := g.client(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			k, err := c.RetireSecretKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(k)
			}
			fprintf(g.stdout, "retired %s/%s#%d (%s); %d sealed file(s) checked\n", k.Org, k.Env, k.Generation, k.Recipient, len(rels))
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Org, "org", "", "the key's org")
	cmd.Flags().StringVarP(&o.Env, "env", "e", "", "the key's environment")
	cmd.Flags().IntVar(&o.Generation, "generation", 0, "the generation to retire")
	return cmd
}
