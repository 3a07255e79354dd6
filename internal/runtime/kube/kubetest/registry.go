package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TrustRegistry makes the cluster's containerd trust the certificate
// authority caPEM for the registry at host (host:port), as a cluster's
// nodes trust a private registry: certs.d/<host>/hosts.toml with its CA,
// read at each pull, so a running cluster takes it at once. The entry is
// removed at the test's cleanup.
func (c *Cluster) TrustRegistry(t testing.TB, host string, caPEM []byte) {
	t.Helper()
	dir := c.path("containerd", "certs.d", host)
	ca := filepath.Join(dir, "ca.crt")
	hosts := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %q\n",
		"https://"+host, "https://"+host, ca)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := writeFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o600); err != nil {
		t.Fatal(err)
	}
}
