package daemon

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestStartSaysWhenTheProxyListensEverywhere(t *testing.T) {
	got := allInterfaces(":8080", "0.0.0.0:8443", "[::]:80", "127.0.0.1:8080", "[::1]:8443", "192.0.2.1:80", "")
	if want := []string{":8080", "0.0.0.0:8443", "[::]:80"}; !slices.Equal(got, want) {
		t.Errorf("allInterfaces = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	logExposure(slog.New(slog.NewTextHandler(&buf, nil)), "[::]:8080", "127.0.0.1:8443")
	if s := buf.String(); !strings.Contains(s, "all network interfaces") || !strings.Contains(s, "--http 127.0.0.1:8080") || !strings.Contains(s, "[::]:8080") {
		t.Errorf("log = %q; want the addresses bound on all interfaces and the flags to bind loopback", s)
	}
	buf.Reset()
	logExposure(slog.New(slog.NewTextHandler(&buf, nil)), "127.0.0.1:8080", "")
	if buf.Len() != 0 {
		t.Errorf("log on loopback only = %q, want nothing", buf.String())
	}
}

func TestFileLimitIsReadAndNotLowered(t *testing.T) {
	cur, hard := raiseFileLimit()
	again, _ := raiseFileLimit()
	if cur != again || cur > hard {
		t.Errorf("file limit %d (hard %d), then %d: want a stable soft limit at most the hard one", cur, hard, again)
	}
}
