package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrExternal is wrapped by the error of a target outside this machine.
var ErrExternal = errors.New("external target")

// CheckLoopback resolves the host of addr (host:port, or a host) and
// returns an error wrapping ErrExternal unless every address it resolves
// to is this machine's loopback (or the unspecified address, which
// connects to this machine too). A load test aimed at somebody else's
// server is an attack on it; quai only loads the user's own instances and
// this machine unless told otherwise.
func CheckLoopback(ctx context.Context, addr string) error {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if IsLocalhostName(host) {
		return nil
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", host, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() && !ip.IsUnspecified() {
			return &ExternalError{Host: host, IP: ip}
		}
	}
	return nil
}

// ExternalError says which address of a host is not this machine's.
type ExternalError struct {
	Host string
	IP   net.IP
}

func (e *ExternalError) Error() string {
	if e.Host == e.IP.String() {
		return e.Host + " is not this machine's loopback address"
	}
	return fmt.Sprintf("%s resolves to %s, not to this machine's loopback", e.Host, e.IP)
}

// Is makes errors.Is(err, ErrExternal) hold.
func (e *ExternalError) Is(target error) bool { return target == ErrExternal }
