package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStat is the part of /proc/<pid>/stat the runtime needs.
type procStat struct {
	State byte
	Pgrp  int
	// UTime and STime are CPU time in clock ticks.
	UTime, STime uint64
	// StartTime is the process start time in clock ticks since boot; with the
	// pid it names a process unambiguously, because pids are recycled.
	StartTime uint64
	// RSSPages is the resident set size in pages.
	RSSPages int64
}

// errNoProcess is returned when /proc has no such live process.
var errNoProcess = errors.New("no such process")

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc on every
// architecture the runtime supports.
const clockTicks = 100

func readProcStat(pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, errNoProcess
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return procStat{}, errNoProcess
		}
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses a /proc/<pid>/stat line. The command name is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procStat{}, fmt.Errorf("malformed /proc stat line %q", b)
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state) of proc(5).
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("short /proc stat line %q", b)
	}
	var st procStat
	var err error
	num := func(s string) uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = strconv.ParseUint(s, 10, 64)
		return v
	}
	st.State = f[0][0]
	st.Pgrp = int(num(f[2]))
	st.UTime = num(f[11])
	st.STime = num(f[12])
	st.StartTime = num(f[19])
	rss, rerr := strconv.ParseInt(f[21], 10, 64)
	if err != nil || rerr != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat line %q", b)
	}
	st.RSSPages = rss
	return st, nil
}

// alive reports whether pid is a live (not zombie) process that started at
// startTime.
func alive(pid int, startTime uint64) bool {
	st, err := readProcStat(pid)
	if err != nil {
		return false
	}
	return st.StartTime == startTime && st.State != 'Z' && st.State != 'X'
}

// groupUsage sums CPU ticks and resident pages of every process in process
// group pgid. Scanning /proc costs about a millisecond on a typical host,
// cheap enough for Inspect.
func groupUsage(pgid int) (ticks uint64, rssPages int64) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.Pgrp != pgid {
			continue
		}
		ticks += st.UTime + st.STime
		rssPages += st.RSSPages
	}
	return ticks, rssPages
}
