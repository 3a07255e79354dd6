// Package kubetest runs a real single-node Kubernetes cluster for tests:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a dedicated
// containerd, the kubelet and kube-proxy, on loopback and one bridge of its
// own, with a small DNS server for Service names, a hostPath volume
// provisioner and an ingress controller (Traefik, see ingress.go). No
// registry is reachable, so images are built locally (see images.go) and
// imported into the cluster's containerd.
//
// The Kubernetes binaries and Traefik come from tools/kube/build.sh
// (wrapper modules over k8s.io/kubernetes and Traefik); containerd, runc,
// the CNI plugins, ip and iptables from Debian packages. Starting needs root. Everything the cluster creates
// (processes, mounts, cgroups, the bridge, iptables chains) is removed by
// Stop, and leftovers of a run that crashed are removed by the next Start.
//
// It is test support: only tests import it. It imports client-go and
// internal/runtime/docker/dockertest (for the PostgreSQL file system), never
// quai's production packages.
package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Version is the Kubernetes version tools/kube/build.sh builds.
const Version = "v1.34.4"

// Network layout of the cluster. The bridge's gateway address is the node's
// IP: the kubelet refuses loopback, and it must be reachable from pods.
const (
	BridgeName  = "quaikube0"
	PodSubnet   = "10.244.0.0/24"
	NodeIP      = "10.244.0.1"
	ServiceCIDR = "10.96.0.0/16"
	NodeName    = "quai-node"
	// StorageClass is the default storage class; its claims are bound to
	// hostPath volumes under the cluster directory by the harness.
	StorageClass = "quai-local"
	// ClusterDomain is the DNS suffix of Service names.
	ClusterDomain = "cluster.local"
	// PauseImage is the sandbox image, built locally from testdata/pause.
	PauseImage = "quai.test/pause:1"

	bridgeMAC   = "02:71:75:61:69:01"
	cgroupRoot  = "quai-kube"
	cniNetwork  = "quai-kube"
	fwdChain    = "QUAI-KUBE-FORWARD"
	cniBinDir   = "/usr/lib/cni"
	startBudget = 4 * time.Minute
	lockBudget  = 20 * time.Minute
)

// ErrMissing reports that something the cluster needs is not installed; the
// message says what to run.
var ErrMissing = errors.New("kubetest: missing dependency")

// CI reports whether the tests run in CI, where a missing dependency is a
// failure rather than a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// BinDir is where tools/kube/build.sh puts the binaries: $QUAI_KUBE_BIN,
// else ~/.cache/quai/kube/<Version>.
func BinDir() string {
	if d := os.Getenv("QUAI_KUBE_BIN"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "quai", "kube", Version)
}

// Options configure Start.
type Options struct {
	// Dir holds the cluster's state; default $TMPDIR/quai-kube. It is wiped
	// on Start and removed by Stop.
	Dir string
	// BinDir holds the Kubernetes binaries; default BinDir().
	BinDir string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Timing is how long one start-up step took.
type Timing struct {
	Step     string
	Duration time.Duration
}

// Cluster is a running single-node cluster.
type Cluster struct {
	// Dir is the state directory; Kubeconfig an admin kubeconfig in it.
	Dir        string
	BinDir     string
	Kubeconfig string
	// Config and Client are admin (system:masters) credentials.
	Config *rest.Config
	Client kubernetes.Interface
	// Timings lists start-up steps in order, for reports.
	Timings []Timing
	// IngressHTTP and IngressHTTPS are the loopback addresses (host:port)
	// where the ingress controller serves Ingresses of IngressClass.
	IngressHTTP, IngressHTTPS string

	logf       func(format string, args ...any)
	procs      []*proc
	lock       *os.File
	ctrdSocket string
	etcd       string
	cancel     context.CancelFunc
	bg         chan struct{}
	nbg        int
}

// Started is the total start-up time.
func (c *Cluster) Started() time.Duration {
	var d time.Duration
	for _, t := range c.Timings {
		d += t.Duration
	}
	return d
}

// Report prints the start-up timings on one line.
func (c *Cluster) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster started in %s:", c.Started().Round(time.Millisecond))
	for _, t := range c.Timings {
		fmt.Fprintf(&b, " %s %s;", t.Step, t.Duration.Round(time.Millisecond))
	}
	return strings.TrimSuffix(b.String(), ";")
}

