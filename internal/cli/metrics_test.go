package cli

import (
	"math"
	"testing"
	"time"
)

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vs     []float64
		lo, hi float64
		want   string
	}{
		{"scaled", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 0, 7, "▁▂▃▄▅▆▇█"},
		{"gap", []float64{0, math.NaN(), 7}, 0, 7, "▁ █"},
		{"flat zero", []float64{0, 0}, 0, 0, "▁▁"},
		{"flat level", []float64{3, 3}, 3, 3, "▅▅"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sparkline(tc.vs, tc.lo, tc.hi); got != tc.want {
				t.Errorf("sparkline = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSinceValue(t *testing.T) {
	for in, want := range map[string]time.Duration{"6h": 6 * time.Hour, "7d": 7 * 24 * time.Hour, "1.5d": 36 * time.Hour, "90m": 90 * time.Minute} {
		var s sinceValue
		if err := s.Set(in); err != nil || time.Duration(s) != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, time.Duration(s), err, want)
		}
	}
	for _, bad := range []string{"", "-1h", "xd", "0"} {
		var s sinceValue
		if err := s.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestFmtValue(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.0123, "s", "12ms"}, {2.5, "req/s", "2.5 req/s"}, {12.34, "%", "12.3%"}, {0, "B", "0B"}, {0.9, "ratio", "90%"}, {3, "/s", "3/s"}, {math.NaN(), "", "-"},
	} {
		if got := fmtValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("fmtValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}
