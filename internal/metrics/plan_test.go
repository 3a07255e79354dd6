package metrics

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestRollupAndRetentionSeekBySeries checks SQLite's plan for the
// statements the history runs every minute: a scan of a whole tier would
// read millions of rows each time on a busy host.
func TestRollupAndRetentionSeekBySeries(t *testing.T) {
	h, err := OpenHistory(filepath.Join(t.TempDir(), "m.db"), HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	for _, q := range []string{
		`SELECT r.series_id, r.ts / 60 * 60, min(coalesce(r.min, r.sum)), max(coalesce(r.max, r.sum)), sum(r.sum), sum(r.count)
			FROM series s CROSS JOIN s10 r ON r.series_id = s.id WHERE r.ts >= 0 AND r.ts < 60 GROUP BY r.series_id, r.ts / 60`,
		`DELETE FROM s10 WHERE series_id IN (SELECT id FROM series) AND ts < 0`,
	} {
		rows, err := h.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		_ = rows.Close()
		all := strings.Join(plan, "; ")
		if strings.Contains(all, "SCAN r") || strings.Contains(all, "SCAN s10") {
			t.Errorf("%s\nscans the tier: %s", q, all)
		}
		t.Logf("plan: %s", all)
	}
}
