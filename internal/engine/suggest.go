package engine

import (
	"sort"
	"strings"
)

// suggest returns up to three known names close to name: those within a
// small edit distance, or containing it, closest first.
func suggest(name string, known []string) []string {
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
		d := editDistance(lname, lk)
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

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
