package daemon

import (
	"github.com/quai-dev/quai/internal/proxy"
	"log/slog"
	"net"
	"strings"
)

// apiMaxConns bounds the API socket's connections: the CLI holds one or
// two per verb, log follows and event streams one each. Its budget is its
// own, taken from the share of file descriptors the proxy leaves
// (proxy.DefaultMaxConns), so a proxy full of client connections does not
// silence the API, nor the reverse.
const apiMaxConns = 64

// allInterfaces lists the addresses among addrs that bind every interface
// (no host, 0.0.0.0 or ::).
func allInterfaces(addrs ...string) []string {
	var out []string
	for _, a := range addrs {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			out = append(out, a)
		}
	}
	return out
}

// logExposure says at start when the proxy serves every interface: right
// for a server, a surprise on a laptop.
func logExposure(log *slog.Logger, httpAddr, httpsAddr string) {
	all := allInterfaces(httpAddr, httpsAddr)
	if len(all) == 0 {
		return
	}
	log.Info("the proxy listens on all network interfaces, so other machines can reach the apps it routes; to serve this machine only, start with --http 127.0.0.1:8080 --https 127.0.0.1:8443 (or QUAI_HTTP and QUAI_HTTPS)",
		"addresses", strings.Join(all, ", "))
}

// raiseFileLimit raises the daemon's limit on open files as the proxy
// process raises its own (proxy.RaiseFileLimit).
func raiseFileLimit() (cur, hard uint64) { return proxy.RaiseFileLimit() }
