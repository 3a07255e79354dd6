package memtrim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Result says what Trim did.
type Result struct {
	// Mappings is how many mappings of the executable were trimmed.
	Mappings int
	// Bytes is how many of their bytes were resident before.
	Bytes int64
}

// Trim drops the resident pages of the executable's read-only mappings
// from this process. Call it once the process is up and serving.
func Trim() (Result, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Result{}, fmt.Errorf("trim: finding the executable: %w", err)
	}
	maps, err := readSmaps(exe)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, m := range maps {
		if !m.trimmable() {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); e != 0 {
			return res, fmt.Errorf("trim: madvise %x-%x of %s: %w", m.start, m.end, exe, e)
		}
		res.Mappings++
		res.Bytes += m.rss
	}
	return res, nil
}

// mapping is one /proc/self/smaps entry of the executable.
type mapping struct {
	start, end uintptr
	perms      string
	rss, anon  int64 // bytes
}

// trimmable: private, not writable, and every resident page the file's.
func (m mapping) trimmable() bool {
	return len(m.perms) == 4 && m.perms[1] == '-' && m.perms[3] == 'p' && m.anon == 0 && m.rss > 0
}

// readSmaps returns the mappings of the file at path, from
// /proc/self/smaps.
func readSmaps(path string) ([]mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, fmt.Errorf("trim: %w", err)
	}
	defer func() { _ = f.Close() }()
	var out []mapping
	var cur *mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if !strings.HasSuffix(fs[0], ":") {
			// A mapping's header: address perms offset dev inode path.
			cur = nil
			if len(fs) < 6 || strings.Join(fs[5:], " ") != path {
				continue
			}
			lo, hi, ok := strings.Cut(fs[0], "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if !ok || err1 != nil || err2 != nil {
				return nil, fmt.Errorf("trim: unexpected line in /proc/self/smaps: %q", line)
			}
			out = append(out, mapping{start: uintptr(a), end: uintptr(b), perms: fs[1]})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil || len(fs) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil {
			continue
		}
		switch fs[0] {
		case "Rss:":
			cur.rss = kb << 10
		case "Anonymous:":
			cur.anon = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trim: reading /proc/self/smaps: %w", err)
	}
	return out, nil
}
