package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/apitls"
	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/upload"
	"github.com/quai-dev/quai/internal/wire"
)

// RemoteConfig configures the network API (quai serve --listen).
type RemoteConfig struct {
	// Listen is the TLS listen address of the API, e.g. ":7443"; empty
	// serves the unix socket only.
	Listen string
	// Names are more DNS names or addresses the server certificate of
	// quai's API CA covers (--listen-name), besides the host's.
	Names []string
	// CertFile and KeyFile are a given certificate chain and key
	// (--tls-cert, --tls-key), used instead of quai's API CA.
	CertFile, KeyFile string
	// ACMEDomain asks the ACME CA of the proxy (Config.ACMECA, with the
	// account of Config.ACMEEmail) for the certificate of a public name
	// (--acme-domain); ACMERoots are trusted for the CA's directory (a
	// test CA).
	ACMEDomain string
	ACMERoots  *x509.CertPool
}

// uploadsKeep is how many uploads per organization are kept besides those
// instances use; uploadsMinAge protects one being used by a request.
const (
	uploadsKeep   = 5
	uploadsMinAge = time.Hour
)

// uploadStore keeps remote clients' project folders under
// DATA_DIR/uploads/ORG/HASH (see api.Uploads).
type uploadStore struct {
	dir string
	// inUse lists the project directories instances use, which are never
	// cleaned.
	inUse func(context.Context) ([]string, error)
	log   *slog.Logger
	now   func() time.Time
	mu    sync.Mutex // one Put at a time: unpacking is disk-bound anyway
}

func (u *uploadStore) path(org, hash string) string { return filepath.Join(u.dir, org, hash) }

func (u *uploadStore) Has(org, hash string) bool {
	fi, err := os.Stat(u.path(org, hash))
	return err == nil && fi.IsDir()
}

func (u *uploadStore) Dir(org, hash string) (string, bool) {
	p := u.path(org, hash)
	if !u.Has(org, hash) {
		return "", false
	}
	// Its time says when it was last used; cleaning keeps recent ones.
	_ = os.Chtimes(p, u.now(), u.now())
	return p, true
}

func (u *uploadStore) ClientError(err error) bool {
	return errors.Is(err, upload.ErrUnsafe) || errors.Is(err, upload.ErrTooLarge) || errors.Is(err, errHashMismatch)
}

var errHashMismatch = errors.New("the upload's content does not match its hash")

