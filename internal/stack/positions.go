package stack

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	yaml4 "go.yaml.in/yaml/v4"
)

// posIndex records, for every key path of the merged document, where the
// file that last set it wrote it. Files are added in load order, so later
// files override earlier ones, the way Compose merges them.
type posIndex struct {
	keys map[string]Position
	// seqLen is the merged length of each sequence so far: Compose appends
	// an overlay's sequence to the base one, so an overlay's item 0 is the
	// merged item seqLen.
	seqLen map[string]int
}

func newPosIndex() *posIndex {
	return &posIndex{keys: map[string]Position{}, seqLen: map[string]int{}}
}

// parseYAML parses one stack file into a node tree, turning a syntax error
// into a diagnostic with its line.
func parseYAML(rel string, content []byte) (*yaml.Node, *Diagnostic) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		// yaml.v3 reports the line of the enclosing block for parser errors;
		// the parser compose-go uses (yaml v4) names the problem's own
		// position, so take the message from it.
		var n yaml4.Node
		if err4 := yaml4.Unmarshal(content, &n); err4 != nil {
			err = err4
		}
		return nil, yamlDiagnostic(rel, err.Error())
	}
	return &doc, nil
}

var (
	markRe       = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)
	contextRe    = regexp.MustCompile(`^(while [^:]*?) at line \d+(?:, column \d+)?: `)
	leadingRe    = regexp.MustCompile(`^(?:line \d+(?:, column \d+)?: )+`)
	duplicateRe  = regexp.MustCompile(`line (\d+): mapping key "([^"]*)" already defined at line (\d+)`)
	constructsRe = regexp.MustCompile(`^(?:unmarshal|construct) errors:\s*`)
)

// yamlDiagnostic turns a YAML parser message into a diagnostic at the line
// and column it names.
func yamlDiagnostic(rel, msg string) *Diagnostic {
	msg = strings.TrimPrefix(strings.TrimSpace(msg), "yaml: ")
	msg = constructsRe.ReplaceAllString(msg, "")
	pos := Position{File: rel}
	hint := "check the indentation and quoting on this line and the one before it; indent with spaces, not tabs"
	if m := duplicateRe.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		pos.Column = 1
		return &Diagnostic{Pos: pos, Message: fmt.Sprintf("key %q is written twice in the same mapping (first at line %s)", m[2], m[3]), Hint: "remove one of them; to override a value, use an overlay file"}
	}
	context := ""
	if m := contextRe.FindStringSubmatch(msg); m != nil {
		context = m[1]
	}
	marks := markRe.FindAllStringSubmatch(msg, -1)
	if len(marks) > 0 {
		mark := marks[len(marks)-1]
		if strings.HasSuffix(msg, "found unexpected end of stream") {
			// The end of the file says nothing: point at what was left open.
			mark = marks[0]
		}
		pos.Line, _ = strconv.Atoi(mark[1])
		pos.Column, _ = strconv.Atoi(mark[2])
		if strings.HasPrefix(context, "while parsing") {
			// The parser's line numbers start at 0, its scanner's at 1.
			pos.Line++
		}
		pos.Column = max(pos.Column, 1)
	}
	text := leadingRe.ReplaceAllString(contextRe.ReplaceAllString(msg, ""), "")
	if context != "" {
		text += " (" + context + ")"
	}
	return &Diagnostic{Pos: pos, Message: "invalid YAML: " + text, Hint: hint}
}

// add indexes one parsed file.
func (x *posIndex) add(rel string, doc *yaml.Node) {
	if doc == nil || len(doc.Content) == 0 {
		return
	}
	x.walk(rel, "", doc.Content[0], 0)
}

// maxIndexDepth bounds recursion on hostile input (deeply nested or
// self-referencing aliases).
const maxIndexDepth = 64

func (x *posIndex) walk(rel, path string, n *yaml.Node, depth int) {
	if depth > maxIndexDepth {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias != nil {
			x.walk(rel, path, n.Alias, depth+1)
		}
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				// A merge key brings the aliased mapping's keys in at this level.
				x.walk(rel, path, v, depth+1)
				continue
			}
			p := joinPath(path, k.Value)
			x.keys[p] = Position{File: rel, Line: k.Line, Column: k.Column}
			x.walk(rel, p, v, depth+1)
		}
	case yaml.SequenceNode:
		offset := x.seqLen[path]
		if n.Tag == "!override" || n.Tag == "!reset" {
			offset = 0
		}
		for j, item := range n.Content {
			p := joinPath(path, strconv.Itoa(offset+j))
			x.keys[p] = Position{File: rel, Line: item.Line, Column: item.Column}
			// environment, labels and friends may be written as KEY=VALUE
			// lists; index them by key as well, the form lint asks for.
			if item.Kind == yaml.ScalarNode && isKeyValueList(path) {
				if k, _, ok := strings.Cut(item.Value, "="); ok && k != "" {
					x.keys[joinPath(path, k)] = Position{File: rel, Line: item.Line, Column: item.Column}
				} else if item.Value != "" {
					x.keys[joinPath(path, item.Value)] = Position{File: rel, Line: item.Line, Column: item.Column}
				}
			}
			x.walk(rel, p, item, depth+1)
		}
		x.seqLen[path] = offset + len(n.Content)
	}
}

func isKeyValueList(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	switch last {
	case "environment", "labels", "args", "depends_on", "secrets", "sysctls", "annotations":
		return true
	}
	return false
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// lookup returns the position of path, or of its nearest known ancestor.
// A "[]" segment (compose-go's notation for "any list item") matches the
// first item that has the rest of the path.
func (x *posIndex) lookup(path string) Position {
	for p := path; p != ""; p = parentPath(p) {
		if !strings.Contains(p, "[]") {
			if pos, ok := x.keys[p]; ok {
				return pos
			}
			continue
		}
		if pos, ok := x.lookupWildcard(p); ok {
			return pos
		}
	}
	return Position{}
}

func (x *posIndex) lookupWildcard(p string) (Position, bool) {
	prefix, rest, _ := strings.Cut(p, "[]")
	prefix = strings.TrimSuffix(prefix, ".")
	for i := range x.seqLen[prefix] {
		candidate := joinPath(prefix, strconv.Itoa(i)) + rest
		if strings.Contains(rest, "[]") {
			if pos, ok := x.lookupWildcard(candidate); ok {
				return pos, true
			}
			continue
		}
		if pos, ok := x.keys[candidate]; ok {
			return pos, true
		}
	}
	return Position{}, false
}
