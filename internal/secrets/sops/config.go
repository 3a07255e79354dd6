package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/quai-dev/quai/internal/fsutil"
)

// Config is a .sops.yaml: the creation rules that tell sops (and quai) which
// age recipients a new file at a path is sealed for.
type Config struct {
	// Rules in file order; sops uses the first whose PathRegex matches.
	Rules []Rule

	// doc is the file as read, so that Write keeps what quai does not
	// manage (other keys, other fields of a rule, comments).
	doc *yaml.Node
}

// Rule is one creation rule.
type Rule struct {
	PathRegex string   // matched against the path relative to the config's directory; empty matches every path
	Age       []string // age recipients
}

// ReadConfig reads a .sops.yaml. A missing file is an empty Config, so the
// first SetRule creates it.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := parseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func parseConfig(data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	c := &Config{}
	if doc.Kind == 0 {
		return c, nil
	}
	c.doc = &doc
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return c, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the top level of a .sops.yaml must be a mapping", ErrFormat)
	}
	rules := mapValue(root, "creation_rules")
	if rules == nil {
		return c, nil
	}
	if rules.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%w: line %d: creation_rules must be a list", ErrFormat, rules.Line)
	}
	for _, n := range rules.Content {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: line %d: a creation rule must be a mapping", ErrFormat, n.Line)
		}
		var r Rule
		if v := mapValue(n, "path_regex"); v != nil {
			r.PathRegex = v.Value
			if _, err := regexp.Compile(r.PathRegex); err != nil {
				return nil, fmt.Errorf("%w: line %d: path_regex: %w", ErrFormat, v.Line, err)
			}
		}
		if v := mapValue(n, "age"); v != nil {
			age, err := recipientList(v)
			if err != nil {
				return nil, err
			}
			r.Age = age
		}
		c.Rules = append(c.Rules, r)
	}
	return c, nil
}

// recipientList reads age: as sops does: one string of comma-separated
// recipients, or a list of such strings.
func recipientList(n *yaml.Node) ([]string, error) {
	var parts []string
	switch n.Kind {
	case yaml.ScalarNode:
		parts = []string{n.Value}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%w: line %d: age must be a string or a list of strings", ErrFormat, e.Line)
			}
			parts = append(parts, e.Value)
		}
	default:
		return nil, fmt.Errorf("%w: line %d: age must be a string or a list of strings", ErrFormat, n.Line)
	}
	var out []string
	for _, p := range parts {
		for r := range strings.SplitSeq(p, ",") {
			if r = strings.TrimSpace(r); r != "" {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// RecipientsFor returns the age recipients of the first rule matching
// relPath (slash-separated, relative to the directory of the .sops.yaml), as
// sops chooses; nil when no rule matches.
func (c *Config) RecipientsFor(relPath string) []string {
	for _, r := range c.Rules {
		if r.PathRegex == "" {
			return r.Age
		}
		if re, err := regexp.Compile(r.PathRegex); err == nil && re.MatchString(relPath) {
			return r.Age
		}
	}
	return nil
}

// SetRule sets the recipients of the rule with exactly this path_regex, or
// adds such a rule first in the list so that it wins over broader rules.
func (c *Config) SetRule(pathRegex string, age []string) {
	age = slices.Clone(age)
	if i := slices.IndexFunc(c.Rules, func(r Rule) bool { return r.PathRegex == pathRegex }); i >= 0 {
		c.Rules[i].Age = age
		return
	}
	c.Rules = slices.Insert(c.Rules, 0, Rule{PathRegex: pathRegex, Age: age})
}

// Write writes the config atomically, keeping the fields and rules quai does
// not manage as they were read. age is written as sops writes it: one string
// of comma-separated recipients.
func (c *Config) Write(path string) error {
	data, err := c.marshal()
	if err != nil {
		return err
	}
	return fsutil.WriteFile(path, data, 0o644)
}

func (c *Config) marshal() ([]byte, error) {
	doc := c.doc
	if doc == nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := doc.Content[0]
	old := mapValue(root, "creation_rules")
	var oldRules []*yaml.Node
	if old != nil && old.Kind == yaml.SequenceNode {
		oldRules = old.Content
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range c.Rules {
		// Reuse the rule read with the same path_regex, so its other fields
		// (pgp, encrypted_regex, key_groups…) and comments stay.
		i := slices.IndexFunc(oldRules, func(n *yaml.Node) bool {
			v := mapValue(n, "path_regex")
			return n.Kind == yaml.MappingNode && (v != nil && v.Value == r.PathRegex || v == nil && r.PathRegex == "")
		})
		n := &yaml.Node{Kind: yaml.MappingNode}
		if i >= 0 {
			n = oldRules[i]
			oldRules = slices.Delete(oldRules, i, i+1)
		}
		if r.PathRegex != "" {
			setMapValue(n, "path_regex", &yaml.Node{Kind: yaml.ScalarNode, Value: r.PathRegex})
		}
		if len(r.Age) > 0 {
			setMapValue(n, "age", &yaml.Node{Kind: yaml.ScalarNode, Value: strings.Join(r.Age, ",")})
		} else {
			deleteMapValue(n, "age")
		}
		seq.Content = append(seq.Content, n)
	}
	if old != nil {
		old.Kind, old.Content, old.Tag, old.Value = yaml.SequenceNode, seq.Content, "", ""
	} else {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "creation_rules"}, seq)
	}
	var buf bytes.Buffer
	e := yaml.NewEncoder(&buf)
	e.SetIndent(2)
	if err := e.Encode(doc); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	c.doc = doc
	return buf.Bytes(), nil
}

func setMapValue(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.HeadComment, v.LineComment, v.FootComment = m.Content[i+1].HeadComment, m.Content[i+1].LineComment, m.Content[i+1].FootComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

func deleteMapValue(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}
