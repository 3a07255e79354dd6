package e2etest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/quai-dev/quai/internal/datadir"
)

// Transcript keeps everything a test's verbs printed and the daemon
// logged, so a scan can show none of it holds a secret value.
type Transcript struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer (the daemon's log writes here).
func (tr *Transcript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.Write(p)
}

// Quai is MustQuai whose output is kept.
func (tr *Transcript) Quai(t testing.TB, socket string, args ...string) string {
	t.Helper()
	out := MustQuai(t, socket, args...)
	_, _ = tr.Write([]byte(out))
	return out
}

// Bytes returns what was kept.
func (tr *Transcript) Bytes() []byte {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return bytes.Clone(tr.buf.Bytes())
}

// encodings are the forms a value could be written in besides its own.
func encodings(v []byte) map[string][]byte {
	return map[string][]byte{
		"as is":      v,
		"base64":     []byte(base64.StdEncoding.EncodeToString(v)),
		"base64 raw": []byte(base64.RawStdEncoding.EncodeToString(v)),
		"base64 url": []byte(base64.RawURLEncoding.EncodeToString(v)),
		"hex":        []byte(hex.EncodeToString(v)),
	}
}

// ScanSecrets fails the test for every file under dataDir, and for the
// transcript, that holds one of values as is, in base64 or in hex. It
// returns how many files it read and their total size, for the report.
func ScanSecrets(t testing.TB, dataDir string, transcript []byte, values ...[]byte) (files int, size int64) {
	t.Helper()
	check := func(where string, b []byte) {
		for i, v := range values {
			if len(v) < 8 {
				t.Fatalf("secret value %d is too short (%d bytes) for a meaningful scan", i, len(v))
			}
			for enc, form := range encodings(v) {
				if bytes.Contains(b, form) {
					t.Errorf("%s holds secret value %d (%s)", where, i, enc)
				}
			}
		}
	}
	root, err := os.OpenRoot(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := root.ReadFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while the walk ran
			}
			return err
		}
		files++
		size += int64(len(b))
		check(p, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check("the transcript of the verbs, events and daemon log", transcript)
	return files, size
}

// Seal sets the sealed secret name of the project in dir for (org, env)
// with `quai secrets set`, the value on stdin, keeping the output.
func (tr *Transcript) Seal(t testing.TB, socket, dir, org, env, name string, value []byte) {
	t.Helper()
	out, code := QuaiIn(t, socket, string(value)+"\n", "secrets", "set", dir, "--env", env, "--org", org, name)
	_, _ = tr.Write([]byte(out))
	if code != 0 {
		t.Fatalf("quai secrets set %s: exit %d\n%s", name, code, out)
	}
}

// SealedOverlay is an environment overlay for the example that adds the
// sealed secret api_token, given to the API as a file
// (/run/secrets/api_token; API_TOKEN_FILE on the process runtime).
const SealedOverlay = `
secrets:
  api_token:
    external: true
services:
  api:
    secrets: [api_token]
`

// RunFiles returns the files named name under the run directories of
// dataDir's daemon (datadir.RunDir), where replicas' secrets live.
func RunFiles(t testing.TB, dataDir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(datadir.RunDir(dataDir, os.Getenv, os.Geteuid()), pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
