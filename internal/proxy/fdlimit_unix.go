//go:build linux || darwin || freebsd

package proxy

import "syscall"

// fileLimit is the process's soft limit on open files.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1024
	}
	return uint64(l.Cur) //nolint:unconvert // int64 on some systems
}
