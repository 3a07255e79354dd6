package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// sealedFileMode is the mode of a sealed project file: it is safe to commit
// and to read, only the daemon's keys open it.
const sealedFileMode = 0o644

// sopsConfigName is the project's SOPS creation rules, which say who may
// open each sealed file, so that the sops CLI seals new files the same way.
const sopsConfigName = ".sops.yaml"

func newSecretsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Seal secret values into the project, per environment and organization",
		Long: `secrets manages a project's sealed values: secrets/ENV.yaml for every org of an
environment and orgs/ORG/secrets/ENV.yaml for one org (its names override the
base file's). They are SOPS files with age recipients, safe to commit: only
the daemon's age keys, one per (org, env), open them, and the public keys are
written to .sops.yaml so that anyone can seal new values with the sops CLI.

Values go in through a hidden prompt or stdin, never the command line, and
never come back out: no verb prints a value.`,
		Example: `  quai secrets set ./shop --env prod db_password
  echo -n "$TOKEN" | quai secrets set ./shop --env prod --org acme api_token
  quai secrets ls ./shop --env prod
  quai secrets diff ./shop --env staging --env prod
  quai secrets key export --org default --env prod -o prod-key.age`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSecretsSetCmd(g), newSecretsEditCmd(g), newSecretsLsCmd(g), newSecretsRmCmd(g),
		newSecretsDiffCmd(g), newSecretsRotateCmd(g), newSecretsKeyCmd(g))
	return cmd
}

// secretsFile names one sealed file of a project: the base file of Env, or
// Org's own when Org is set.
type secretsFile struct {
	Dir string
	Env string
	Org string
}

func (f *secretsFile) flags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.Env, "env", "e", "", "environment (required)")
	cmd.Flags().StringVar(&f.Org, "org", "", "the org's own file orgs/ORG/secrets/ENV.yaml instead of the base secrets/ENV.yaml")
}

func (f *secretsFile) check() error {
	if f.Env == "" {
		return usageErrorf("--env is required: which environment's secrets, e.g. --env prod")
	}
	return secrets.CheckScope(cmp.Or(f.Org, stack.DefaultOrg), f.Env)
}

func (f *secretsFile) rel() string  { return secrets.ProjectFile(f.Org, f.Env) }
func (f *secretsFile) path() string { return filepath.Join(f.Dir, filepath.FromSlash(f.rel())) }

// readSealedFile is a sealed file's content; nil when it does not exist.
func readSealedFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// changeSealedFile has the daemon change f as req says, then writes the
// file it returns and its rule in .sops.yaml, and tells the user to export
// any key the change created.
func (g *globals) changeSealedFile(ctx context.Context, f secretsFile, req wire.SecretsFileRequest) (wire.SecretsFile, error) {
	current, err := readSealedFile(f.path())
	if err != nil {
		return wire.SecretsFile{}, err
	}
	req.Org, req.Env, req.Sealed = f.Org, f.Env, current
	if len(current) == 0 {
		cfg, err := readSopsConfig(f.Dir)
		if err != nil {
			return wire.SecretsFile{}, err
		}
		req.Recipients = cfg.RecipientsFor(f.rel())
		if f.Org == "" {
			req.SealFor = []string{stack.DefaultOrg}
		}
	}
	c, err := g.client(ctx)
	if err != nil {
		return wire.SecretsFile{}, err
	}
	defer c.Close()
	res, err := c.SecretsFile(ctx, req)
	if err != nil {
		return wire.SecretsFile{}, err
	}
	// The key exists from now on, whether or not the file gets written.
	g.adviseExport(res.Advice)
	if err := os.MkdirAll(filepath.Dir(f.path()), 0o755); err != nil {
		return wire.SecretsFile{}, fmt.Errorf("create %s: %w", filepath.Dir(f.path()), err)
	}
	if err := fsutil.WriteFile(f.path(), res.Sealed, sealedFileMode); err != nil {
		return wire.SecretsFile{}, err
	}
	if err := writeSopsRule(f.Dir, res.File, res.Recipients); err != nil {
		return wire.SecretsFile{}, fmt.Errorf("%s was sealed, but %w", res.File, err)
	}
	return res, nil
}

func (g *globals) adviseExport(advice []string) {
	for _, a := range advice {
		fprintf(g.stderr, "IMPORTANT: %s\n", a)
	}
}

