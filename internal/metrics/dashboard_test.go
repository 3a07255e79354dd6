package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardUsesExposedNames reads the Grafana dashboard in docs/ and
// checks that every metric its queries name is one the listener exposes.
func TestDashboardUsesExposedNames(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	known := map[string]bool{"process_resident_memory_bytes": true}
	nameRe := regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)
	for _, d := range descs {
		m := nameRe.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		known[m[1]] = true
	}
	used := regexp.MustCompile(`\b(quai_[a-z0-9_]+|process_[a-z0-9_]+|go_[a-z0-9_]+)\b`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range used.FindAllString(tg.Expr, -1) {
				n++
				base := name
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suf); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q queries %s, which quai does not expose", p.Title, name)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d metric names found in the dashboard's queries", n)
	}
}
