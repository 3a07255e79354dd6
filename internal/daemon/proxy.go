package daemon

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/metrics"
	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/proxyd"
)

// router is the proxy as the daemon uses it: in the daemon's own process
// (*proxy.Proxy, Config.ProxyExecutable empty) or in the proxy process
// (*proxyd.Client), the same to the engine and the metrics collector.
type router interface {
	engine.Router
	metrics.ProxySource
	HTTPAddr() string
	HTTPSAddr() string
	MaxConns() int
}

var (
	_ router = (*proxy.Proxy)(nil)
	_ router = (*proxyd.Client)(nil)
)

// proxyConfig is the proxy's configuration from the daemon's.
func (d *Daemon) proxyConfig() proxy.Config {
	return proxy.Config{
		HTTPAddr:      d.cfg.HTTPAddr,
		HTTPSAddr:     d.cfg.HTTPSAddr,
		DataDir:       filepath.Join(d.cfg.DataDir, "proxy"),
		MaxConns:      d.cfg.ProxyMaxConns,
		MaxConnsPerIP: d.cfg.ProxyMaxConnsPerIP,
		ACMEEmail:     d.cfg.ACMEEmail,
		ACMEDirectory: d.cfg.ACMECA,
	}
}

// startProxy adopts the proxy process of the data directory, or starts
// one; without Config.ProxyExecutable it runs the proxy in this process,
// which then stops with the daemon.
func (d *Daemon) startProxy(ctx context.Context) error {
	cfg := d.proxyConfig()
	if d.cfg.ProxyExecutable == "" {
		cfg.Logger = d.log.With("component", "proxy")
		px, err := proxy.New(cfg)
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		if err := px.Start(); err != nil {
			return fmt.Errorf("start proxy on %s and %s: %w", d.cfg.HTTPAddr, d.cfg.HTTPSAddr, err)
		}
		d.proxy, d.embedded = px, px
		return nil
	}
	c, err := proxyd.Attach(ctx, proxyd.ClientOptions{
		DataDir:    d.cfg.DataDir,
		Executable: d.cfg.ProxyExecutable,
		Settings:   proxyd.Settings{Proxy: cfg, LogLevel: d.cfg.ProxyLogLevel},
		Logger:     d.log.With("component", "proxy"),
	})
	if err != nil {
		return fmt.Errorf("proxy process: %w", err)
	}
	d.proxy, d.edge = c, c
	return nil
}

// stopProxy stops an in-process proxy; a proxy process keeps serving (the
// next daemon adopts it): only `quai proxy stop` stops it.
func (d *Daemon) stopProxy(ctx context.Context) error {
	if d.edge != nil {
		d.edge.Close()
		d.edge = nil
	}
	if d.embedded != nil {
		if err := d.embedded.Shutdown(ctx); err != nil {
			return fmt.Errorf("stop proxy: %w", err)
		}
		d.embedded = nil
	}
	d.proxy = nil
	return nil
}

// ProxyPID is the pid of the proxy process, 0 when the proxy runs in the
// daemon.
func (d *Daemon) ProxyPID() int {
	if d.edge == nil {
		return 0
	}
	return d.edge.PID()
}