func readSopsConfig(dir string) (*sops.Config, error) {
	path := filepath.Join(dir, sopsConfigName)
	cfg, err := sops.ReadConfig(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// writeSopsRule records in .sops.yaml who may open the file rel.
func writeSopsRule(dir, rel string, recips []wire.SecretRecipient) error {
	cfg, err := readSopsConfig(dir)
	if err != nil {
		return err
	}
	age := make([]string, len(recips))
	for i, r := range recips {
		age[i] = r.Recipient
	}
	cfg.SetRule("^"+regexp.QuoteMeta(rel)+"$", age)
	if err := cfg.Write(filepath.Join(dir, sopsConfigName)); err != nil {
		return fmt.Errorf("update %s: %w", sopsConfigName, err)
	}
	return nil
}

// recipientNames renders who can open a file: the daemon's keys by
// org/env#generation, other recipients by their public key.
func recipientNames(recips []wire.SecretRecipient) string {
	out := make([]string, len(recips))
	for i, r := range recips {
		out[i] = keyName(r.Recipient, r.Key)
	}
	return strings.Join(out, ", ")
}

func keyName(recipient string, k *wire.SecretKey) string {
	if k == nil {
		return recipient + " (not a key of this daemon)"
	}
	return fmt.Sprintf("%s/%s#%d", k.Org, k.Env, k.Generation)
}

// sealedView is what the verbs that change a file print with --json: never
// a value, nor the sealed bytes (they are in the file).
type sealedView struct {
	File       string                 `json:"file"`
	Names      []string               `json:"names"`
	Recipients []wire.SecretRecipient `json:"recipients"`
	Created    []wire.SecretKey       `json:"created_keys,omitempty"`
	Advice     []string               `json:"advice,omitempty"`
}

func (g *globals) printSealed(res wire.SecretsFile, summary string) error {
	if g.JSON {
		return g.printJSON(sealedView{File: res.File, Names: res.Names, Recipients: res.Recipients, Created: res.Created, Advice: res.Advice})
	}
	fprintf(g.stdout, "%s\n  sealed for: %s\n", summary, recipientNames(res.Recipients))
	return nil
}

// readSecret reads a secret value (or passphrase): from a hidden prompt when
// stdin is a terminal, asked twice when confirm, else all of stdin, less
// one trailing newline unless keepNewline.
func (g *globals) readSecret(prompt string, confirm, keepNewline bool) (string, error) {
	if f, ok := g.stdin.(*os.File); ok && isTerminal(f) {
		// Fd puts the file in blocking mode, which ReadPassword's plain
		// read(2) needs; no verb that asks reads stdin with deadlines.
		fd := int(f.Fd())
		fprint(g.stderr, prompt+": ")
		v, err := term.ReadPassword(fd)
		fprintln(g.stderr)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", prompt, err)
		}
		if confirm {
			fprint(g.stderr, prompt+" (again): ")
			again, err := term.ReadPassword(fd)
			fprintln(g.stderr)
			if err != nil {
				return "", fmt.Errorf("read %s: %w", prompt, err)
			}
			if string(again) != string(v) {
				return "", errors.New("the two entries differ; nothing was changed")
			}
		}
		return string(v), nil
	}
	const maxValue = 1 << 20
	b, err := io.ReadAll(io.LimitReader(g.stdin, maxValue+1))
	if err != nil {
		return "", fmt.Errorf("read %s from stdin: %w", prompt, err)
	}
	if len(b) > maxValue {
		return "", fmt.Errorf("%s on stdin is larger than 1 MiB; a sealed secret is a small value", prompt)
	}
	v := string(b)
	if !keepNewline {
		v = strings.TrimSuffix(strings.TrimSuffix(v, "\n"), "\r")
	}
	return v, nil
}

// projectSealedFiles lists the sealed files of the project in dir, project-
// relative: secrets/ENV.yaml and orgs/ORG/secrets/ENV.yaml, limited to env
// and org when they are set.
func projectSealedFiles(dir, env, org string) ([]string, error) {
	envGlob := cmp.Or(env, "*") + ".yaml"
	var out []string
	for _, p := range []string{path.Join("secrets", envGlob), path.Join("orgs", cmp.Or(org, "*"), "secrets", envGlob)} {
		matches, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			rel, err := filepath.Rel(dir, m)
			if err != nil {
				return nil, err
			}
			out = append(out, filepath.ToSlash(rel))
		}
	}
	slices.Sort(out)
	return out, nil
}
