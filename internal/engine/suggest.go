package engine

import (
	"slices"
	"sort"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// suggest returns up to three known names close to name: those within a
// small edit distance, or containing it, closest first, each once (callers
// gather names from several places: a service of the active release that
// also has replicas).
func suggest(name string, known []string) []string {
	known = slices.Compact(slices.Sorted(slices.Values(known)))
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	lname := strings.ToLower(name)
	limit := max(2, len(name)/3)
	for _, k := range known {
		if k == name {
			continue
		}
		lk := strings.ToLower(k)
		d := stack.EditDistance(lname, lk)
		if d <= limit || (len(lname) >= 3 && strings.Contains(lk, lname)) {
			cands = append(cands, cand{k, d})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].name < cands[j].name
	})
	var out []string
	for i := 0; i < len(cands) && i < 3; i++ {
		out = append(out, cands[i].name)
	}
	return out
}
