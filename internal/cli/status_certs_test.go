package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/proxy/acmetest"
	"github.com/quai-dev/quai/internal/wire"
)

// TestStatusShowsCertificatesOfTheProxyProcess: with the proxy in its own
// process, as quai serve runs it, quai status shows the certificates the
// proxy serves (read over its control socket): a custom certificate with
// its expiry, and an ACME host whose CA cannot be reached with the error.
func TestStatusShowsCertificatesOfTheProxyProcess(t *testing.T) {
	// The proxy process is this test binary re-executed as quai.
	t.Setenv(envAsQuai, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{ProxyExecutable: exe})
	if d.ProxyPID() == 0 {
		t.Fatal("the daemon runs the proxy inside itself, not in a process of its own")
	}
	dir := daemontest.AppProject(t, daemontest.App{Project: "certs"})
	notAfter := time.Now().Add(40 * 24 * time.Hour).UTC().Truncate(time.Second)
	acmetest.WriteCert(t, dir, "shop.example.com", notAfter)
	compose := filepath.Join(dir, "compose.yaml")
	b, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	routes := `      tls: "off"
    - host: shop.example.com
      service: web
      port: 8080
      tls: custom
      cert: cert.pem
      key: key.pem
    - host: auto.example.com
      service: web
      port: 8080
`
	s := strings.Replace(string(b), "      tls: \"off\"\n", routes, 1)
	if err := os.WriteFile(compose, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, d, "up", dir, "--env", "dev", "-y")

	st := mustRun(t, d, "status", "certs-dev")
	want := "tls      shop.example.com  custom  expires " + notAfter.Format("2006-01-02")
	if !strings.Contains(st.stdout, want) {
		t.Errorf("status lacks %q", want)
	}
	if !strings.Contains(st.stdout, "tls      auto.example.com  acme  ") {
		t.Errorf("status lacks the ACME host's line")
	}
	js := mustRun(t, d, "status", "certs-dev", "--json")
	var got wire.InstanceStatus
	if err := json.Unmarshal([]byte(js.stdout), &got); err != nil {
		t.Fatal(err)
	}
	hosts := map[string]wire.CertificateState{}
	for _, c := range got.Certificates {
		hosts[c.Host] = c
	}
	if c := hosts["shop.example.com"]; c.Source != "custom" || !c.NotAfter.Equal(notAfter) {
		t.Errorf("shop.example.com: %+v; want custom until %s", c, notAfter)
	}
	if c := hosts["auto.example.com"]; c.Source != "acme" || !c.NotAfter.IsZero() {
		t.Errorf("auto.example.com: %+v; want acme without a certificate", c)
	}
}
