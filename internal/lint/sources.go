package lint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

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

// interpolated reports whether a raw value takes anything from variables:
// "$$" is an escaped dollar, any other "$" starts a substitution.
func interpolated(raw string) bool {
	return strings.Contains(strings.ReplaceAll(raw, "$$", ""), "$")
}
