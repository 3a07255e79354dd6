package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The tree mirrors the one sops builds from a YAML file, because the MAC is
// a hash of the values in the order sops walks them, and comments are items
// of that tree (each comment line its own item, encrypted like a value).
// Keeping the same shape is what makes files round-trip between quai and
// sops unchanged.

// comment is one comment line, without its leading '#'. Inline comments sit
// on the line of the value before them.
type comment struct {
	text   string
	inline bool
}

// item is one entry of a mapping: key is a string, or a comment (then value
// is nil).
type item struct {
	key   any
	value any
}

// branch is a mapping in file order. Values are nil, string, int, float64,
// bool, []byte, time.Time, comment, branch or []any (a sequence whose
// elements may be comments).
type branch []item

// Limits that keep a hostile file from costing more than a real one could:
// aliases may make a small file expand into a huge tree.
const (
	maxNodes = 1 << 20
	maxDepth = 200
)

var errTooBig = errors.New("document too large or too deeply nested after alias expansion")

type loader struct{ nodes int }

// parseYAML reads every document of a YAML (or JSON) file into branches.
func parseYAML(data []byte) ([]branch, error) {
	// Decoding into a map first makes the decoder refuse duplicate keys and
	// self-referencing aliases, as sops does.
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&map[string]any{}); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	var out []branch
	l := &loader{}
	d := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := d.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		b, err := l.appendToBranch(&doc, nil, false, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func commentLines(c string, inline bool, yield func(comment)) {
	for line := range strings.SplitSeq(c, "\n") {
		if line != "" {
			yield(comment{text: line[1:], inline: inline})
		}
	}
}

func (b branch) withComments(c string, inline bool) branch {
	commentLines(c, inline, func(cm comment) { b = append(b, item{key: cm}) })
	return b
}

func withComments(list []any, c string, inline bool) []any {
	commentLines(c, inline, func(cm comment) { list = append(list, cm) })
	return list
}

func (l *loader) count(depth int) error {
	l.nodes++
	if l.nodes > maxNodes || depth > maxDepth {
		return errTooBig
	}
	return nil
}

func (l *loader) value(n *yaml.Node, commentsHandled bool, depth int) (any, error) {
	if err := l.count(depth); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.SequenceNode:
		var list []any
		if !commentsHandled {
			list = withComments(list, n.HeadComment, false)
			list = withComments(list, n.LineComment, false)
		}
		for _, c := range n.Content {
			list = withComments(list, c.HeadComment, false)
			list = withComments(list, c.LineComment, true)
			v, err := l.value(c, true, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			list = withComments(list, c.FootComment, false)
		}
		if !commentsHandled {
			list = withComments(list, n.FootComment, false)
		}
		return list, nil
	case yaml.MappingNode:
		return l.appendToBranch(n, branch{}, commentsHandled, depth)
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	case yaml.AliasNode:
		return l.value(n.Alias, false, depth+1)
	}
	return nil, nil
}

func (l *loader) appendToBranch(n *yaml.Node, b branch, commentsHandled bool, depth int) (branch, error) {
	if err := l.count(depth); err != nil {
		return nil, err
	}
	if !commentsHandled {
		b = b.withComments(n.HeadComment, false)
		b = b.withComments(n.LineComment, false)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			var err error
			if b, err = l.appendToBranch(c, b, false, depth+1); err != nil {
				return nil, err
			}
		}
	case yaml.SequenceNode:
		return nil, errors.New("a document that is a sequence is not supported: the top level must be a mapping")
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			b = b.withComments(k.HeadComment, false)
			b = b.withComments(k.LineComment, false)
			scalarLike := v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode
			if scalarLike {
				b = b.withComments(v.HeadComment, false)
				b = b.withComments(v.LineComment, true)
			}
			var key any
			if err := k.Decode(&key); err != nil {
				return nil, err
			}
			if _, ok := key.(string); !ok {
				return nil, fmt.Errorf("line %d: key %v is a %T; only string keys are supported", k.Line, key, key)
			}
			val, err := l.value(v, scalarLike, depth+1)
			if err != nil {
				return nil, err
			}
			b = append(b, item{key: key, value: val})
			if scalarLike {
				b = b.withComments(v.FootComment, false)
			}
			b = b.withComments(k.FootComment, false)
		}
	case yaml.ScalarNode:
		// An empty document with a start marker and no comments is null.
		if n.ShortTag() == "!!null" {
			return b, nil
		}
		return nil, errors.New("a document that is a single value is not supported: the top level must be a mapping")
	case yaml.AliasNode:
		return l.appendToBranch(n.Alias, b, false, depth+1)
	}
	if !commentsHandled {
		b = b.withComments(n.FootComment, false)
	}
	return b, nil
}

