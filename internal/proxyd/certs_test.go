package proxyd

import (
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/proxy/acmetest"
)

// TestCertificatesFollowPushes: the certificates the client reads from the
// proxy process (quai status, certificate alerts) are those of the table
// it pushed last, even right after a read of the table before.
func TestCertificatesFollowPushes(t *testing.T) {
	dir := shortDir(t)
	c, _ := runProxyConfig(t, dir, proxy.Config{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", DataDir: dir,
		ACMEDirectory: "https://127.0.0.1:1/directory"})
	if got := c.Certificates(); len(got) != 0 {
		t.Fatalf("certificates before any route: %+v", got)
	}
	notAfter := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	certFile, keyFile := acmetest.WriteCert(t, t.TempDir(), "shop.example.com", notAfter)
	b := backend(t, "shop")
	if err := c.SetRoutes("shop", []proxy.Route{{Host: "shop.example.com", TLS: proxy.TLSCustom, CertFile: certFile, KeyFile: keyFile,
		Targets: []string{b.Listener.Addr().String()}}}); err != nil {
		t.Fatal(err)
	}
	got := c.Certificates()
	if len(got) != 1 || got[0].Host != "shop.example.com" || got[0].Instance != "shop" || got[0].Source != "custom" || !got[0].NotAfter.Equal(notAfter) {
		t.Fatalf("certificates right after the push: %+v; want shop.example.com's custom one until %s", got, notAfter)
	}
	c.RemoveInstance("shop")
	if got := c.Certificates(); len(got) != 0 {
		t.Fatalf("certificates right after the instance's routes were removed: %+v", got)
	}
}
