package cli

import (
	"strings"
	"testing"
)

func TestReleaseImages(t *testing.T) {
	id := "sha256:" + strings.Repeat("ab", 32)
	pin := "127.0.0.1:5000/team/shop-web@sha256:" + strings.Repeat("cd", 32)
	got := releaseImages(map[string]string{"web": pin, "db": "postgres:16", "api": id})
	want := "api=sha256:abababababab,db=postgres:16,web=" + pin
	if got != want {
		t.Errorf("releaseImages = %q\nwant %q", got, want)
	}
	if got := releaseImages(nil); got != "" {
		t.Errorf("releaseImages(nil) = %q", got)
	}
}
