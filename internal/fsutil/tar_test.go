package fsutil

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestExtractTarStaysInside(t *testing.T) {
	for _, name := range []string{"../escape", "a/../../escape", "/etc/escape"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: 1})
		_, _ = tw.Write([]byte("x"))
		_ = tw.Close()
		root := t.TempDir()
		dir := filepath.Join(root, "in")
		if err := ExtractTar(&buf, dir); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("%q: %v, want ErrUnsafePath", name, err)
		}
		if _, err := os.Stat(filepath.Join(root, "escape")); err == nil {
			t.Errorf("%q was written outside the directory", name)
		}
	}
	// A symbolic link in the stream must not lead a later entry outside.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	out := t.TempDir()
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: out})
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "l/f", Mode: 0o644, Size: 1})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	if err := ExtractTar(&buf, t.TempDir()); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("through a link: %v, want ErrUnsafePath", err)
	}
	if _, err := os.Stat(filepath.Join(out, "f")); err == nil {
		t.Error("a file was written through a symbolic link")
	}
}

func TestTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "d/e"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d/e/f.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("e/f.txt", filepath.Join(src, "d/l")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTar(&buf, src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "new")
	if err := ExtractTar(&buf, dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "d/l")); err != nil || string(b) != "hello" {
		t.Errorf("through the restored link: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "d/e")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("restored directory: %v, %v, want mode 0750", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "d/e/f.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored file: %v, %v, want mode 0600", fi, err)
	}
}
