package stack

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Kinds of generated secret values (x-quai.secrets.NAME.generate).
const (
	GeneratePassword = "password" // 32 characters of letters and digits
	GenerateHex32    = "hex32"    // 32 random bytes as 64 hex digits
	GenerateAlnum    = "alnum"    // letters and digits, Length of them
	GenerateRSA      = "rsa"      // an RSA private key, PKCS #8 PEM
)

// Generation limits: long enough to be strong, short enough to fit in any
// environment variable.
const (
	defaultGenerateLength = 32
	minGenerateLength     = 16
	maxGenerateLength     = 1024
)

var generateKinds = []string{GenerateAlnum, GenerateHex32, GeneratePassword, GenerateRSA}

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var (
	secretExtKeys = []string{"generate"}
	generateKeys  = []string{"alphabet", "kind", "length"}
)

// Generate says how the platform creates a sealed secret's value at first
// install when the project's sealed files hold none.
type Generate struct {
	Kind string `json:"kind"`
	// Length is the number of characters (password, alnum, an alphabet).
	Length int `json:"length,omitempty"`
	// Alphabet is the characters a value is drawn from; empty for the
	// kind's own.
	Alphabet string `json:"alphabet,omitempty"`
}

// Sealed reports whether the secret's value comes from the platform (the
// project's sealed files, or generated) rather than a file or variable.
func (s Secret) Sealed() bool { return s.External }

// SecretNames returns the names of the secrets svc receives, as files or
// as environment values, sorted and without duplicates.
func (s *Service) SecretNames() []string {
	names := slices.Concat(s.Secrets, slices.Collect(maps.Values(s.SecretEnv)))
	slices.Sort(names)
	return slices.Compact(names)
}

// Secret returns the declared secret called name, or nil.
func (m *Model) Secret(name string) *Secret {
	for i := range m.Secrets {
		if m.Secrets[i].Name == name {
			return &m.Secrets[i]
		}
	}
	return nil
}

// secretExts decodes the top-level x-quai.secrets: name → generation.
func (c *checker) secretExts(path string, v any) map[string]*Generate {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	out := make(map[string]*Generate, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		p := joinPath(path, name)
		sm, ok := c.mapping(p, m[name])
		if !ok {
			continue
		}
		c.keys(p, sm, secretExtKeys, nil)
		out[name] = nil
		if gv, ok := sm["generate"]; ok {
			out[name] = c.generate(p+".generate", gv)
		}
	}
	return out
}

func (c *checker) generate(path string, v any) *Generate {
	const example = `e.g. generate: password, or generate: {length: 40, alphabet: "abcdef0123456789"}`
	g := &Generate{Kind: GeneratePassword}
	switch v := v.(type) {
	case string:
		g.Kind = v
	case map[string]any:
		c.keys(path, v, generateKeys, nil)
		if kv, ok := v["kind"]; ok {
			if s, ok := c.str(path+".kind", kv); ok {
				g.Kind = s
			}
		}
		if lv, ok := v["length"]; ok {
			if n, ok := c.integer(path+".length", lv); ok {
				if n < minGenerateLength || n > maxGenerateLength {
					c.errf(path+".length", fmt.Sprintf("use %d to %d characters", minGenerateLength, maxGenerateLength), "length %d is out of range", n)
					return nil
				}
				g.Length = n
			}
		}
		if av, ok := v["alphabet"]; ok {
			if s, ok := c.str(path+".alphabet", av); ok {
				if !utf8.ValidString(s) || len(distinct(s)) < 2 {
					c.errf(path+".alphabet", `give at least two different characters, e.g. alphabet: "abcdef0123456789"`, "alphabet %q cannot make a secret", s)
					return nil
				}
				g.Alphabet = s
				if _, set := v["kind"]; !set {
					g.Kind = GenerateAlnum
				}
			}
		}
	default:
		c.errf(path, example, "generate must be a kind or a mapping, got %s", describe(v))
		return nil
	}
	if !slices.Contains(generateKinds, g.Kind) {
		c.errf(path, joinHints(didYouMean(g.Kind, generateKinds), "the kinds are "+strings.Join(generateKinds, ", ")), "unknown kind of generated secret %q", g.Kind)
		return nil
	}
	if (g.Kind == GenerateHex32 || g.Kind == GenerateRSA) && (g.Length != 0 || g.Alphabet != "") {
		c.errf(path, "length and alphabet apply to password and alnum", "a %s secret has a fixed form", g.Kind)
		return nil
	}
	if g.Length == 0 && (g.Kind == GeneratePassword || g.Kind == GenerateAlnum) {
		g.Length = defaultGenerateLength
	}
	return g
}

func distinct(s string) map[rune]bool {
	out := map[rune]bool{}
	for _, r := range s {
		out[r] = true
	}
	return out
}

// secretEnv decodes services.<name>.x-quai.secret_env: variable → secret.
func (c *checker) secretEnv(path string, v any) map[string]string {
	m, ok := c.mapping(path, v)
	if !ok || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := joinPath(path, k)
		if !envNameRe.MatchString(k) {
			c.errf(p, "use letters, digits and underscores, not starting with a digit, e.g. DB_PASSWORD", "invalid environment variable name %q", k)
			continue
		}
		if s, ok := c.str(p, m[k]); ok {
			out[k] = s
		}
	}
	return out
}

// checkSecrets ties the x-quai secret settings to the declared secrets:
// a generated secret must be a sealed (external) one, and a service's
// secret_env must name a declared secret and a variable its environment
// does not already set.
func checkSecrets(c *checker, m *Model, gen map[string]*Generate) {
	declared := make([]string, 0, len(m.Secrets))
	for _, s := range m.Secrets {
		declared = append(declared, s.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(gen)) {
		p := Extension + ".secrets." + name
		sec := m.Secret(name)
		_, written := c.idx.keys["secrets."+name]
		switch {
		case sec == nil && written:
			// Declared but used by no service: Compose drops it, and so
			// there is nothing to generate.
		case sec == nil:
			c.errf(p, joinHints(didYouMean(name, declared), fmt.Sprintf("declare it at the top level: secrets: {%s: {external: true}}", name)), "x-quai.secrets names secret %q, which the stack does not declare", name)
		case !sec.External:
			c.errf(p, fmt.Sprintf("make it a sealed secret: secrets: {%s: {external: true}}", name), "secret %q has its value in a file or variable; only a sealed (external) secret is generated", name)
		default:
			sec.Generate = gen[name]
		}
	}
	for _, s := range m.Services {
		for _, v := range slices.Sorted(maps.Keys(s.SecretEnv)) {
			p := "services." + s.Name + "." + Extension + ".secret_env." + v
			name := s.SecretEnv[v]
			if m.Secret(name) == nil {
				c.errf(p, joinHints(didYouMean(name, declared), fmt.Sprintf("declare it at the top level, e.g. secrets: {%s: {external: true}}", name)), "secret_env %s names secret %q, which the stack does not declare", v, name)
			}
			if _, set := s.Environment[v]; set {
				c.errf(p, fmt.Sprintf("remove %s from the service's environment: secret_env gives its value", v), "%s is set both in environment and in secret_env", v)
			}
		}
	}
}
