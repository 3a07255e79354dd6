package lint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/quai-dev/quai/internal/stack"
)

// ErrSources is returned when the stack files cannot be read for their raw
// environment values.
var ErrSources = errors.New("cannot read stack sources")

// Sources holds each service's environment values as written in the stack
// files, before interpolation, with later files overriding earlier ones as
// the Compose merge does. The model only has interpolated values, where
// "${DB_PASSWORD}" and "hunter2" look alike; Sources tells them apart.
type Sources struct {
	// env maps service → variable → raw value.
	env map[string]map[string]string
}

// ReadSources reads the model's stack files (m.Files, relative to m.Dir).
func ReadSources(m *stack.Model) (*Sources, error) {
	files := make(map[string][]byte, len(m.Files))
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(m.Dir, f))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSources, err)
		}
		files[f] = b
	}
	return ParseSources(m.Files, files)
}

// ParseSources builds Sources from file contents, applied in order.
func ParseSources(order []string, files map[string][]byte) (*Sources, error) {
	s := &Sources{env: map[string]map[string]string{}}
	for _, name := range order {
		var doc yaml.Node
		if err := yaml.Unmarshal(files[name], &doc); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrSources, name, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		services := mapValue(doc.Content[0], "services")
		if services == nil || services.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(services.Content); i += 2 {
			svc := services.Content[i].Value
			env := mapValue(services.Content[i+1], "environment")
			if env == nil {
				continue
			}
			if s.env[svc] == nil {
				s.env[svc] = map[string]string{}
			}
			addEnv(s.env[svc], env)
		}
	}
	return s, nil
}

// Env returns the raw value of a service's environment variable and whether
// a stack file sets it. A variable written without a value (taken from the
// host environment) reads as "${NAME}".
func (s *Sources) Env(service, key string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.env[service][key]
	return v, ok
}

func addEnv(dst map[string]string, n *yaml.Node) {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], deref(n.Content[i+1])
			if k.Value == "<<" {
				addEnv(dst, v)
				continue
			}
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				dst[k.Value] = "${" + k.Value + "}"
				continue
			}
			dst[k.Value] = v.Value
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			item = deref(item)
			if item.Kind != yaml.ScalarNode {
				continue
			}
			k, v, ok := strings.Cut(item.Value, "=")
			if !ok {
				v = "${" + k + "}"
			}
			dst[k] = v
		}
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// scanRaw splits a raw value at its substitutions. masked is raw with the
// i-th ${...} replaced by "${i}" (so "?" or "/" inside a substitution cannot
// be mistaken for URL syntax); defaults[i] is the fallback of ${VAR:-x} or
// ${VAR-x} when that fallback is literal text — what the value becomes when
// the variable is unset — and "" otherwise.
func scanRaw(raw string) (masked string, defaults []string) {
	var b strings.Builder
	for i := 0; i < len(raw); {
		switch {
		case strings.HasPrefix(raw[i:], "$$"):
			b.WriteString("$$")
			i += 2
			continue
		case !strings.HasPrefix(raw[i:], "${"):
			b.WriteByte(raw[i])
			i++
			continue
		}
		end := closingBrace(raw, i+2)
		if end < 0 {
			b.WriteString(raw[i:])
			break
		}
		body := raw[i+2 : end]
		name := 0
		for name < len(body) && (body[name] == '_' || body[name] >= 'A' && body[name] <= 'Z' || body[name] >= 'a' && body[name] <= 'z' || body[name] >= '0' && body[name] <= '9') {
			name++
		}
		op := body[name:]
		var def string
		switch {
		case strings.HasPrefix(op, ":-"):
			def = op[2:]
		case strings.HasPrefix(op, "-"):
			def = op[1:]
		}
		if interpolated(def) {
			def = ""
		}
		fmt.Fprintf(&b, "${%d}", len(defaults))
		defaults = append(defaults, def)
		i = end + 1
	}
	return b.String(), defaults
}

// literalDefault reports whether the masked text uses a substitution whose
// fallback is literal.
func literalDefault(masked string, defaults []string) bool {
	for i, d := range defaults {
		if d != "" && strings.Contains(masked, fmt.Sprintf("${%d}", i)) {
			return true
		}
	}
	return false
}

// closingBrace returns the index of the "}" closing a substitution whose
// body starts at from, allowing nested ${...}; -1 when unbalanced.
func closingBrace(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "${"):
			depth++
			i++
		case s[i] == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// interpolated reports whether a raw value takes anything from variables:
// "$$" is an escaped dollar, any other "$" starts a substitution.
func interpolated(raw string) bool {
	return strings.Contains(strings.ReplaceAll(raw, "$$", ""), "$")
}
