// Package version holds the build's version and commit, set with -ldflags
// -X by the Makefile. It imports nothing of quai.
package version

// Version and Commit are stamped at build time.
var (
	Version = "dev"
	Commit  = "unknown"
)
