package version

import (
	"runtime/debug"
	"testing"
)

// TestFromBuildInfo: a binary built with go build or go install, without
// the Makefile's stamp, still says which version and commit it is.
func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stamp Build
		info  debug.BuildInfo
		want  string
	}{
		{
			name:  "go install of a tag",
			stamp: Build{Version: "dev", Commit: "unknown"},
			info:  debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			want:  "quai v1.2.0 (go1.26.8)",
		},
		{
			name:  "go build in a checkout",
			stamp: Build{Version: "dev", Commit: "unknown"},
			info: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "6968e69aa2b1c3d4e5f6"}, {Key: "vcs.modified", Value: "true"}}},
			want: "quai dev (commit 6968e69aa2b1 with local changes, go1.26.8)",
		},
		{
			name:  "no information at all",
			stamp: Build{Version: "dev", Commit: "unknown"},
			info:  debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want:  "quai dev (built from source without version information, go1.26.8)",
		},
		{
			name:  "the Makefile's stamp wins",
			stamp: Build{Version: "v1.3.0-2-gabc", Commit: "abc1234"},
			info: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-2026"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "ffffffffffffffff"}}},
			want: "quai v1.3.0-2-gabc (commit abc1234, go1.26.8)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.stamp
			b.Go = tc.info.GoVersion
			if got := fromBuildInfo(b, &tc.info).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
