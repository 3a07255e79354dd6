package apitls

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCAIssuesForTheNamesAndKeepsItsKeyPrivate: the API CA is created once
// (key 0600) and kept across starts; its server certificate covers the
// names and addresses, chains to it, and is reissued when a name is added.
func TestCAIssuesForTheNamesAndKeepsItsKeyPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "api-tls")
	ca, err := LoadOrCreateCA(dir, []string{"quai.example.net", "127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{caKeyName, serverKeyName} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode().Perm())
		}
	}
	cert, err := ca.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	for _, name := range []string{"quai.example.net", "127.0.0.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("the server certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example.net"}); err == nil {
		t.Error("the server certificate verifies for a name it was not issued for")
	}
	again, err := LoadOrCreateCA(dir, []string{"quai.example.net", "127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() || again.server.Leaf.SerialNumber.Cmp(cert.Leaf.SerialNumber) != 0 {
		t.Error("a restart made a new CA or a new server certificate for the same names")
	}
	more, err := LoadOrCreateCA(dir, []string{"quai.example.net", "127.0.0.1", "10.1.2.3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if more.Fingerprint() != ca.Fingerprint() || more.server.Leaf.SerialNumber.Cmp(cert.Leaf.SerialNumber) == 0 {
		t.Error("a new name did not reissue the server certificate under the same CA")
	}
}

// TestFilesAreReloadedWhenTheyChange: a given certificate is re-read when
// its files change.
func TestFilesAreReloadedWhenTheyChange(t *testing.T) {
	a, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "a"), []string{"a.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "b"), []string{"b.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	cp := func(from string) {
		for src, dst := range map[string]string{serverCertName: certFile, serverKeyName: keyFile} {
			data, err := os.ReadFile(filepath.Join(from, src))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cp(a.dir)
	f, err := LoadFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	f.now = func() time.Time { return now }
	got, _ := f.GetCertificate(nil)
	if got.Leaf.DNSNames[0] != "a.example" {
		t.Fatalf("serves %v", got.Leaf.DNSNames)
	}
	cp(b.dir)
	later := now.Add(time.Hour)
	if err := os.Chtimes(certFile, later, later); err != nil {
		t.Fatal(err)
	}
	now = now.Add(statEvery)
	got, _ = f.GetCertificate(nil)
	if got.Leaf.DNSNames[0] != "b.example" {
		t.Errorf("after the files changed it serves %v, want b.example", got.Leaf.DNSNames)
	}
}