// emitYAML writes branches as YAML documents the way sops does (indent 4,
// comments placed back as head, line and foot comments).
func emitYAML(branches []branch) ([]byte, error) {
	var buf bytes.Buffer
	e := yaml.NewEncoder(&buf)
	e.SetIndent(4)
	for _, b := range branches {
		m := &yaml.Node{Kind: yaml.MappingNode}
		if err := appendBranch(b, m); err != nil {
			return nil, err
		}
		if err := e.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}); err != nil {
			return nil, err
		}
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func joinComments(cs []string) string { return "#" + strings.Join(cs, "\n#") }

func addHead(n *yaml.Node, cs []string) {
	if len(cs) == 0 {
		return
	}
	c := joinComments(cs)
	if n.HeadComment != "" {
		c += "\n" + n.HeadComment
	}
	n.HeadComment = c
}

func addLine(n *yaml.Node, cs []string) {
	if len(cs) == 0 {
		return
	}
	if n.LineComment != "" {
		n.LineComment += "\n"
	}
	n.LineComment += joinComments(cs)
}

func addFoot(n *yaml.Node, cs []string) {
	if len(cs) == 0 {
		return
	}
	if n.FootComment != "" {
		n.FootComment += "\n"
	}
	n.FootComment += joinComments(cs)
}

func valueNode(v any) (*yaml.Node, error) {
	switch v := v.(type) {
	case branch:
		m := &yaml.Node{Kind: yaml.MappingNode}
		return m, appendBranch(v, m)
	case []any:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		return s, appendSequence(v, s)
	default:
		n := &yaml.Node{}
		return n, n.Encode(v)
	}
}

func appendSequence(list []any, seq *yaml.Node) error {
	var head, inline []string
	first := true
	for _, v := range list {
		if c, ok := v.(comment); ok {
			if c.inline {
				inline = append(inline, c.text)
			} else {
				head = append(head, c.text)
			}
			continue
		}
		if first {
			addHead(seq, head)
			head, first = nil, false
		}
		n, err := valueNode(v)
		if err != nil {
			return err
		}
		addHead(n, head)
		addLine(n, inline)
		head, inline = nil, nil
		seq.Content = append(seq.Content, n)
	}
	head = append(head, inline...)
	if first {
		addHead(seq, head)
	} else {
		addFoot(seq.Content[len(seq.Content)-1], head)
	}
	return nil
}

func appendBranch(b branch, m *yaml.Node) error {
	var head, inline []string
	first := true
	for _, it := range b {
		if c, ok := it.key.(comment); ok {
			if c.inline {
				inline = append(inline, c.text)
			} else {
				head = append(head, c.text)
			}
			continue
		}
		if first {
			addHead(m, head)
			head, first = nil, false
		}
		k := &yaml.Node{}
		if err := k.Encode(it.key); err != nil {
			return err
		}
		addHead(k, head)
		v, err := valueNode(it.value)
		if err != nil {
			return err
		}
		addLine(v, inline)
		head, inline = nil, nil
		m.Content = append(m.Content, k, v)
	}
	head = append(head, inline...)
	if first {
		addHead(m, head)
	} else {
		addFoot(m.Content[len(m.Content)-2], head)
	}
	return nil
}
