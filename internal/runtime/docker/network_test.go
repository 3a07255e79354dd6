package docker

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/stack"
)

func TestFreeSubnet(t *testing.T) {
	pool := netip.MustParsePrefix("10.213.0.0/16")
	pfx := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		used []netip.Prefix
		want string
	}{
		{"empty pool", nil, "10.213.0.0/26"},
		{"first two taken", pfx("10.213.0.0/26", "10.213.0.64/26"), "10.213.0.128/26"},
		{"a wider network overlaps", pfx("10.213.0.0/24", "172.17.0.0/16"), "10.213.1.0/26"},
		{"a narrower one too", pfx("10.213.0.8/29"), "10.213.0.64/26"},
		{"all taken", pfx("10.0.0.0/8"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := freeSubnet(pool, networkSubnetBits, tc.used)
			if tc.want == "" {
				if ok {
					t.Fatalf("got %s, want none", got)
				}
				return
			}
			if !ok || got.String() != tc.want {
				t.Fatalf("got %s %t, want %s", got, ok, tc.want)
			}
		})
	}
}

// TestManyInstanceNetworks: Docker's default address pools hold about 30
// bridge networks, quai makes one per instance; the instances beyond get
// subnets of quai's own pool.
func TestManyInstanceNetworks(t *testing.T) {
	r := newRuntime(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 40
	var names []string
	t.Cleanup(func() {
		for _, name := range names {
			if _, err := r.cli.NetworkRemove(context.Background(), name, client.NetworkRemoveOptions{}); err != nil {
				t.Errorf("remove network %s: %v", name, err)
			}
		}
	})
	pool := netip.MustParsePrefix(DefaultNetworkPool)
	fromPool := 0
	for i := range n {
		id := stack.Identity{Org: "netpool", Project: fmt.Sprintf("p%d", i), Env: "test"}
		name, err := r.ensureNetwork(ctx, id)
		if err != nil {
			t.Fatalf("network of instance %d: %v", i, err)
		}
		names = append(names, name)
		ins, err := r.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ins.Network.IPAM.Config {
			if pool.Contains(c.Subnet.Addr()) {
				fromPool++
			}
		}
	}
	used, err := r.usedSubnets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range used {
		for _, b := range used[i+1:] {
			if a.Overlaps(b) {
				t.Errorf("networks overlap: %s and %s", a, b)
			}
		}
	}
	if fromPool == 0 {
		t.Errorf("%d networks were created without quai's pool: the engine's defaults were not used up, so the fallback is untested", n)
	}
	t.Logf("%d instance networks, %d of them from %s", n, fromPool, pool)
}

// TestTwoDaemonsShareTheNetworkPool: two daemons on one engine carve
// subnets from the same pool at the same time; each one's lock orders only
// its own allocations, so the engine refuses one of two picks of the same
// subnet and the loser must take the next, not fail the deploy ("Pool
// overlaps with other one on this address space").
func TestTwoDaemonsShareTheNetworkPool(t *testing.T) {
	rs := []*Runtime{newRuntime(t, Options{}), newRuntime(t, Options{})}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const perDaemon = 25
	names := make([][]string, len(rs))
	t.Cleanup(func() {
		for i, r := range rs {
			for _, name := range names[i] {
				if _, err := r.cli.NetworkRemove(context.Background(), name, client.NetworkRemoveOptions{}); err != nil {
					t.Errorf("remove network %s: %v", name, err)
				}
			}
		}
	})
	errs := make(chan error, len(rs))
	for i, r := range rs {
		go func() {
			for j := range perDaemon {
				id := stack.Identity{Org: "netrace", Project: fmt.Sprintf("d%dp%d", i, j), Env: "test"}
				name, err := r.ensureNetwork(ctx, id)
				if err != nil {
					errs <- fmt.Errorf("daemon %d, instance %d: %w", i, j, err)
					return
				}
				names[i] = append(names[i], name)
			}
			errs <- nil
		}()
	}
	for range rs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	used, err := rs[0].usedSubnets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range used {
		for _, b := range used[i+1:] {
			if a.Overlaps(b) {
				t.Errorf("networks overlap: %s and %s", a, b)
			}
		}
	}
}
