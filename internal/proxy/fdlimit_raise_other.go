//go:build !linux

package proxy

// RaiseFileLimit leaves the limit to Go, which raises the soft limit to
// the hard one at start (capped to what the system allows on macOS).
func RaiseFileLimit() (cur, hard uint64) { return 0, 0 }
