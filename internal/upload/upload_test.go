package upload

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, rel, body string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackUnpackRoundTripIsDeterministicAndHonoursIgnoreFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "compose.yaml", "services: {}\n")
	write(t, dir, "bin/api", "binary")
	write(t, dir, ".git/HEAD", "ref: main")
	write(t, dir, "node_modules/x/index.js", "x")
	write(t, dir, "secret.env", "A=1")
	write(t, dir, ".dockerignore", "node_modules\n")
	write(t, dir, ".quaiignore", "*.env\n")
	if err := os.Symlink("bin/api", filepath.Join(dir, "api-link")); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	sa, err := Pack(dir, &a, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Times do not count: touching a file keeps the hash.
	if err := os.Chtimes(filepath.Join(dir, "compose.yaml"), sa0, sa0); err != nil {
		t.Fatal(err)
	}
	sb, err := Pack(dir, &b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if sa.Hash != sb.Hash || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two packs of one folder differ: %s vs %s", sa.Hash, sb.Hash)
	}
	out := filepath.Join(t.TempDir(), "u")
	su, err := Unpack(bytes.NewReader(a.Bytes()), out, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if su.Hash != sa.Hash || su.Files != sa.Files {
		t.Errorf("unpacked %+v, packed %+v", su, sa)
	}
	for rel, want := range map[string]bool{"compose.yaml": true, "bin/api": true, "api-link": true, ".dockerignore": true,
		".git/HEAD": false, "node_modules/x/index.js": false, "secret.env": false} {
		_, err := os.Lstat(filepath.Join(out, rel))
		if (err == nil) != want {
			t.Errorf("%s present=%t, want %t", rel, err == nil, want)
		}
	}
}

var sa0 = time.Now().Add(-time.Hour)

func TestPackRefusesLinksOutOfTheFolderAndTooLarge(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "compose.yaml", "x")
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "pw")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Pack(dir, &buf, Limits{}); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), ".quaiignore") {
		t.Errorf("pack with a link to /etc/passwd: %v, want ErrUnsafe and what to do", err)
	}
	dir = t.TempDir()
	write(t, dir, "big", strings.Repeat("x", 4096))
	if _, err := Pack(dir, &buf, Limits{Bytes: 1024}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), ".quaiignore") {
		t.Errorf("pack past the limit: %v, want ErrTooLarge and what to do", err)
	}
}

type entry struct {
	name, link string
	typ        byte
	body       string
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpackRefusesEntriesThatLeaveTheFolder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    error
	}{
		{"dot dot", []entry{{name: "../evil", typ: tar.TypeReg, body: "x"}}, ErrUnsafe},
		{"dot dot inside", []entry{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}, ErrUnsafe},
		{"absolute", []entry{{name: "/tmp/evil", typ: tar.TypeReg, body: "x"}}, ErrUnsafe},
		{"link to an absolute path", []entry{{name: "l", link: "/etc", typ: tar.TypeSymlink}}, ErrUnsafe},
		{"link climbing out", []entry{{name: "a/l", link: "../../etc", typ: tar.TypeSymlink}}, ErrUnsafe},
		{"file below a link", []entry{{name: "l", link: "d", typ: tar.TypeSymlink}, {name: "l/x", typ: tar.TypeReg, body: "x"}}, ErrUnsafe},
		{"hard link", []entry{{name: "f", typ: tar.TypeReg, body: "x"}, {name: "h", link: "f", typ: tar.TypeLink}}, ErrUnsafe},
		{"device", []entry{{name: "dev", typ: tar.TypeChar}}, ErrUnsafe},
		{"twice", []entry{{name: "f", typ: tar.TypeReg, body: "x"}, {name: "./f", typ: tar.TypeReg, body: "y"}}, ErrUnsafe},
		{"too large", []entry{{name: "f", typ: tar.TypeReg, body: strings.Repeat("x", 8192)}}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "u")
			_, err := Unpack(bytes.NewReader(tarOf(t, tc.entries...)), out, Limits{Bytes: 4096})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unpack: %v, want %v", err, tc.want)
			}
			// Nothing was written beside the folder.
			ents, _ := os.ReadDir(parent)
			if len(ents) != 1 {
				t.Errorf("the parent holds %d entries, want only the upload's folder", len(ents))
			}
		})
	}
}