func (u *uploadStore) Put(ctx context.Context, org, hash string, r io.Reader) (wire.UploadResult, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	orgDir := filepath.Join(u.dir, org)
	// Searchable, not listable (as the data directory for root): replicas
	// running as another user (the process runtime's user:) reach their
	// folder, nobody lists the uploads.
	for _, d := range []string{u.dir, orgDir} {
		if err := os.Mkdir(d, 0o711); err != nil && !errors.Is(err, os.ErrExist) {
			return wire.UploadResult{}, fmt.Errorf("uploads directory: %w", err)
		}
		if err := os.Chmod(d, 0o711); err != nil { //nolint:gosec // searchable on purpose, see above
			return wire.UploadResult{}, fmt.Errorf("uploads directory: %w", err)
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(orgDir, ".tmp-"+hex.EncodeToString(rnd[:]))
	defer func() { _ = os.RemoveAll(tmp) }()
	s, err := upload.Unpack(r, tmp, upload.Limits{})
	if err != nil {
		return wire.UploadResult{}, err
	}
	if s.Hash != hash {
		return wire.UploadResult{}, fmt.Errorf("%w: sent as %s, its content hashes to %s", errHashMismatch, hash, s.Hash)
	}
	if err := os.Rename(tmp, u.path(org, hash)); err != nil && !u.Has(org, hash) {
		return wire.UploadResult{}, fmt.Errorf("keep the upload: %w", err)
	}
	u.clean(ctx, org)
	return wire.UploadResult{Hash: s.Hash, Bytes: s.Bytes, Files: s.Files}, nil
}

// clean removes the organization's uploads that no instance uses, keeping
// the most recently used few and any used within the hour (a plan then an
// up of the same folder).
func (u *uploadStore) clean(ctx context.Context, org string) {
	used, err := u.inUse(ctx)
	if err != nil {
		u.log.Warn("uploads not cleaned: cannot list instances", "err", err)
		return
	}
	orgDir := filepath.Join(u.dir, org)
	entries, err := os.ReadDir(orgDir)
	if err != nil {
		return
	}
	type cand struct {
		path string
		used time.Time
	}
	var cands []cand
	for _, e := range entries {
		p := filepath.Join(orgDir, e.Name())
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || slices.Contains(used, p) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		cands = append(cands, cand{p, fi.ModTime()})
	}
	slices.SortFunc(cands, func(a, b cand) int { return b.used.Compare(a.used) })
	for i, c := range cands {
		if i < uploadsKeep || u.now().Sub(c.used) < uploadsMinAge {
			continue
		}
		if err := os.RemoveAll(c.path); err != nil {
			u.log.Warn("remove an old upload", "dir", c.path, "err", err)
		}
	}
}

// apiTLS builds the certificate source of the network API.
func (d *Daemon) apiTLS(ctx context.Context, addr string) (apitls.Source, error) {
	rc := d.cfg.Remote
	switch {
	case rc.CertFile != "" || rc.KeyFile != "":
		if rc.CertFile == "" || rc.KeyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		return apitls.LoadFiles(rc.CertFile, rc.KeyFile)
	case rc.ACMEDomain != "":
		dir, err := proxy.ACMEDirectoryURL(d.cfg.ACMECA)
		if err != nil {
			return nil, err
		}
		// Obtaining and renewing last as long as the daemon, not as
		// long as its start (whose context ends when Start returns).
		life, stop := context.WithCancel(context.WithoutCancel(ctx))
		d.apiCertStop = stop
		return apitls.NewACME(life, apitls.ACMEConfig{
			Domain: rc.ACMEDomain, Email: d.cfg.ACMEEmail, Directory: dir, Roots: rc.ACMERoots,
			// The proxy's storage: its HTTP listener answers the challenge.
			Storage:  filepath.Join(d.cfg.DataDir, "proxy", "acme"),
			HTTPPort: addrPort(d.proxy.HTTPAddr()),
		})
	}
	return apitls.LoadOrCreateCA(apitls.Dir(d.cfg.DataDir), apitls.HostNames(addr, rc.Names), d.cfg.Now)
}

// listenRemote opens the network API's TLS listener (serveRemote serves it).
func (d *Daemon) listenRemote(ctx context.Context) error {
	if d.cfg.Remote.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", d.cfg.Remote.Listen)
	if err != nil {
		return fmt.Errorf("listen for the network API on %s: %w", d.cfg.Remote.Listen, err)
	}
	src, err := d.apiTLS(ctx, ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return err
	}
	d.apiCert = src
	// The same budget of connections as the socket's, of its own.
	d.remoteLn = tls.NewListener(netutil.LimitListener(ln, apiMaxConns), apitls.ServerConfig(src))
	return nil
}

// serveRemote serves the API's network handler on the TLS listener.
func (d *Daemon) serveRemote(handler http.Handler, base context.Context) {
	if d.remoteLn == nil {
		return
	}
	srv := &http.Server{
		Handler: handler,
		// Bounds the TLS handshake and the request line and headers too.
		ReadHeaderTimeout: 10 * time.Second,
		// Streams (logs -f, events, exec) write for as long as they run:
		// no write timeout. Idle keep-alive connections are closed.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return base },
		ErrorLog:       slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	d.remoteSrv = srv
	go func() {
		err := srv.Serve(d.remoteLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			d.serveErr <- fmt.Errorf("network API: %w", err)
		}
	}()
	d.log.Info("quai network API ready", "listen", d.remoteLn.Addr().String(), "fingerprint", d.apiCert.Fingerprint())
}

// APIAddr is the network API's bound address; empty without --listen.
func (d *Daemon) APIAddr() string {
	if d.remoteLn == nil {
		return ""
	}
	return d.remoteLn.Addr().String()
}

// APIFingerprint is the fingerprint clients of the network API pin.
func (d *Daemon) APIFingerprint() string {
	if d.apiCert == nil {
		return ""
	}
	return d.apiCert.Fingerprint()
}

// ReloadTLS re-reads a given certificate (SIGHUP).
func (d *Daemon) ReloadTLS() error {
	if d.apiCert == nil {
		return nil
	}
	return d.apiCert.Reload()
}

// reloadOnHUP re-reads a given certificate on SIGHUP until stopped.
func (d *Daemon) reloadOnHUP() (stop func()) {
	if d.apiCert == nil {
		return func() {}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := d.apiCert.Reload(); err != nil {
					d.log.Warn("SIGHUP: the API certificate was not reloaded", "err", err)
				} else {
					d.log.Info("SIGHUP: API certificate reloaded", "fingerprint", d.apiCert.Fingerprint())
				}
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

func (d *Daemon) closeRemote(ctx context.Context) error {
	if d.apiCertStop != nil {
		d.apiCertStop()
	}
	if d.remoteSrv == nil {
		if d.remoteLn != nil {
			_ = d.remoteLn.Close()
		}
		return nil
	}
	grace, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.remoteSrv.Shutdown(grace); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stop network API: %w", err)
	}
	_ = d.remoteSrv.Close()
	d.remoteSrv = nil
	return nil
}

var _ api.Uploads = (*uploadStore)(nil)