func (c *Cluster) path(p ...string) string { return filepath.Join(append([]string{c.Dir}, p...)...) }

// check lists what is missing to run a cluster.
func check(binDir string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the kubelet, containerd and kube-proxy need it)")
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "traefik"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			missing = append(missing, fmt.Sprintf("%s in %s (run tools/kube/build.sh)", b, binDir))
		}
	}
	for _, b := range []string{"containerd", "ctr", "runc", "ip", "iptables"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b+" (apt-get install containerd runc iproute2 iptables)")
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			missing = append(missing, "CNI plugin "+p+" (apt-get install containernetworking-plugins)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissing, strings.Join(missing, "; "))
	}
	return nil
}

// Start starts a cluster and returns once its node is Ready, the pause image
// is loaded and the default storage class exists. Only one cluster runs on a
// machine at a time: Start waits for another one to stop.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.BinDir == "" {
		opts.BinDir = BinDir()
	}
	if opts.Dir == "" {
		opts.Dir = filepath.Join(os.TempDir(), "quai-kube")
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if err := check(opts.BinDir); err != nil {
		return nil, err
	}
	c := &Cluster{Dir: opts.Dir, BinDir: opts.BinDir, logf: opts.Logf, bg: make(chan struct{}, 4)}
	c.ctrdSocket = c.path("containerd", "containerd.sock")
	// Another package's tests may hold the cluster for minutes.
	lockCtx, cancelLock := context.WithTimeout(ctx, lockBudget)
	defer cancelLock()
	t0 := time.Now()
	if c.lock, err = lockMachine(lockCtx, opts.Dir+".lock"); err != nil {
		return nil, err
	}
	if waited := time.Since(t0); waited > time.Second {
		c.logf("kubetest: waited %s for another test cluster to stop", waited.Round(time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, startBudget)
	defer cancel()
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	step := func(name string, fn func() error) error {
		t0 := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("kubetest: %s: %w", name, err)
		}
		c.Timings = append(c.Timings, Timing{name, time.Since(t0)})
		c.logf("kubetest: %s in %s", name, time.Since(t0).Round(time.Millisecond))
		return nil
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"clean leftovers", func(context.Context) error { return c.cleanup() }},
		{"certificates", func(context.Context) error { return c.writePKI() }},
		{"network", func(context.Context) error { return c.setupNetwork() }},
		{"etcd", c.startEtcd},
		{"apiserver", c.startAPIServer},
		{"controllers", c.startControllers},
		{"containerd", c.startContainerd},
		{"kubelet", c.startKubelet},
		{"kube-proxy", c.startProxy},
		{"storage and dns", c.startAddons},
		{"ingress controller", c.startIngress},
	}
	for _, s := range steps {
		if err := step(s.name, func() error { return s.fn(ctx) }); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// lockMachine takes the machine-wide cluster lock, waiting for ctx.
func lockMachine(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("another test cluster holds %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *Cluster) writePKI() error {
	for _, d := range []string{"logs", "pki", "etcd", "kubelet", "containerd", "cni/net.d", "cni/ipam", "pv", "pod-logs"} {
		if err := os.MkdirAll(c.path(d), 0o700); err != nil {
			return err
		}
	}
	p, err := newPKI(c.path("pki"))
	if err != nil {
		return err
	}
	for _, i := range []struct {
		name, cn string
		orgs     []string
		hosts    []string
	}{
		{"apiserver", "kube-apiserver", nil, []string{"127.0.0.1", "localhost", NodeIP, "10.96.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain}},
		{"admin", "quai-test-admin", []string{"system:masters"}, nil},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil},
		{"kubelet", "system:node:" + NodeName, []string{"system:nodes"}, []string{NodeIP, NodeName}},
	} {
		if err := p.issue(i.name, i.cn, i.orgs, i.hosts...); err != nil {
			return err
		}
	}
	return p.serviceAccountKey()
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	cu := "http://127.0.0.1:" + strconv.Itoa(client)
	pu := "http://127.0.0.1:" + strconv.Itoa(peer)
	if _, err := c.run("etcd", filepath.Join(c.BinDir, "etcd"),
		"--name=quai", "--data-dir="+c.path("etcd"),
		"--listen-client-urls="+cu, "--advertise-client-urls="+cu,
		"--listen-peer-urls="+pu, "--initial-advertise-peer-urls="+pu,
		"--initial-cluster=quai="+pu, "--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return err
	}
	c.etcd = cu
	return c.waitHTTP(ctx, "etcd", cu+"/health", nil)
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	pki := func(n string) string { return c.path("pki", n) }
	if _, err := c.run("kube-apiserver", filepath.Join(c.BinDir, "kube-apiserver"),
		"--etcd-servers="+c.etcd,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--advertise-address="+NodeIP,
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"),
		"--kubelet-client-certificate="+pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+pki("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc."+ClusterDomain,
		"--service-cluster-ip-range="+ServiceCIDR,
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		// On 127.0.0.1 the endpoint reconciler logs errors every 10 s;
		// nothing in the tests talks to the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false", "--profiling=false",
	); err != nil {
		return err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["quai-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: pki("ca.crt")}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: pki("admin.crt"), ClientKey: pki("admin.key")}
	cfg.AuthInfos["kubelet"] = &clientcmdapi.AuthInfo{ClientCertificate: pki("kubelet.crt"), ClientKey: pki("kubelet.key")}
	cfg.Contexts["quai-test"] = &clientcmdapi.Context{Cluster: "quai-test", AuthInfo: "admin"}
	cfg.Contexts["kubelet"] = &clientcmdapi.Context{Cluster: "quai-test", AuthInfo: "kubelet"}
	cfg.CurrentContext = "quai-test"
	c.Kubeconfig = c.path("admin.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return err
	}
	cfg.CurrentContext = "kubelet"
	if err := clientcmd.WriteToFile(*cfg, c.path("kubelet.kubeconfig")); err != nil {
		return err
	}
	c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	c.Config.QPS, c.Config.Burst = 100, 200
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return err
	}
	tlsCfg, err := c.adminTLS()
	if err != nil {
		return err
	}
	return c.waitHTTP(ctx, "kube-apiserver", server+"/readyz", tlsCfg)
}

func (c *Cluster) adminTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.path("pki", "admin.crt"), c.path("pki", "admin.key"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(c.path("pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func (c *Cluster) startControllers(ctx context.Context) error {
	if _, err := c.run("kube-controller-manager", filepath.Join(c.BinDir, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+c.path("pki", "sa.key"),
		"--root-ca-file="+c.path("pki", "ca.crt"),
		"--use-service-account-credentials=false",
		"--cluster-name=quai-test",
	); err != nil {
		return err
	}
	if _, err := c.run("kube-scheduler", filepath.Join(c.BinDir, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
	); err != nil {
		return err
	}
	// Pods need their namespace's default service account, which the
	// controller manager creates: wait for it in "default".
	return c.poll(ctx, "the default service account", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

func (c *Cluster) startKubelet(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	if err := writeFile(c.path("resolv.conf"), nil, 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[3]s/pki/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: %[3]s/pki/kubelet.crt
tlsPrivateKeyFile: %[3]s/pki/kubelet.key
cgroupDriver: cgroupfs
cgroupRoot: /%[4]s
failSwapOn: false
containerRuntimeEndpoint: unix://%[5]s
clusterDNS: [%[1]s]
clusterDomain: %[6]s
resolvConf: %[3]s/resolv.conf
podLogsDir: %[3]s/pod-logs
volumePluginDir: %[3]s/kubelet/volume-plugins
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 1Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
serializeImagePulls: false
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
fileCheckFrequency: 60s
maxPods: 60
makeIPTablesUtilChains: false
`, NodeIP, port, c.Dir, cgroupRoot, c.ctrdSocket, ClusterDomain)
	if err := writeFile(c.path("kubelet.yaml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	if err := makeCgroupRoot(); err != nil {
		return err
	}
	if _, err := c.run("kubelet", filepath.Join(c.BinDir, "kubelet"),
		"--config="+c.path("kubelet.yaml"), "--kubeconfig="+c.path("kubelet.kubeconfig"),
		"--root-dir="+c.path("kubelet"), "--cert-dir="+c.path("kubelet", "pki"),
		"--node-ip="+NodeIP, "--hostname-override="+NodeName, "--v=0",
	); err != nil {
		return err
	}
	return c.poll(ctx, "node "+NodeName+" Ready", func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

func (c *Cluster) startProxy(ctx context.Context) error {
	health, err := freePort()
	if err != nil {
		return err
	}
	metrics, err := freePort()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %s}
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
# Masquerading all Service traffic sends replies between pods on the bridge
# back through the host, where the NAT is undone.
iptables: {masqueradeAll: true, syncPeriod: 5s, minSyncPeriod: 0s}
# Zero leaves the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, c.Kubeconfig, NodeName, PodSubnet, health, metrics)
	if err := writeFile(c.path("kube-proxy.yaml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	if _, err := c.run("kube-proxy", filepath.Join(c.BinDir, "kube-proxy"), "--config="+c.path("kube-proxy.yaml")); err != nil {
		return err
	}
	return c.waitHTTP(ctx, "kube-proxy", fmt.Sprintf("http://127.0.0.1:%d/healthz", health), nil)
}

// startAddons starts what a managed cluster would provide: a default
// storage class with its provisioner, and DNS for Service names.
func (c *Cluster) startAddons(ctx context.Context) error {
	bg, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	dns, err := newDNSServer(c.Client, NodeIP+":53")
	if err != nil {
		return err
	}
	c.goBackground(func() { dns.serve(bg) })
	if err := c.createStorageClass(ctx); err != nil {
		return err
	}
	c.goBackground(func() { c.provision(bg) })
	return nil
}

func (c *Cluster) goBackground(fn func()) {
	c.nbg++
	go func() {
		defer func() { c.bg <- struct{}{} }()
		fn()
	}()
}

// Stop stops every process of the cluster and removes everything it
// created. It is safe to call on a partly started cluster.
func (c *Cluster) Stop() {
	if c.cancel != nil {
		c.cancel()
		for range c.nbg {
			<-c.bg
		}
		c.nbg = 0
	}
	if err := c.cleanup(); err != nil {
		c.logf("kubetest: cleanup: %v", err)
	}
	if c.lock != nil {
		_ = c.lock.Close()
		c.lock = nil
	}
}

// waitHTTP polls url until it answers 200.
func (c *Cluster) waitHTTP(ctx context.Context, name, url string, tlsCfg *tls.Config) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer hc.CloseIdleConnections()
	return c.poll(ctx, name+" ready", func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		res, err := hc.Do(req)
		if err != nil {
			return false, nil
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK, nil
	})
}

// poll calls cond until it is true, fails, a started process exits, or ctx ends.
func (c *Cluster) poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited while waiting for %s: %w\n%s", p.name, what, p.err, p.tail(30))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Shared is a cluster started once for a test package by Main.
type Shared struct {
	Cluster *Cluster
	Err     error
}

// Main starts a cluster, runs the package's tests and stops it; use it from
// TestMain:
//
//	var shared kubetest.Shared
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m, &shared)) }
//
// With -short, or when something is missing, the tests run without a
// cluster and Require skips them (fails them in CI).
func Main(m *testing.M, s *Shared) int {
	flag.Parse()
	if testing.Short() {
		s.Err = fmt.Errorf("%w: -short", ErrMissing)
		return m.Run()
	}
	logf := func(format string, args ...any) {
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	s.Cluster, s.Err = Start(context.Background(), Options{Logf: logf})
	if s.Err != nil {
		fmt.Fprintln(os.Stderr, s.Err)
		return m.Run()
	}
	fmt.Fprintln(os.Stderr, s.Cluster.Report())
	code := m.Run()
	t0 := time.Now()
	s.Cluster.Stop()
	fmt.Fprintf(os.Stderr, "cluster stopped in %s\n", time.Since(t0).Round(time.Millisecond))
	return code
}

// Require returns the shared cluster, or skips the test (fails it in CI or
// when the cluster failed to start for another reason than a missing
// dependency).
func (s *Shared) Require(t testing.TB) *Cluster {
	t.Helper()
	switch {
	case s.Cluster != nil:
		return s.Cluster
	case s.Err == nil:
		t.Fatal("kubetest: the cluster was not started: call kubetest.Main from TestMain")
	case errors.Is(s.Err, ErrMissing) && !CI():
		t.Skip(s.Err)
	default:
		t.Fatal(s.Err)
	}
	return nil
}

// Kubectl runs the cluster's kubectl (built by tools/kube/build.sh) with the
// admin kubeconfig and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kubectl"), append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
