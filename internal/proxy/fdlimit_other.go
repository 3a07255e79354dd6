//go:build !(linux || darwin || freebsd)

package proxy

// fileLimit is a usual limit where the process's cannot be read.
func fileLimit() uint64 { return 8192 }
