package docker

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
)

// DefaultNetworkPool is where instance networks get their subnets once the
// engine's own address pools are used up: Docker's defaults hold about 30
// bridge networks, and quai makes one per instance. It is carved into /26
// subnets (62 addresses, room for an instance's containers): 1,024
// instances more.
const DefaultNetworkPool = "10.213.0.0/16"

// networkSubnetBits is the prefix length of the subnets carved from the pool.
const networkSubnetBits = 26

// createNetwork creates a bridge network, in a subnet of the engine's
// choosing (its default-address-pools, which an administrator may have
// set) or, when those are used up, in a free subnet of Options.NetworkPool.
func (r *Runtime) createNetwork(ctx context.Context, name string, labels map[string]string) error {
	_, err := r.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	if err == nil || !strings.Contains(err.Error(), "could not find an available, non-overlapping IPv4 address pool") {
		return err
	}
	pool, perr := netip.ParsePrefix(r.opts.NetworkPool)
	if perr != nil {
		return fmt.Errorf("network pool %q: %w", r.opts.NetworkPool, perr)
	}
	// One allocation at a time: two instances must not pick the same subnet.
	r.netMu.Lock()
	defer r.netMu.Unlock()
	used, lerr := r.usedSubnets(ctx)
	if lerr != nil {
		return lerr
	}
	// The mutex orders this runtime's allocations only: another daemon on
	// the same engine may take the subnet between the list and the create.
	// The engine refuses the overlap, and the next free subnet is tried.
	for range maxSubnetTries {
		subnet, ok := freeSubnet(pool.Masked(), networkSubnetBits, used)
		if !ok {
			return fmt.Errorf("%w: the engine's address pools and quai's network pool %s are used up: remove unused networks (`docker network prune`) or give the engine larger default-address-pools: %w",
				runtime.ErrUnavailable, pool, err)
		}
		_, err = r.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: labels,
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}})
		if err == nil || !strings.Contains(err.Error(), "overlaps with other one") {
			return err
		}
		used = append(used, subnet)
	}
	return err
}

// maxSubnetTries bounds the subnets one network creation tries when other
// daemons on the engine keep taking them first.
const maxSubnetTries = 16

// usedSubnets lists the IPv4 subnets of the engine's networks.
func (r *Runtime) usedSubnets(ctx context.Context) ([]netip.Prefix, error) {
	list, err := r.cli.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, r.wrap("list networks", err)
	}
	var out []netip.Prefix
	for _, n := range list.Items {
		for _, c := range n.IPAM.Config {
			if c.Subnet.IsValid() && c.Subnet.Addr().Is4() {
				out = append(out, c.Subnet.Masked())
			}
		}
	}
	return out, nil
}

// freeSubnet returns the first subnet of the given length inside pool that
// overlaps none of used.
func freeSubnet(pool netip.Prefix, bits int, used []netip.Prefix) (netip.Prefix, bool) {
	if !pool.Addr().Is4() || bits < pool.Bits() || bits > 30 {
		return netip.Prefix{}, false
	}
	step := uint32(1) << (32 - bits)
	base := pool.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	count := uint32(1) << (bits - pool.Bits())
	for i := range count {
		v := start + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
