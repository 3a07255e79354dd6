package stack

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every *LoadError: the stack files
// exist but do not describe a valid stack.
var ErrInvalid = errors.New("invalid stack")

// ErrNoComposeFile is returned when the project directory holds no Compose
// file.
var ErrNoComposeFile = errors.New("no compose file")

// Diagnostic is one problem found while loading a stack: where, which key,
// what is wrong and how to fix it.
type Diagnostic struct {
	Pos Position `json:"pos"`
	// Path is the dot-separated key path ("services.web.x-quai.size"); empty
	// when the problem is not about one key.
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// String renders the diagnostic as "file:line:col: key: message (hint: ...)".
func (d Diagnostic) String() string {
	var b strings.Builder
	if s := d.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(d.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// LoadError holds every problem found in a stack, sorted by file (in load
// order), line and column. It matches ErrInvalid.
type LoadError struct {
	// Dir is the project directory the positions are relative to.
	Dir         string
	Diagnostics []Diagnostic
}

// Error prints one diagnostic per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true for every LoadError.
func (e *LoadError) Is(target error) bool { return target == ErrInvalid }

// diagnostics collects problems while loading; files gives the sort order.
type diagnostics struct {
	list []Diagnostic
}

func (ds *diagnostics) add(pos Position, path, hint, format string, args ...any) {
	ds.list = append(ds.list, Diagnostic{Pos: pos, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// err returns the collected problems as a *LoadError, or nil when there are
// none. Positions in files earlier in the load order sort first; unknown
// positions sort last within their file.
func (ds *diagnostics) err(dir string, files []string) error {
	if len(ds.list) == 0 {
		return nil
	}
	order := func(f string) int {
		if i := slices.Index(files, f); i >= 0 {
			return i
		}
		return len(files)
	}
	list := slices.Clone(ds.list)
	slices.SortStableFunc(list, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(order(a.Pos.File), order(b.Pos.File)),
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(lineOrMax(a.Pos.Line), lineOrMax(b.Pos.Line)),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
		)
	})
	list = slices.CompactFunc(list, func(a, b Diagnostic) bool { return a == b })
	return &LoadError{Dir: dir, Diagnostics: list}
}

func lineOrMax(l int) int {
	if l == 0 {
		return int(^uint(0) >> 1)
	}
	return l
}

// didYouMean returns a hint naming the candidate closest to s, or "" when
// none is close enough to be a plausible typo.
func didYouMean(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := EditDistance(strings.ToLower(s), strings.ToLower(c))
		if bestDist < 0 || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	limit := max(1, min(3, len(s)/3))
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return fmt.Sprintf("did you mean %q?", best)
}

// EditDistance is the Levenshtein distance between a and b, counted in runes
// so that a typo in a non-ASCII name costs one edit, not one per byte. Every
// did-you-mean hint in quai ranks its candidates with it.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// joinHints joins the non-empty hints with "; ".
func joinHints(hints ...string) string {
	var out []string
	for _, h := range hints {
		if h != "" {
			out = append(out, h)
		}
	}
	return strings.Join(out, "; ")
}

// quoteList renders names as `"a", "b" or "c"`.
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	default:
		return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
	}
}
