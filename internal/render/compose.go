package render

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/quai-dev/quai/internal/stack"
)

// ErrNoResolved: the model carries no resolved Compose document (models
// built by hand rather than by stack.Load).
var ErrNoResolved = errors.New("model has no resolved compose document")

// ComposeLabels are the labels quai adds to a service in the Compose
// rendering, so containers started from it are found like quai's own.
func ComposeLabels(id stack.Identity, s *stack.Service) map[string]string {
	return map[string]string{
		LabelOrg:        id.OrgOrDefault(),
		LabelProject:    id.Project,
		LabelEnv:        id.Env,
		LabelQInstance:  id.Slug(),
		LabelService:    s.Name,
		LabelConfigHash: serviceHash(s),
	}
}

// Compose renders the resolved Compose file of the instance: the merged,
// interpolated document of m.Resolved with the project name set to the
// instance slug (so `docker compose -p` is not needed and instances never
// collide) and quai's labels added to every service; "$" is escaped as "$$"
// so Compose does not interpolate values twice. Key order follows the
// resolved document; added labels are sorted, so output is deterministic.
func Compose(m *stack.Model) ([]byte, error) { return ComposeWith(m, ComposeOptions{}) }

// ComposeOptions tunes the Compose rendering.
type ComposeOptions struct {
	// NoName leaves out the top-level name, which docker-compose 1.x (the
	// Python one Debian ships) refuses; give it the instance with -p.
	NoName bool
}

// ComposeWith is Compose with options. Either way, a dependency's
// `required: true` (the default, which compose-go writes out and
// docker-compose 1.x refuses) is left out.
func ComposeWith(m *stack.Model, opts ComposeOptions) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: no model", ErrInvalidModel)
	}
	if len(m.Resolved) == 0 {
		return nil, ErrNoResolved
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(m.Resolved, &doc); err != nil {
		return nil, fmt.Errorf("%w: resolved compose document: %w", ErrInvalidModel, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: resolved compose document is not a mapping", ErrInvalidModel)
	}
	top := doc.Content[0]
	if opts.NoName {
		deleteKey(top, "name")
	} else {
		setScalar(top, "name", dnsLabel(m.Identity.Slug()), true)
	}

	services := mapValue(top, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: resolved compose document has no services", ErrInvalidModel)
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		name, body := services.Content[i].Value, services.Content[i+1]
		s := m.Service(name)
		if s == nil || body.Kind != yaml.MappingNode {
			continue
		}
		if deps := mapValue(body, "depends_on"); deps != nil && deps.Kind == yaml.MappingNode {
			for j := 1; j < len(deps.Content); j += 2 {
				if d := deps.Content[j]; d.Kind == yaml.MappingNode {
					if r := mapValue(d, "required"); r != nil && r.Value == "true" {
						deleteKey(d, "required")
					}
				}
			}
		}
		if err := addLabels(body, ComposeLabels(m.Identity, s)); err != nil {
			return nil, fmt.Errorf("service %s: %w", name, err)
		}
	}

	// Resolved holds values after interpolation; a literal "$" in it must
	// reach the container as is, so it is escaped the way `docker compose
	// config` escapes its output, or Compose would interpolate it again.
	escapeDollars(top)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("encode compose document: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode compose document: %w", err)
	}
	return buf.Bytes(), nil
}

// escapeDollars doubles every "$" in the scalar values under n.
func escapeDollars(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "$") {
			n.Value = strings.ReplaceAll(n.Value, "$", "$$")
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			escapeDollars(n.Content[i])
		}
	default:
		for _, c := range n.Content {
			escapeDollars(c)
		}
	}
}

// mapValue returns the value node of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// setScalar sets key to a string scalar, inserting it first or last.
func setScalar(n *yaml.Node, key, value string, first bool) {
	if v := mapValue(n, key); v != nil {
		*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
		return
	}
	kv := []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: value},
	}
	if first {
		n.Content = append(kv, n.Content...)
	} else {
		n.Content = append(n.Content, kv...)
	}
}

// addLabels merges extra into the service's labels (a mapping, or the
// "k=v" list form, which becomes a mapping) and sorts them.
func addLabels(svc *yaml.Node, extra map[string]string) error {
	labels := map[string]string{}
	if l := mapValue(svc, "labels"); l != nil {
		switch l.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(l.Content); i += 2 {
				labels[l.Content[i].Value] = l.Content[i+1].Value
			}
		case yaml.SequenceNode:
			for _, item := range l.Content {
				k, v, _ := strings.Cut(item.Value, "=")
				labels[k] = v
			}
		case yaml.ScalarNode:
			if l.Tag != "!!null" {
				return fmt.Errorf("%w: labels are neither a mapping nor a list", ErrInvalidModel)
			}
		}
	}
	maps.Copy(labels, extra)
	node := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		node.Content = append(node.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: labels[k]})
	}
	if l := mapValue(svc, "labels"); l != nil {
		*l = *node
		return nil
	}
	svc.Content = append(svc.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "labels"}, node)
	return nil
}

// deleteKey removes key and its value from the mapping node m.
func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
