package proxy

import (
	"slices"
	"strings"
	"testing"
)

// FuzzNegotiate: the chosen encoding is one offered, is never one the
// header refuses (q=0), and a header naming an offered encoding with a
// positive q always gets one.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br, zstd", "zstd;q=0.5, gzip", "*", "gzip;q=0", "*;q=0, gzip", "gzip;q=1.0001", "GZIP;Q=0.3", "br;q=1, identity;q=0", ";;,,q=", "gzip;q=0.", "zstd; q=1.000 ; foo=bar"} {
		f.Add(s)
	}
	offered := []string{EncodingZstd, EncodingGzip}
	f.Fuzz(func(t *testing.T, accept string) {
		got := negotiate([]string{accept}, offered)
		if got == "" {
			for _, enc := range offered {
				if acceptQ([]string{accept}, enc) > 0 {
					t.Fatalf("%q accepts %s but nothing was chosen", accept, enc)
				}
			}
			return
		}
		if !slices.Contains(offered, got) {
			t.Fatalf("%q chose %q", accept, got)
		}
		q := acceptQ([]string{accept}, got)
		if q <= 0 || q > 1000 {
			t.Fatalf("%q chose %s with q %d", accept, got, q)
		}
		for _, enc := range offered {
			if acceptQ([]string{accept}, enc) > q {
				t.Fatalf("%q rates %s above the chosen %s", accept, enc, got)
			}
		}
		// Splitting the header into several lines changes nothing.
		if parts := strings.Split(accept, ","); len(parts) > 1 {
			if again := negotiate(parts, offered); again != got {
				t.Fatalf("%q: one line chose %q, split lines %q", accept, got, again)
			}
		}
	})
}

func TestQValue(t *testing.T) {
	for in, want := range map[string]int{"1": 1000, "0": 0, "0.5": 500, "0.123": 123, "1.000": 1000, "1.001": 0, "0.1234": 0, "2": 0, "": 0, "0.": 0, ".5": 0, "0.5x": 0} {
		if got := qValue(in); got != want {
			t.Errorf("qValue(%q) = %d, want %d", in, got, want)
		}
	}
}
