package proxy

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// CertStatus is one certificate the proxy serves, for alerts on expiry
// and renewal failures.
type CertStatus struct {
	// Host is the routed host name (a pattern for wildcard routes).
	Host     string
	Instance string
	// Source is "custom" (files) or "acme".
	Source   string
	NotAfter time.Time
	// RenewError is the last failure to obtain or renew the host's ACME
	// certificate, "" once one succeeded.
	RenewError string
}

// Certificates lists the certificates of routed hosts with TLS: custom
// ones from their files, ACME ones from the cache (a host whose first
// certificate was never obtained has a zero NotAfter and, after a failed
// attempt, its RenewError). Local names (*.localhost), served from quai's
// own CA, are left out: they never expire unnoticed.
func (p *Proxy) Certificates() []CertStatus {
	t := p.table.Load()
	var out []CertStatus
	add := func(host string, h *hostRoutes) {
		if len(h.routes) == 0 || isLocalName(host) || net.ParseIP(host) != nil {
			return
		}
		cs := CertStatus{Host: host, Instance: h.routes[0].instance}
		switch h.tls {
		case TLSCustom:
			cs.Source = "custom"
			if h.cert != nil && h.cert.Leaf != nil {
				cs.NotAfter = h.cert.Leaf.NotAfter
			}
		case TLSAuto:
			if p.magicCache == nil {
				return
			}
			cs.Source = "acme"
			for _, c := range p.magicCache.AllMatchingCertificates(host) {
				if c.Leaf != nil && c.Leaf.NotAfter.After(cs.NotAfter) {
					cs.NotAfter = c.Leaf.NotAfter
				}
			}
			p.certMu.Lock()
			cs.RenewError = p.certFailures[host]
			if suffix, wild := strings.CutPrefix(host, "*"); wild && cs.RenewError == "" {
				// Names under a wildcard route: the last failure of one.
				for name, msg := range p.certFailures {
					if strings.HasSuffix(name, suffix) && strings.Count(name, ".") == strings.Count(host, ".") {
						cs.RenewError = msg
						break
					}
				}
			}
			p.certMu.Unlock()
		default:
			return
		}
		out = append(out, cs)
	}
	for host, h := range t.exact {
		add(host, h)
	}
	for suffix, h := range t.wild {
		add("*."+suffix, h)
	}
	slices.SortFunc(out, func(a, b CertStatus) int { return strings.Compare(a.Host, b.Host) })
	return out
}

// onCertEvent records certmagic's certificate failures and successes
// (certmagic.Config.OnEvent) for Certificates.
func (p *Proxy) onCertEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	if name == "" {
		return nil
	}
	switch event {
	case "cert_failed":
		err, ok := data["error"].(error)
		if !ok {
			err = fmt.Errorf("%v", data["error"])
		}
		p.recordCertFailure(name, err)
	case "cert_obtained":
		p.clearCertFailure(name)
	}
	return nil
}
