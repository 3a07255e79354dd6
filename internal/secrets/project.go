package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/secrets/sops"
)

// Errors of opening a project's sealed values, wrapped with %w beside the
// codec's (sops.ErrMAC, sops.ErrNoIdentity, sops.ErrFormat...).
var (
	// ErrNotSealedFor: a file holding a wanted name is not sealed for the
	// (org, env) key of the instance.
	ErrNotSealedFor = errors.New("not sealed for this org and env")
)

// maxSealedFile bounds what is read of a sealed project file.
const maxSealedFile = 4 << 20

// Opened is a sealed value opened for a deploy.
type Opened struct {
	Value []byte
	// Source is the project-relative file the value came from.
	Source string
}

// Opener opens a project's sealed values for an instance, with the keys of
// the instance's (org, env) only. The engine calls it through a small
// interface of its own.
type Opener struct {
	keys *Keyring
}

// NewOpener returns an Opener using keys.
func NewOpener(keys *Keyring) *Opener { return &Opener{keys: keys} }

// Open returns the sealed values of names (every name when names is nil)
// for an instance of org in env of the project in projectDir: a name of
// orgs/<org>/secrets/<env>.yaml overrides the same name of
// secrets/<env>.yaml. A name neither file holds is left out of the map,
// without error: the caller generates it or refuses, saying how to set it
// (SetCommand). A file that holds a wanted name and does not open with
// (org, env)'s keys, whose MAC does not match, or that is not a SOPS file is
// an error naming the file, the name and the fix; it never yields an empty
// value.
func (p *Opener) Open(projectDir, org, env string, names []string) (map[string]Opened, error) {
	if err := CheckScope(org, env); err != nil {
		return nil, err
	}
	out := map[string]Opened{}
	// The org's file first: what it holds is not looked for in the base file.
	for _, forOrg := range []string{org, ""} {
		rel := ProjectFile(forOrg, env)
		data, err := readSealed(filepath.Join(projectDir, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		meta, err := sops.Inspect(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w; if it holds values in clear, move it out of the project and seal each with `%s`",
				rel, err, SetCommand(projectDir, forOrg, env, "NAME"))
		}
		var want []string
		for _, n := range meta.Names {
			if _, done := out[n]; !done && (names == nil || slices.Contains(names, n)) {
				want = append(want, n)
			}
		}
		if len(want) == 0 {
			continue
		}
		vals, err := p.open(projectDir, rel, forOrg, org, env, data, meta, want)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", strings.Join(want, ", "), err)
		}
		for _, n := range want {
			v, ok := vals.Get(n)
			if !ok || v == "" {
				return nil, fmt.Errorf("secret %s: %s holds no value for it; set one with `%s`", n, rel, SetCommand(projectDir, forOrg, env, n))
			}
			out[n] = Opened{Value: []byte(v), Source: rel}
		}
	}
	return out, nil
}

// open decrypts one file with the keys of (org, env).
func (p *Opener) open(projectDir, rel, forOrg, org, env string, data []byte, meta sops.Meta, want []string) (*sops.Doc, error) {
	name := "NAME"
	if len(want) == 1 {
		name = want[0]
	}
	ids, keys, err := p.keys.Identities(org, env)
	if err != nil && !errors.Is(err, ErrNoKey) {
		return nil, err
	}
	ours := slices.ContainsFunc(keys, func(k KeyInfo) bool { return slices.Contains(meta.Recipients, k.Recipient) })
	switch {
	case !ours && forOrg == "":
		return nil, fmt.Errorf("%w: %s is not sealed for %s/%s; add the org with `quai secrets rotate %s --env %s --add-org %s` (or give %s its own value with `%s`)",
			ErrNotSealedFor, rel, org, env, projectDir, env, org, org, SetCommand(projectDir, org, env, name))
	case !ours && len(keys) == 0:
		return nil, fmt.Errorf("%w: %s is sealed for a key of %s/%s that this host does not hold; import it with `quai secrets key import FILE`",
			ErrNotSealedFor, rel, org, env)
	case !ours:
		return nil, fmt.Errorf("%w: %s is sealed for none of this host's keys of %s/%s; import the key it was sealed for with `quai secrets key import FILE`, or re-seal it with `quai secrets rotate %s --env %s --org %s` where that key is",
			ErrNotSealedFor, rel, org, env, projectDir, env, org)
	}
	doc, err := sops.Decrypt(data, ids...)
	if errors.Is(err, sops.ErrMAC) {
		return nil, fmt.Errorf("%s: %w; it was changed without its data key (a hand edit or a bad merge?); to set this value again: `%s`",
			rel, err, SetCommand(projectDir, forOrg, env, name))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return doc, nil
}

// SetCommand is the command that sets name in the sealed file of (org, env)
// of the project in dir; org "" is the base file.
func SetCommand(dir, org, env, name string) string {
	if org == "" {
		return fmt.Sprintf("quai secrets set %s --env %s %s", dir, env, name)
	}
	return fmt.Sprintf("quai secrets set %s --env %s --org %s %s", dir, env, org, name)
}

func readSealed(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxSealedFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxSealedFile {
		return nil, fmt.Errorf("%s is larger than %d MiB: a sealed file holds a few values, not data; keep large files out of secrets/", path, maxSealedFile>>20)
	}
	return b, nil
}
