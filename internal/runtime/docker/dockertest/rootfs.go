package dockertest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
)

// PostgresRootfs returns the root file system PostgresImage imports, as a
// tar stream, for engines other than Docker (the Kubernetes test cluster
// loads it into containerd). Without the PostgreSQL packages it skips the
// test, or fails it in CI.
func PostgresRootfs(t testing.TB) ([]byte, error) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(PgBin, "bin", "postgres")); err != nil {
		msg := fmt.Sprintf("PostgreSQL 15 is not installed (%v): run scripts/deps.sh", err)
		if CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, file, _, _ := goruntime.Caller(0)
	entry := filepath.Join(t.TempDir(), "pgentry")
	GoBuildStatic(t, filepath.Dir(file), "./testdata/pgentry", entry)
	files, err := postgresFiles()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeRootfs(&buf, files, entry); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
