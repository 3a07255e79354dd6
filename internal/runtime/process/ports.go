package process

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The runtime keeps the ports its replicas hold in memory (Runtime.ports,
// port → replica directory), read from every replica's spec once, at the
// first allocation, and kept up to date by Start and Remove: reading every
// spec at each allocation made a start cost as much as the number of
// replicas on the host, and a large scale-up quadratic.

// DefaultPorts is the range replica ports come from unless the runtime is
// given one: 20000-29999, below the kernel's ephemeral range. A port the
// kernel may hand out as the source port of an outgoing connection can be
// taken between the runtime finding it free and the replica binding it; on
// a busy host the replica then fails to listen and crash-loops. The range
// stops short of 30000-32767, Kubernetes' NodePorts, which kube-proxy may
// answer on loopback. When the ephemeral range starts below 21000 (a tuned
// host) the zero range is returned and the kernel chooses.
func DefaultPorts() PortRange {
	low := 32768 // Linux's default, and what other systems stay above
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	r := PortRange{Min: 20000, Max: min(29999, low-1)}
	if r.Max-r.Min < 1000 {
		return PortRange{}
	}
	return r
}

// allocatePort finds a free loopback port that no replica of this runtime
// (running or restarting, whose port may be momentarily unbound) holds, and
// holds it for the replica directory dir.
func (r *Runtime) allocatePort(dir string) (int, error) {
	r.portMu.Lock()
	defer r.portMu.Unlock()
	r.loadPorts()
	try := func(p int) bool {
		if _, held := r.ports[p]; held {
			return false
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		_ = l.Close()
		r.ports[p] = dir
		return true
	}
	if lo, hi := r.opts.Ports.Min, r.opts.Ports.Max; lo > 0 {
		n := hi - lo + 1
		off := rand.IntN(n) //nolint:gosec // spreading ports, not security
		for i := range n {
			if p := lo + (off+i)%n; try(p) {
				return p, nil
			}
		}
		return 0, fmt.Errorf("no free port left in %d-%d", lo, hi)
	}
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free loopback port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if _, held := r.ports[p]; !held {
			r.ports[p] = dir
			return p, nil
		}
	}
	return 0, errors.New("find a free loopback port: every port offered is held by a replica")
}

// holdPort records that the replica in dir holds port (one it was given
// in PORT rather than allocated).
func (r *Runtime) holdPort(port int, dir string) {
	if port <= 0 {
		return
	}
	r.portMu.Lock()
	defer r.portMu.Unlock()
	r.loadPorts()
	r.ports[port] = dir
}

// releasePort forgets port if the replica in dir holds it.
func (r *Runtime) releasePort(port int, dir string) {
	r.portMu.Lock()
	defer r.portMu.Unlock()
	if r.ports[port] == dir {
		delete(r.ports, port)
	}
}

// loadPorts reads the ports of the replicas on disk, once; r.portMu is held.
func (r *Runtime) loadPorts() {
	if r.ports != nil {
		return
	}
	r.ports = map[int]string{}
	specs, _ := filepath.Glob(filepath.Join(r.opts.DataDir, "instances", "*", "replicas", "*", specFile))
	for _, p := range specs {
		if s, err := readSpec(filepath.Dir(p)); err == nil && s.Port > 0 {
			r.ports[s.Port] = filepath.Dir(p)
		}
	}
}
