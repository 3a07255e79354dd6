package stack

import (
	"context"
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

// add indexes one parsed file. It stops with ctx's error when ctx ends, and
// with a diagnostic when aliases expand the document beyond the budget the
// YAML libraries allow (a "billion laughs" document).
func (x *posIndex) add(ctx context.Context, rel string, doc *yaml.Node) (*Diagnostic, error) {
	if doc == nil || len(doc.Content) == 0 {
		return nil, nil
	}
	w := &indexWalk{posIndex: x, ctx: ctx, rel: rel}
	w.walk("", doc.Content[0], 0)
	return w.bomb, w.err
}

// maxIndexDepth bounds recursion on hostile input (deeply nested or
// self-referencing aliases).
const maxIndexDepth = 64

// The alias budget is yaml.v3's and yaml.v4's (the parser compose-go uses):
// past 1,000 nodes and 100 of them reached through an alias, at most 99% of
// the nodes may come from aliases in documents up to 400,000 nodes, sliding
// down to 10% at 4,000,000. Walking an alias visits its whole target again,
// so without it a few hundred bytes of nested aliases mean billions of nodes.
const (
	aliasRatioLow  = 400_000
	aliasRatioHigh = 4_000_000
)

func allowedAliasRatio(visits int) float64 {
	switch {
	case visits <= aliasRatioLow:
		return 0.99
	case visits >= aliasRatioHigh:
		return 0.10
	default:
		return 0.99 - 0.89*float64(visits-aliasRatioLow)/float64(aliasRatioHigh-aliasRatioLow)
	}
}

// ctxCheckEvery is how many nodes the walk visits between looks at its
// context: often enough to stop at once on Ctrl-C, rarely enough to cost
// nothing.
const ctxCheckEvery = 4096

// indexWalk is one file's walk: its counts, and why it stopped.
type indexWalk struct {
	*posIndex
	ctx context.Context
	rel string
	// visits counts every node walked; aliased those walked below an alias.
	visits, aliased int
	// alias is the outermost alias being expanded, the one a bomb is
	// reported at.
	alias *yaml.Node
	bomb  *Diagnostic
	err   error
}

func (x *indexWalk) stopped() bool { return x.bomb != nil || x.err != nil }

func (x *indexWalk) walk(path string, n *yaml.Node, depth int) {
	if depth > maxIndexDepth || x.stopped() {
		return
	}
	x.visits++
	if x.alias != nil {
		x.aliased++
	}
	if x.aliased > 100 && x.visits > 1000 && float64(x.aliased)/float64(x.visits) > allowedAliasRatio(x.visits) {
		x.bomb = &Diagnostic{
			Pos:     Position{File: x.rel, Line: x.alias.Line, Column: x.alias.Column},
			Message: fmt.Sprintf(`document contains excessive aliasing (a "billion laughs" YAML bomb): by this alias (*%s), aliases repeat %d nodes, more than %.0f%% of the document`, x.alias.Value, x.aliased, 100*allowedAliasRatio(x.visits)),
			Hint:    "write the repeated values out, or reuse them through fewer, flatter anchors",
		}
		return
	}
	if x.visits%ctxCheckEvery == 0 {
		if x.err = x.ctx.Err(); x.err != nil {
			return
		}
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias != nil {
			if x.alias == nil {
				x.alias = n
				defer func() { x.alias = nil }()
			}
			x.walk(path, n.Alias, depth+1)
		}
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content) && !x.stopped(); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				// A merge key brings the aliased mapping's keys in at this level.
				x.walk(path, v, depth+1)
				continue
			}
			p := joinPath(path, k.Value)
			x.keys[p] = Position{File: x.rel, Line: k.Line, Column: k.Column}
			x.walk(p, v, depth+1)
		}
	case yaml.SequenceNode:
		offset := x.seqLen[path]
		if n.Tag == "!override" || n.Tag == "!reset" {
			offset = 0
		}
		for j, item := range n.Content {
			if x.stopped() {
				return
			}
			p := joinPath(path, strconv.Itoa(offset+j))
			x.keys[p] = Position{File: x.rel, Line: item.Line, Column: item.Column}
			// environment, labels and friends may be written as KEY=VALUE
			// lists; index them by key as well, the form lint asks for.
			if item.Kind == yaml.ScalarNode && isKeyValueList(path) {
				if k, _, ok := strings.Cut(item.Value, "="); ok && k != "" {
					x.keys[joinPath(path, k)] = Position{File: x.rel, Line: item.Line, Column: item.Column}
				} else if item.Value != "" {
					x.keys[joinPath(path, item.Value)] = Position{File: x.rel, Line: item.Line, Column: item.Column}
				}
			}
			x.walk(p, item, depth+1)
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
