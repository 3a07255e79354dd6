package dump

import (
	"bytes"
	"strings"
	"testing"
)

// TestRDBWriterCutsTheTransferMarker: redis-cli 7.0 writes the 40-byte end
// marker of a diskless transfer after the snapshot on standard output; it
// must be cut, whatever the write sizes, and a snapshot without it must
// pass whole.
func TestRDBWriterCutsTheTransferMarker(t *testing.T) {
	snapshot := append([]byte("REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xfb\x01\x00\x00\x01a\xc0\x01"), 0xFF, 1, 2, 3, 4, 5, 6, 7, 8)
	marker := []byte(strings.Repeat("0123456789abcdef", 3)[:40])
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"with marker", append(append([]byte(nil), snapshot...), marker...)},
		{"without marker", snapshot},
		{"checksum in hex digits without marker", append(append([]byte("REDIS0010"), bytes.Repeat([]byte("\x00"), 60)...), append([]byte{0xFF}, []byte("12345678")...)...)},
	} {
		for _, chunk := range []int{1, 7, 49, 1 << 10} {
			var out bytes.Buffer
			w := &rdbWriter{w: &out}
			for in := tc.in; len(in) > 0; in = in[min(chunk, len(in)):] {
				if _, err := w.Write(in[:min(chunk, len(in))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.finish(); err != nil {
				t.Fatal(err)
			}
			want := tc.in
			if tc.name == "with marker" {
				want = snapshot
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s, writes of %d: got %q, want %q", tc.name, chunk, out.Bytes(), want)
			}
		}
	}
	w := &rdbWriter{w: &bytes.Buffer{}}
	if _, err := w.Write([]byte("-ERR not a snapshot")); err == nil {
		t.Error("a stream that is not an RDB file was taken for one")
	}
	if err := (&rdbWriter{w: &bytes.Buffer{}}).finish(); err == nil {
		t.Error("an empty stream was taken for a snapshot")
	}
}
