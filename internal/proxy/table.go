package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
)

// SetTable atomically replaces the whole routing table with routes, per
// instance: the way a proxy process takes the table the daemon pushes
// (internal/proxyd). Every route is validated first; on error nothing
// changes. Targets named before and after keep their pooled connections,
// in-flight counts and drains.
func (p *Proxy) SetTable(routes map[string][]Route) error {
	names := make([]string, 0, len(routes))
	for inst := range routes {
		names = append(names, inst)
	}
	sort.Strings(names)
	next := make(map[string][]Route, len(routes))
	var errs []error
	for _, inst := range names {
		if inst == "" {
			errs = append(errs, fmt.Errorf("%w: the instance name is empty", ErrInvalidRoute))
			continue
		}
		norm := make([]Route, 0, len(routes[inst]))
		for i, r := range routes[inst] {
			n, err := normalize(inst, i, r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			norm = append(norm, n)
		}
		if len(norm) > 0 {
			next[inst] = norm
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	newCerts := make(map[string]map[[2]string]*tls.Certificate)
	loadCert := func(inst, certFile, keyFile string) (*tls.Certificate, error) {
		key := [2]string{certFile, keyFile}
		if c := newCerts[inst][key]; c != nil {
			return c, nil
		}
		// Files are read again on every table: a renewed custom
		// certificate is picked up by the next push.
		c, err := loadKeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		if newCerts[inst] == nil {
			newCerts[inst] = make(map[[2]string]*tls.Certificate)
		}
		newCerts[inst][key] = c
		return c, nil
	}
	t, err := buildTable(next, "", loadCert)
	if err != nil {
		return err
	}
	p.routes = next
	p.certs = newCerts
	p.install(t)
	return nil
}

// ListenerFiles returns duplicates of the bound listening sockets (nil for
// a side that is off), for a new proxy process to inherit: both processes
// then accept from the same sockets until this one shuts down, so no
// connection is refused during an upgrade. The caller closes the files.
func (p *Proxy) ListenerFiles() (httpFile, httpsFile *os.File, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	file := func(l *limitListener) (*os.File, error) {
		if l == nil {
			return nil, nil
		}
		tl, ok := l.Listener.(*net.TCPListener)
		if !ok {
			return nil, fmt.Errorf("proxy: listener %s is not a TCP listener", l.Addr())
		}
		return tl.File()
	}
	if httpFile, err = file(p.httpLn); err != nil {
		return nil, nil, err
	}
	if httpsFile, err = file(p.httpsLn); err != nil {
		if httpFile != nil {
			_ = httpFile.Close()
		}
		return nil, nil, err
	}
	return httpFile, httpsFile, nil
}
