// Package version holds the build's version and commit, set with -ldflags
// -X by the Makefile, or else read from what the Go toolchain recorded in
// the binary. It imports nothing of quai.
package version

import (
	"runtime/debug"
	"strings"
)

// Version and Commit are stamped at build time.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Build describes the running binary.
type Build struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Modified: built from a checkout with uncommitted changes.
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// Get returns the stamped version and commit. A binary built without the
// Makefile (go build, go install) has them from its build info instead:
// the module version go install or the VCS stamp of go build recorded, and
// the commit it was built from.
func Get() Build {
	b := Build{Version: Version, Commit: Commit}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = info.GoVersion
	return fromBuildInfo(b, info)
}

// fromBuildInfo fills what b lacks from info.
func fromBuildInfo(b Build, info *debug.BuildInfo) Build {
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "unknown" {
				b.Commit = s.Value[:min(len(s.Value), 12)]
			}
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the one-line form `quai version` and `quai --version` print.
func (b Build) String() string {
	s := "quai " + b.Version
	var parts []string
	if b.Commit != "unknown" {
		c := "commit " + b.Commit
		if b.Modified && !strings.HasSuffix(b.Version, "dirty") {
			c += " with local changes"
		}
		parts = append(parts, c)
	}
	if b.Version == "dev" && b.Commit == "unknown" {
		parts = append(parts, "built from source without version information")
	}
	if b.Go != "" {
		parts = append(parts, b.Go)
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}
