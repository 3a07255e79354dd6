//go:build linux

package memtrim

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

// resident is the executable's resident bytes in read-only private
// mappings, and the bytes of pages it holds of its own anywhere.
func resident(t *testing.T) (ro, own int64) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := readSmaps(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) == 0 {
		t.Fatalf("no mapping of %s in /proc/self/smaps", exe)
	}
	for _, m := range maps {
		if m.perms[1] == '-' {
			ro += m.rss
		}
		own += m.anon
	}
	return ro, own
}

// TestTrimDropsTheExecutablesCleanPages: after Trim the executable's
// read-only mappings hold fewer resident pages, the writable ones are left
// alone (no page of the process's own is lost), and the process runs on:
// code and data it uses come back from the file.
func TestTrimDropsTheExecutablesCleanPages(t *testing.T) {
	before, ownBefore := resident(t)
	res, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	after, ownAfter := resident(t)
	t.Logf("trimmed %d mappings holding %d KiB; read-only resident %d → %d KiB; own pages %d → %d KiB",
		res.Mappings, res.Bytes>>10, before>>10, after>>10, ownBefore>>10, ownAfter>>10)
	if res.Mappings == 0 || res.Bytes == 0 {
		t.Fatalf("Trim = %+v: want the executable's text and read-only data trimmed", res)
	}
	if after >= before {
		t.Errorf("read-only resident bytes %d after Trim, %d before: want fewer", after, before)
	}
	if ownAfter < ownBefore {
		t.Errorf("the executable's own (written) pages went from %d to %d bytes: Trim must not touch them", ownBefore, ownAfter)
	}
	// The process runs on: a collection walks every stack and the data
	// segment, formatting uses the read-only tables.
	runtime.GC()
	if got := strings.Repeat("ab", 3); got != "ababab" {
		t.Fatalf("after Trim: %q", got)
	}
}

func TestTrimmable(t *testing.T) {
	for _, c := range []struct {
		m    mapping
		want bool
	}{
		{mapping{perms: "r-xp", rss: 4096}, true},
		{mapping{perms: "r--p", rss: 4096}, true},
		{mapping{perms: "rw-p", rss: 4096}, false},             // data: written pages
		{mapping{perms: "r--p", rss: 8192, anon: 4096}, false}, // relocated after load
		{mapping{perms: "r--s", rss: 4096}, false},             // shared
		{mapping{perms: "r-xp"}, false},                        // nothing resident
	} {
		if got := c.m.trimmable(); got != c.want {
			t.Errorf("%+v trimmable = %v, want %v", c.m, got, c.want)
		}
	}
}
