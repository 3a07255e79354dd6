//go:build linux

package proxy

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxFileLimit caps the soft limit asked for when the hard one is
// unlimited or huge.
const maxFileLimit = 1 << 20

// RaiseFileLimit raises the soft limit on open files to the hard one,
// which Go (1.19 and later) does at start already; it remains to do when
// that failed, as when the hard limit is unlimited or above what the
// kernel allows (fs.nr_open). prlimit leaves Go's record of the original
// limit alone, so processes the daemon or proxy starts (replica supervisors, the
// apps) still get the original soft limit. It returns the limit in effect.
func RaiseFileLimit() (cur, hard uint64) {
	var l unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &l); err != nil {
		return 0, 0
	}
	if l.Cur >= l.Max {
		return l.Cur, l.Max
	}
	want := min(l.Max, maxFileLimit)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			want = min(want, n)
		}
	}
	if want <= l.Cur {
		return l.Cur, l.Max
	}
	next := unix.Rlimit{Cur: want, Max: l.Max}
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &next, nil); err != nil {
		return l.Cur, l.Max
	}
	return want, l.Max
}
