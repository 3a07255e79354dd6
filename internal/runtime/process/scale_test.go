package process

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

// manyReplicas lays out n replica directories of one instance as a
// `replicas: n` deploy leaves them: a spec with a typical environment and a
// state each (their supervisors are gone).
func manyReplicas(tb testing.TB, dataDir string, n int) stack.Identity {
	tb.Helper()
	id := stack.Identity{Org: "default", Project: "big", Env: "prod"}
	env := make([]string, 40)
	for i := range env {
		env[i] = fmt.Sprintf("VARIABLE_%d=some value of a typical length for an environment variable %d", i, i)
	}
	for i := range n {
		dir := filepath.Join(dataDir, "instances", id.Slug(), "replicas", fmt.Sprintf("web-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		spec := &shimSpec{Version: specVersion, Meta: specMeta{Instance: id, Service: "web", Replica: filepath.Base(dir), Release: 1, Hash: "abc"},
			Argv: []string{"/bin/true"}, Env: env, Port: 40000 + i, Kind: kindApp}
		if err := writeJSON(filepath.Join(dir, specFile), spec, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := writeJSON(filepath.Join(dir, stateFile), &shimState{Version: specVersion, Phase: phaseExited, ShimPid: 1 << 22, ShimStart: 1}, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return id
}

// BenchmarkScale measures List and a port allocation over an instance of
// 10,000 replica directories.
func BenchmarkScale(b *testing.B) {
	dataDir := b.TempDir()
	id := manyReplicas(b, dataDir, 10000)
	// The replicas hold 40000-49999; new ones come from the range beside.
	r, err := New(Options{DataDir: dataDir, Logger: slog.New(slog.DiscardHandler), Ports: PortRange{Min: 40000, Max: 50999}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("List", func(b *testing.B) {
		for b.Loop() {
			if hs, err := r.List(context.Background(), id); err != nil || len(hs) != 10000 {
				b.Fatal(len(hs), err)
			}
		}
	})
	b.Run("AllocatePort", func(b *testing.B) {
		for b.Loop() {
			p, err := r.allocatePort("bench")
			if err != nil {
				b.Fatal(err)
			}
			r.releasePort(p, "bench")
		}
	})
}

// TestDefaultPortsBelowTheEphemeralRange: replica ports come from a range
// the kernel never hands out as source ports of outgoing connections, and
// that stays clear of Kubernetes' NodePorts.
func TestDefaultPortsBelowTheEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatal(err)
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		t.Fatal(err)
	}
	pr := DefaultPorts()
	if lo > 21000 && (pr.Min < 1024 || pr.Max >= lo || pr.Max >= 30000 || pr.Max-pr.Min < 1000) {
		t.Fatalf("DefaultPorts() = %+v with the ephemeral range %d-%d: want at least 1000 ports below both it and 30000", pr, lo, hi)
	}
	r, err := New(Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		p, err := r.allocatePort("t")
		if err != nil {
			t.Fatal(err)
		}
		if p < pr.Min || p > pr.Max {
			t.Fatalf("allocated port %d, outside %+v", p, pr)
		}
	}
}
