package process

import "testing"

func TestHostPathTakesTheLongestMount(t *testing.T) {
	mounts := map[string]string{"/data": "/v/data", "/data/cache": "/v/cache", "/srv/": "/v/srv"}
	for in, want := range map[string]string{
		"/data":         "/v/data",
		"/data/a/b":     "/v/data/a/b",
		"/data/cache/x": "/v/cache/x",
		"/data/cachex":  "/v/data/cachex",
		"/datax":        "/datax",
		"/srv/www":      "/v/srv/www",
		"/etc/app.conf": "/etc/app.conf",
		"/data/cache":   "/v/cache",
	} {
		if got := hostPath(mounts, in); got != want {
			t.Errorf("hostPath(%q) = %q, want %q", in, got, want)
		}
	}
}
