package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// ErrSecret: a secret the release needs has no value the engine can use (a
// sealed secret no file holds and nothing generates, a sealed file no key
// of the instance opens, a MAC mismatch, a missing file or variable).
// Nothing was changed.
var ErrSecret = errors.New("secret unavailable")

// OpenedSecret is a sealed secret's value as the project's files hold it,
// and which file it came from (relative to the project).
type OpenedSecret struct {
	Value  []byte
	Source string
}

// SecretOpener opens the project's sealed secret files for one instance:
// orgs/<org>/secrets/<env>.yaml over secrets/<env>.yaml. The daemon wires
// the implementation that holds the (org, env) keys. Open returns the
// values it found among names (a name no file holds is absent, not an
// error) and an error when a file exists but cannot be used: no key opens
// it, its MAC does not match, it is not a SOPS file. Errors name the file
// and say what to do.
type SecretOpener interface {
	Open(projectDir, org, env string, names []string) (map[string]OpenedSecret, error)
}

// versionedHashLen is the length of a service hash with its secret
// versions folded in, as of the loader's hashes.
const versionedHashLen = 12

// resolveSealed gives every sealed secret of m a value and a version, before
// anything changes: from the project's sealed files through the opener,
// else the value generated for the instance before (or a new one, kept),
// else an error naming the file, the key, the instance and the command
// that sets it. The values are kept sealed in the store; the returned
// model is m with SecretVersions set and the hash of every service that
// receives a sealed secret changed with the versions it gets, so a new
// value replaces the replicas that use it. m itself is not changed.
//
// Plan and Up both call it, before the instance is locked: a plan keeps a
// value it generates too, so the plan a user confirms (its fingerprint)
// is the one Up applies. Keeping a value changes nothing that runs.
func (e *Engine) resolveSealed(ctx context.Context, m *stack.Model) (*stack.Model, error) {
	var names []string
	for _, s := range m.Secrets {
		if s.Sealed() {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return withVersions(m, nil), nil
	}
	instance := m.Identity.Name()
	org, env := m.Identity.OrgOrDefault(), m.Identity.Env
	opened := map[string]OpenedSecret{}
	if e.secrets != nil {
		var err error
		if opened, err = e.secrets.Open(m.Dir, org, env, names); err != nil {
			return nil, fmt.Errorf("%s: cannot open its sealed secrets: %w: %w", instance, err, ErrSecret)
		}
	}
	versions := make(map[string]string, len(names))
	var missing []string
	for _, name := range names {
		sec := m.Secret(name)
		v := store.SecretVersion{Instance: instance, Name: name}
		if o, ok := opened[name]; ok {
			v.Value, v.Source = o.Value, o.Source
		} else if sec.Generate != nil {
			g, err := e.store.LatestSecretVersion(ctx, instance, name, store.SourceGenerated)
			switch {
			case err == nil:
				v = g
			case errors.Is(err, store.ErrNotFound):
				if v.Value, err = generateSecret(sec.Generate); err != nil {
					return nil, fmt.Errorf("%s: generate secret %s: %w", instance, name, err)
				}
				v.Source = store.SourceGenerated
			default:
				return nil, fmt.Errorf("%s: secret %s: %w", instance, name, err)
			}
		} else {
			missing = append(missing, name)
			continue
		}
		kept, err := e.store.PutSecretVersion(ctx, v)
		if err != nil {
			return nil, err
		}
		versions[name] = kept.Version
	}
	if len(missing) > 0 {
		return nil, missingSecretsError(m, missing, e.secrets != nil)
	}
	return withVersions(m, versions), nil
}

// withVersions returns a copy of m that records versions, with the hash
// of every service that receives a sealed secret folded with them (and
// any hash folded before unfolded when it no longer receives one).
func withVersions(m *stack.Model, versions map[string]string) *stack.Model {
	out := *m
	out.SecretVersions = versions
	out.Services = make([]*stack.Service, len(m.Services))
	for i, s := range m.Services {
		out.Services[i] = s
		if h := versionedHash(s, &out); h != s.Hash {
			c := *s
			c.Hash, c.LoadHash = h, cmp.Or(s.LoadHash, s.Hash)
			if h == c.LoadHash {
				c.LoadHash = ""
			}
			out.Services[i] = &c
		}
	}
	return &out
}

// missingSecretsError says where each missing sealed secret was looked for
// and the command that gives it a value.
func missingSecretsError(m *stack.Model, missing []string, canOpen bool) error {
	org, env := m.Identity.OrgOrDefault(), m.Identity.Env
	files := path.Join("secrets", env+".yaml")
	orgFlag := ""
	if m.Identity.Org != "" && org != stack.DefaultOrg {
		files = path.Join("orgs", org, "secrets", env+".yaml") + " nor " + files
		orgFlag = " --org " + org
	}
	var lines []string
	for _, name := range missing {
		lines = append(lines, fmt.Sprintf("secret %s has no value in %s: set it with `quai secrets set %s --env %s%s %s` (or give it x-quai.secrets.%s.generate)",
			name, files, m.Dir, env, orgFlag, name, name))
	}
	msg := strings.Join(lines, "; ")
	if !canOpen {
		msg += "; this daemon cannot open sealed files"
	}
	return fmt.Errorf("%s: %s: %w", m.Identity.Name(), msg, ErrSecret)
}

// versionedHash is the loader's hash of s (LoadHash, once folded) with
// the versions of the sealed secrets it receives folded in; the loader's
// hash when it receives none. Folding a model again (a stored release sent
// back, as a promotion does) gives the same hash for the same versions.
func versionedHash(s *stack.Service, m *stack.Model) string {
	base := cmp.Or(s.LoadHash, s.Hash)
	var parts []string
	for _, name := range s.SecretNames() {
		if v, ok := m.SecretVersions[name]; ok {
			parts = append(parts, name+"="+v)
		}
	}
	if len(parts) == 0 {
		return base
	}
	sum := sha256.Sum256([]byte(base + "\x00" + strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])[:versionedHashLen]
}

// secretValues returns the values of the sealed secrets m records versions
// of, from the store: what the release runs with, even if the project's
// files changed since.
func (e *Engine) secretValues(ctx context.Context, m *stack.Model) (map[string][]byte, error) {
	out := make(map[string][]byte, len(m.SecretVersions))
	for _, name := range slices.Sorted(maps.Keys(m.SecretVersions)) {
		v, err := e.store.SecretVersion(ctx, m.Identity.Name(), name, m.SecretVersions[name])
		if err != nil {
			return nil, fmt.Errorf("%s: secret %s version %s: %w: %w", m.Identity.Name(), name, m.SecretVersions[name], ErrSecret, err)
		}
		out[name] = v.Value
	}
	return out, nil
}

// secretsFor returns what svc receives: secret files by name and secret
// environment values by variable. Sealed values come from sealed (the
// release's, from secretValues); the others from their file (relative to
// the project directory) or the daemon's environment.
func secretsFor(m *stack.Model, svc *stack.Service, sealed map[string][]byte) (files, env map[string][]byte, err error) {
	names := svc.SecretNames()
	if len(names) == 0 {
		return nil, nil, nil
	}
	vals := make(map[string][]byte, len(names))
	for _, name := range names {
		if vals[name], err = secretValue(m, svc, name, sealed); err != nil {
			return nil, nil, err
		}
	}
	if len(svc.Secrets) > 0 {
		files = make(map[string][]byte, len(svc.Secrets))
		for _, name := range svc.Secrets {
			files[name] = vals[name]
		}
	}
	if len(svc.SecretEnv) > 0 {
		env = make(map[string][]byte, len(svc.SecretEnv))
		for k, name := range svc.SecretEnv {
			env[k] = vals[name]
		}
	}
	return files, env, nil
}

func secretValue(m *stack.Model, svc *stack.Service, name string, sealed map[string][]byte) ([]byte, error) {
	sec := m.Secret(name)
	switch {
	case sec == nil:
		return nil, fmt.Errorf("service %s uses secret %s, which the stack does not declare: %w", svc.Name, name, ErrInvalid)
	case sec.Sealed():
		v, ok := sealed[name]
		if !ok {
			return nil, fmt.Errorf("service %s: sealed secret %s has no resolved version: %w", svc.Name, name, ErrSecret)
		}
		return v, nil
	case sec.File != "":
		p, err := m.HostPath(sec.File)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", sec.Name, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("service %s: secret %s: %w: %w", svc.Name, name, ErrSecret, err)
		}
		return b, nil
	case sec.Environment != "":
		v, ok := os.LookupEnv(sec.Environment)
		if !ok {
			return nil, fmt.Errorf("service %s: secret %s: environment variable %s is not set in the daemon's environment: %w",
				svc.Name, name, sec.Environment, ErrSecret)
		}
		return []byte(v), nil
	default:
		return nil, fmt.Errorf("service %s: secret %s has neither a file nor an environment variable: %w", svc.Name, name, ErrInvalid)
	}
}

// generateSecret makes a new random value of the kind g asks for.
func generateSecret(g *stack.Generate) ([]byte, error) { return g.NewValue() }
