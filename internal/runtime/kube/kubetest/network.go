package kubetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mattn/go-shellwords"
	"golang.org/x/net/dns/dnsmessage"
)

// setupNetwork creates the bridge with the node's address (the kubelet
// needs that address before the first pod exists), lets traffic in and out
// of it through the FORWARD chain (Docker's policy there is DROP), and
// writes the CNI configuration containerd reads.
func (c *Cluster) setupNetwork() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, args := range [][]string{
		// A fixed address: a bridge whose address was not set takes the
		// lowest of its ports', so adding a pod would change the gateway's
		// MAC under the pods' ARP caches and drop replies for a while.
		{"link", "add", BridgeName, "address", bridgeMAC, "type", "bridge"},
		{"addr", "add", NodeIP + "/24", "dev", BridgeName},
		{"link", "set", BridgeName, "up"},
	} {
		if err := command(ctx, "ip", args...); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"-N", fwdChain},
		{"-A", fwdChain, "-i", BridgeName, "-j", "ACCEPT"},
		{"-A", fwdChain, "-o", BridgeName, "-j", "ACCEPT"},
		{"-I", "FORWARD", "1", "-j", fwdChain},
	} {
		if err := command(ctx, "iptables", append([]string{"-w"}, args...)...); err != nil {
			return err
		}
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, cniNetwork, BridgeName, PodSubnet, NodeIP, c.path("cni", "ipam"))
	return writeFile(c.path("cni", "net.d", "10-quai.conflist"), []byte(conf), 0o644)
}

func removeBridge() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := net.InterfaceByName(BridgeName); err != nil {
		return nil
	}
	// Veths of killed pods vanish with their network namespaces; any still
	// attached go with the bridge's removal as well.
	return command(ctx, "ip", "link", "del", BridgeName)
}

// removeIptables removes every KUBE-* chain (kube-proxy's and the
// kubelet's) and the jumps to them, in IPv4 and IPv6, and the harness's
// FORWARD chain. Only one test cluster runs on a machine at a time, so the
// KUBE-* chains are all its own.
func (c *Cluster) removeIptables() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle"} {
			errs = append(errs, removeChains(ctx, bin, table, func(chain string) bool {
				return strings.HasPrefix(chain, "KUBE-") || chain == fwdChain
			}))
		}
	}
	return errors.Join(errs...)
}

// removeChains deletes the chains of table that match ours, after the
// rules elsewhere that jump to them.
func removeChains(ctx context.Context, bin, table string, ours func(string) bool) error {
	out, err := exec.CommandContext(ctx, bin, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil // table not present
	}
	var errs []error
	var chains []string
	for _, line := range strings.Split(string(out), "\n") {
		args, err := shellwords.Parse(line)
		if err != nil || len(args) < 2 {
			continue
		}
		switch {
		case args[0] == "-N" && ours(args[1]):
			chains = append(chains, args[1])
		case args[0] == "-A" && !ours(args[1]):
			for i := 2; i+1 < len(args); i++ {
				if (args[i] == "-j" || args[i] == "-g") && ours(args[i+1]) {
					args[0] = "-D"
					errs = append(errs, command(ctx, bin, append([]string{"-w", "-t", table}, args...)...))
					break
				}
			}
		}
	}
	for _, ch := range chains {
		errs = append(errs, command(ctx, bin, "-w", "-t", table, "-F", ch))
	}
	for _, ch := range chains {
		errs = append(errs, command(ctx, bin, "-w", "-t", table, "-X", ch))
	}
	return errors.Join(errs...)
}

// startContainerd runs a containerd of the cluster's own (config, socket,
// root and state under the cluster directory) and loads the pause image.
func (c *Cluster) startContainerd(ctx context.Context) error {
	d := c.path("containerd")
	cfg := fmt.Sprintf(`version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "%[2]s"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%[3]s"
  # This VM forbids writing /proc/self/oom_score_adj upwards; without it
  # runc fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "%[4]s"
    conf_dir = "%[5]s"
  # Registries the cluster trusts (TrustRegistry): one hosts.toml per
  # host[:port], read at each pull.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "%[1]s/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "%[1]s/runc"
`, d, c.ctrdSocket, PauseImage, cniBinDir, c.path("cni", "net.d"))
	if err := writeFile(filepath.Join(d, "config.toml"), []byte(cfg), 0o600); err != nil {
		return err
	}
	if _, err := c.run("containerd", "containerd", "--config", filepath.Join(d, "config.toml"), "--log-level", "warn"); err != nil {
		return err
	}
	if err := c.poll(ctx, "containerd socket", func(ctx context.Context) (bool, error) {
		return c.ctr(ctx, "version") == nil, nil
	}); err != nil {
		return err
	}
	img, err := pauseImage()
	if err != nil {
		return err
	}
	return c.LoadImage(ctx, PauseImage, img)
}

// ctr runs ctr against the cluster's containerd in the CRI namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) error {
	return command(ctx, "ctr", append([]string{"--address", c.ctrdSocket, "--namespace", "k8s.io"}, args...)...)
}

// dnsServer answers A queries for <service>.<namespace>.svc.<domain> with
// the Service's cluster IP (or its endpoints' addresses when headless), the
// part of CoreDNS that apps in the tests need. Other names get NXDOMAIN.
type dnsServer struct {
	client kubernetes.Interface
	conn   net.PacketConn
}

func newDNSServer(client kubernetes.Interface, addr string) (*dnsServer, error) {
	conn, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("dns on %s: %w", addr, err)
	}
	return &dnsServer{client: client, conn: conn}, nil
}

func (d *dnsServer) serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		_ = d.conn.Close()
	}()
	buf := make([]byte, 1500)
	for {
		n, addr, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		resp, err := d.answer(ctx, buf[:n])
		if err != nil {
			continue
		}
		_, _ = d.conn.WriteTo(resp, addr)
	}
}

func (d *dnsServer) answer(ctx context.Context, query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	h.Response, h.Authoritative, h.RecursionAvailable = true, true, true
	h.RCode = dnsmessage.RCodeNameError
	var ips []net.IP
	name := strings.ToLower(q.Name.String())
	if svc, ns, ok := strings.Cut(strings.TrimSuffix(name, ".svc."+ClusterDomain+"."), "."); ok && !strings.Contains(ns, ".") && strings.HasSuffix(name, ".svc."+ClusterDomain+".") {
		var found bool
		ips, found = d.lookup(ctx, ns, svc)
		if found {
			h.RCode = dnsmessage.RCodeSuccess
		}
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.Type == dnsmessage.TypeA {
		for _, ip := range ips {
			var a [4]byte
			copy(a[:], ip.To4())
			if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}, dnsmessage.AResource{A: a}); err != nil {
				return nil, err
			}
		}
	}
	return b.Finish()
}

// lookup returns the addresses of a Service and whether it exists.
func (d *dnsServer) lookup(ctx context.Context, ns, name string) ([]net.IP, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	svc, err := d.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, false
	}
	if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil && ip.To4() != nil {
		return []net.IP{ip}, true
	}
	slices, err := d.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
	if err != nil {
		return nil, true
	}
	var ips []net.IP
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
					ips = append(ips, ip)
				}
			}
		}
	}
	return ips, true
}
