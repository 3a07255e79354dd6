package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

func TestCertLine(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		cert    wire.CertificateState
		want    string
		failing bool
	}{
		{wire.CertificateState{Host: "shop.example.com", Source: "acme", NotAfter: now.Add(84 * 24 * time.Hour)},
			"shop.example.com  acme  expires 2027-03-01 (in 84d)", false},
		{wire.CertificateState{Host: "shop.example.com", Source: "acme"}, "shop.example.com  acme  obtaining a certificate", false},
		{wire.CertificateState{Host: "shop.example.com", Source: "acme", Error: "the CA could not reach shop.example.com\non port 80"},
			"shop.example.com  acme  no certificate: the CA could not reach shop.example.com on port 80", true},
		{wire.CertificateState{Host: "*.apps.example.com", Source: "acme", NotAfter: now.Add(30 * time.Hour), Error: "rate-limited"},
			"*.apps.example.com  acme  expires 2026-12-08 (in 30h); renewal failing: rate-limited", true},
		{wire.CertificateState{Host: "old.example.com", Source: "custom", NotAfter: now.Add(-time.Hour)},
			"old.example.com  custom  expired 2026-12-07", true},
	} {
		got, failing := certLine(c.cert, now)
		if !strings.HasPrefix(got, c.want) || failing != c.failing {
			t.Errorf("certLine(%+v) = %q, %v; want %q, %v", c.cert, got, failing, c.want, c.failing)
		}
	}
}
