package metrics

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
)

func openTestHistory(t *testing.T, now *time.Time, tiers []Tier) *History {
	t.Helper()
	h, err := OpenHistory(filepath.Join(t.TempDir(), "metrics.db"), HistoryOptions{Tiers: tiers, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestHistoryRollupAndRetention writes two hours of 10 s samples into a
// real SQLite file and checks the minute and hour tiers computed from
// them, what retention deletes, and which tier a query reads.
func TestHistoryRollupAndRetention(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := start
	tiers := []Tier{
		{Name: "s10", Step: 10 * time.Second, Keep: time.Hour},
		{Name: "m1", Step: time.Minute, Keep: 3 * time.Hour},
		{Name: "h1", Step: time.Hour, Keep: 48 * time.Hour},
	}
	h := openTestHistory(t, &now, tiers)
	web := L("instance", "shop-prod", "service", "web")
	// cpu rises 0..719 by one per sample; requests alternate 0 and 6.
	for i := range 720 {
		now = start.Add(time.Duration(i) * 10 * time.Second)
		err := h.Append(ctx, now, []Sample{
			{Name: MCPU, Labels: web, Value: float64(i)},
			{Name: MRequests, Labels: web, Value: float64(6 * (i % 2)), Delta: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		if i%6 == 5 {
			if err := h.Rollup(ctx, now.Add(10*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	now = start.Add(2 * time.Hour)
	if err := h.Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	count := func(table string) (n int) {
		t.Helper()
		if err := h.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The raw tier keeps one hour: 360 cpu rows and 180 non-zero requests rows.
	if got := count("s10"); got != 360+180 {
		t.Errorf("s10 rows = %d, want 540 (one hour; zero deltas not stored)", got)
	}
	if got := count("m1"); got != 2*120 {
		t.Errorf("m1 rows = %d, want 240", got)
	}
	if got := count("h1"); got != 2*2 {
		t.Errorf("h1 rows = %d, want 4", got)
	}
	var mn, mx, sum float64
	var n int64
	if err := h.db.QueryRow(`SELECT min, max, sum, count FROM h1 WHERE ts = ? AND series_id = (SELECT id FROM series WHERE name = ?)`,
		start.Unix(), MCPU).Scan(&mn, &mx, &sum, &n); err != nil {
		t.Fatal(err)
	}
	if mn != 0 || mx != 359 || sum != 359*360/2 || n != 360 {
		t.Errorf("first hour of cpu: min %v max %v sum %v count %d, want 0 359 %d 360", mn, mx, sum, n, 359*360/2)
	}

	// A 30-minute query ending now reads the raw tier; a 2-hour one the
	// minute tier (the raw rows of its first hour are gone).
	series, step, err := h.Query(ctx, Query{Names: []string{MRequests}, Match: L("service", "web"), From: now.Add(-30 * time.Minute), To: now})
	if err != nil {
		t.Fatal(err)
	}
	if step != 10*time.Second || len(series) != 1 || len(series[0].Points) != 90 {
		t.Fatalf("30 min: step %v, %d series, want 10s and 90 points: %+v", step, len(series), series)
	}
	series, step, err = h.Query(ctx, Query{Names: []string{MRequests}, From: now.Add(-2 * time.Hour), To: now, MaxPoints: 60})
	if err != nil {
		t.Fatal(err)
	}
	if step != 2*time.Minute || len(series) != 1 || len(series[0].Points) != 60 {
		t.Fatalf("2 h in 60 points: step %v, %+v", step, series)
	}
	for _, p := range series[0].Points {
		if p.Sum != 36 { // 2 minutes × 6 samples × half of them 6
			t.Fatalf("2-minute request sum = %v at %v, want 36", p.Sum, p.T)
		}
	}

	// Past every tier's keep, nothing is left.
	now = start.Add(60 * time.Hour)
	if err := h.Rollup(ctx, now); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"s10", "m1", "h1"} {
		if got := count(tb); got != 0 {
			t.Errorf("%s keeps %d rows past its retention", tb, got)
		}
	}
}

func TestHistoryReopenKeepsSeries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "metrics.db")
	now := time.Now()
	h, err := OpenHistory(path, HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Append(ctx, now, []Sample{{Name: MMemory, Labels: L("instance", "a"), Value: 42}}); err != nil {
		t.Fatal(err)
	}
	_ = h.Close()
	h, err = OpenHistory(path, HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	if err := h.Append(ctx, now.Add(10*time.Second), []Sample{{Name: MMemory, Labels: L("instance", "a"), Value: 43}}); err != nil {
		t.Fatal(err)
	}
	if h.SeriesCount() != 1 {
		t.Fatalf("series = %d after reopening, want 1", h.SeriesCount())
	}
	s, _, err := h.Query(ctx, Query{From: now.Add(-time.Minute), To: now.Add(time.Minute)})
	if err != nil || len(s) != 1 || len(s[0].Points) != 2 {
		t.Fatalf("query: %v %+v", err, s)
	}
}

func TestHistoryMaxSeries(t *testing.T) {
	now := time.Now()
	h, err := OpenHistory(filepath.Join(t.TempDir(), "m.db"), HistoryOptions{MaxSeries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Close() }()
	var ss []Sample
	for _, n := range []string{"a", "b", "c"} {
		ss = append(ss, Sample{Name: n, Value: 1})
	}
	if err := h.Append(context.Background(), now, ss); err != nil {
		t.Fatal(err)
	}
	if h.SeriesCount() != 2 {
		t.Fatalf("series = %d, want the bound 2", h.SeriesCount())
	}
}

func TestLabelsRoundTrip(t *testing.T) {
	for _, ls := range []Labels{
		nil,
		L("instance", "acme/shop-prod", "service", "web"),
		L("a", `x,y=z\w`, "b", ""),
	} {
		if got := ParseLabels(ls.String()); got.String() != ls.String() || len(got) != len(ls) {
			t.Errorf("%q → %q", ls.String(), got.String())
		}
	}
}

func TestTiersFor(t *testing.T) {
	tiers := TiersFor(48 * time.Hour)
	if tiers[0].Keep != 24*time.Hour || tiers[1].Keep != 48*time.Hour || tiers[2].Keep != 48*time.Hour {
		t.Fatalf("TiersFor(48h) = %+v", tiers)
	}
	if got := TiersFor(0); got[2].Keep != DefaultRetention {
		t.Fatalf("TiersFor(0) = %+v", got)
	}
}

func TestQuantile(t *testing.T) {
	var b [proxyBuckets]uint64
	b[2] = 100 // all between 1 ms and 2.5 ms
	got := quantile(0.95, b[:])
	if got < time.Millisecond || got > 2500*time.Microsecond {
		t.Fatalf("p95 = %v, want within the bucket", got)
	}
	if quantile(0.95, make([]uint64, proxyBuckets)) != 0 {
		t.Fatal("p95 of nothing")
	}
}

const proxyBuckets = proxy.NumLatencyBuckets

// TestHistoryFoldsSamplesOfOneStep samples three times within one raw
// step, as a collector faster than the finest tier does.
func TestHistoryFoldsSamplesOfOneStep(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	h := openTestHistory(t, &now, nil)
	for i, v := range []float64{4, 1, 7} {
		if err := h.Append(ctx, now.Add(time.Duration(i)*time.Second), []Sample{
			{Name: MMemory, Value: v}, {Name: MRequests, Value: v, Delta: true},
		}); err != nil {
			t.Fatal(err)
		}
	}
	s, _, err := h.Query(ctx, Query{From: now.Add(-time.Minute), To: now.Add(time.Minute)})
	if err != nil || len(s) != 2 {
		t.Fatalf("%v %+v", err, s)
	}
	for _, ser := range s {
		p := ser.Points[0]
		if len(ser.Points) != 1 || p.Min != 1 || p.Max != 7 || p.Sum != 12 || p.Count != 3 {
			t.Errorf("%s: %+v, want one row of min 1 max 7 sum 12 count 3", ser.Name, ser.Points)
		}
	}
}
