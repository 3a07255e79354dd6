// Package registrytest runs a real image registry for tests: Debian's
// docker-registry (the distribution 2.8 server) on 127.0.0.1 at a free
// port, with TLS from a certificate authority made for the run and
// htpasswd basic auth, its storage in the test's temporary directory.
//
// Start also makes the registry usable the way a user's would be: the
// local Docker Engine trusts its CA (/etc/docker/certs.d/<host:port>/ca.crt,
// removed at cleanup) and a Docker config directory holds its credentials
// (config.json auths), so code under test finds them where the docker CLI
// keeps them. It is test support: only tests import it.
//
// A push from Docker and a pull on the Kubernetes test cluster:
//
//	reg := registrytest.Start(t, registrytest.Options{})
//	t.Setenv("DOCKER_CONFIG", reg.DockerConfig)   // quai reads the credentials there
//	cluster.TrustRegistry(t, reg.Host, reg.CAPEM) // kubetest: containerd trusts the CA
//	// and the stack sets x-quai.registry: { url: <reg.Host>/team }
package registrytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is the registry server Start runs (Debian's docker-registry).
const Binary = "docker-registry"

// DockerCertsDir is where the Docker Engine looks for a registry's CA.
const DockerCertsDir = "/etc/docker/certs.d"

// Options configure Start; the zero value is a registry with a user
// "quai" and a random password whose CA the local Docker Engine trusts.
type Options struct {
	// User and Password are the one htpasswd account; default "quai" and
	// a random password.
	User, Password string
	// NoDockerTrust leaves /etc/docker/certs.d alone (for tests that do
	// not push through a local Docker Engine).
	NoDockerTrust bool
}

// Registry is a running registry.
type Registry struct {
	// Host is 127.0.0.1:<port>, the registry part of its image references.
	Host string
	// User and Password are the account's credentials.
	User, Password string
	// CAPEM is the certificate authority that signed the server's
	// certificate; CAFile holds it.
	CAPEM  []byte
	CAFile string
	// DockerConfig is a Docker config directory whose config.json holds
	// the account's credentials for Host (set DOCKER_CONFIG to it).
	DockerConfig string
	// Dir holds the registry's files (config, certificates, storage, log).
	Dir string

	cmd  *exec.Cmd
	done chan struct{}
}

// CI reports whether the tests run in CI, where a missing registry binary
// fails the test rather than skipping it.
func CI() bool { return os.Getenv("CI") == "true" }

// Start runs a registry for the test and stops it at cleanup. Without the
// docker-registry binary it skips the test (fails it in CI) with the
// command that installs it.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		msg := "needs the docker-registry server: apt-get install docker-registry (or scripts/deps.sh)"
		if CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if !opts.NoDockerTrust && os.Geteuid() != 0 {
		msg := "needs root to make the Docker Engine trust the test registry's CA in " + DockerCertsDir
		if CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	r := &Registry{User: opts.User, Password: opts.Password, Dir: t.TempDir()}
	if r.User == "" {
		r.User = "quai"
	}
	if r.Password == "" {
		r.Password = randomText(t)
	}
	if err := r.writeFiles(); err != nil {
		t.Fatal(err)
	}
	// A free port can be taken between the probe and the server's bind;
	// a few tries make that race harmless.
	for try := 0; ; try++ {
		err = r.start(bin)
		if err == nil || try == 2 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	if err := r.WriteDockerConfig(filepath.Join(r.Dir, "docker"), r.User, r.Password); err != nil {
		t.Fatal(err)
	}
	r.DockerConfig = filepath.Join(r.Dir, "docker")
	if !opts.NoDockerTrust {
		certs := filepath.Join(DockerCertsDir, r.Host)
		if err := os.MkdirAll(certs, 0o755); err != nil {
			t.Fatalf("trust the test registry's CA: %v", err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(certs) })
		if err := os.WriteFile(filepath.Join(certs, "ca.crt"), r.CAPEM, 0o644); err != nil {
			t.Fatalf("trust the test registry's CA: %v", err)
		}
	}
	return r
}

// Repo is the reference of a repository in the registry (host/name).
func (r *Registry) Repo(name string) string { return r.Host + "/" + name }

// WriteDockerConfig writes dir/config.json with basic-auth credentials for
// the registry (as `docker login` without a credential helper does).
func (r *Registry) WriteDockerConfig(dir, user, password string) error {
	b, err := json.MarshalIndent(map[string]any{"auths": map[string]any{
		r.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// Client is an HTTP client that trusts the registry's CA.
func (r *Registry) Client() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.CAPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// ManifestDigest asks the registry for the digest of repo:reference (a
// tag or a digest) through its API, with the account's credentials.
func (r *Registry) ManifestDigest(ctx context.Context, repo, reference string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, "https://"+r.Host+"/v2/"+repo+"/manifests/"+reference, nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(r.User, r.Password)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := r.Client().Do(req)
	if err != nil {
		return "", err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("registry %s: manifest %s:%s: %s", r.Host, repo, reference, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

func (r *Registry) writeFiles() error {
	caPEM, certPEM, keyPEM, err := makeCerts()
	if err != nil {
		return err
	}
	r.CAPEM, r.CAFile = caPEM, filepath.Join(r.Dir, "ca.crt")
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"ca.crt": caPEM, "server.crt": certPEM, "server.key": keyPEM,
		"htpasswd": []byte(r.User + ":" + string(hash) + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(r.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Join(r.Dir, "storage"), 0o700)
}

// config is the registry's configuration for one address.
func (r *Registry) config(addr string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %[1]s/storage
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: %[2]s
  tls:
    certificate: %[1]s/server.crt
    key: %[1]s/server.key
auth:
  htpasswd:
    realm: quai-test
    path: %[1]s/htpasswd
`, r.Dir, addr)
}

// start runs the server on a free port and waits until it answers.
func (r *Registry) start(bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	host := "127.0.0.1:" + strconv.Itoa(port)
	cfg := filepath.Join(r.Dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(r.config(host)), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(r.Dir, "registry.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.Host, r.cmd, r.done = host, cmd, done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := r.Client()
	for {
		// /v2/ answers 401 without credentials: the server is up and
		// enforces auth.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
		resp, err := cl.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/ answered %s, want 401 Unauthorized", resp.Status)
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(r.Dir, "registry.log"))
			return fmt.Errorf("%s exited at start-up on %s: %s", bin, host, bytes.TrimSpace(log))
		case <-ctx.Done():
			r.stop()
			return fmt.Errorf("%s on %s did not answer within 30 s: %w", bin, host, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the server, politely first.
func (r *Registry) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomText(t testing.TB) string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// makeCerts returns a CA and a server certificate for 127.0.0.1 and
// localhost signed by it, as PEM, valid for a day.
func makeCerts() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "quai test registry CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
