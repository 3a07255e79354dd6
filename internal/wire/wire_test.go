package wire

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
)

func TestPlanFingerprint(t *testing.T) {
	a := Plan{Instance: "shop-dev", Text: "shop-dev: install as release 1\n"}
	b := Plan{Instance: "shop-dev", Text: "shop-dev: release 2 replaces release 1\n"}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(a.Fingerprint()) {
		t.Errorf("fingerprint %q: want sha256: and 64 hex digits", a.Fingerprint())
	}
	if a.Fingerprint() != (Plan{Text: a.Text, Release: 9}).Fingerprint() {
		t.Error("the fingerprint depends on more than the printed plan")
	}
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("two different plans share a fingerprint")
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	for _, f := range []struct {
		t FrameType
		p []byte
	}{{FrameStdout, []byte("hello")}, {FrameResize, ResizePayload(40, 120)}, {FrameExit, ExitPayload(-3)}, {FrameStdinEOF, nil}} {
		if err := WriteFrame(&buf, f.t, f.p); err != nil {
			t.Fatal(err)
		}
	}
	want := []FrameType{FrameStdout, FrameResize, FrameExit, FrameStdinEOF}
	var payloads [][]byte
	for _, w := range want {
		typ, p, err := ReadFrame(&buf)
		if err != nil || typ != w {
			t.Fatalf("frame %d, %v; want %d", typ, err, w)
		}
		payloads = append(payloads, p)
	}
	if string(payloads[0]) != "hello" {
		t.Errorf("stdout payload %q", payloads[0])
	}
	if rows, cols, ok := ParseResize(payloads[1]); !ok || rows != 40 || cols != 120 {
		t.Errorf("resize = %d×%d %v", rows, cols, ok)
	}
	if code, ok := ParseExit(payloads[2]); !ok || code != -3 {
		t.Errorf("exit = %d %v", code, ok)
	}
	// A peer announcing more than MaxFrame is refused before allocating.
	if _, _, err := ReadFrame(bytes.NewReader([]byte{1, 0xff, 0xff, 0xff, 0xff})); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v, want ErrFrameTooLarge", err)
	}
}
