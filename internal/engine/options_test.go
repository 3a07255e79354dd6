package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

func TestNewChecksOptions(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "quai.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	rt, err := process.New(process.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rt.Close() }()
	rts := map[string]runtime.Runtime{"process": rt}
	for _, tt := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"no store", Options{Runtimes: rts}, false},
		{"no runtime", Options{Store: s}, false},
		{"unknown default runtime", Options{Store: s, Runtimes: rts, DefaultRuntime: "docker"}, false},
		{"single runtime is the default", Options{Store: s, Runtimes: rts}, true},
		{"a runtime that cannot deploy", Options{Store: s, Runtimes: map[string]runtime.Runtime{"process": coreOnly{rt}}}, false},
		{"a runtime that deploys two ways", Options{Store: s, Runtimes: map[string]runtime.Runtime{"process": bothWays{rt, &declarative{}}}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("New: err = %v, want ok=%v", err, tt.ok)
			}
			if e != nil && (e.defaultRuntime != "process" || e.healthTimeout == 0 || e.drainTimeout == 0) {
				t.Fatalf("defaults not applied: %+v", e)
			}
		})
	}

	e, err := New(Options{Store: s, Runtimes: rts})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Recover(ctx); err != nil {
		t.Fatalf("recover of an empty store: %v", err)
	}
	var nf *NotFoundError
	if _, err := e.Status(ctx, "nope-dev"); !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("status of an unknown instance: %v", err)
	}
	if err := e.Down(ctx, "nope-dev", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("down of an unknown instance: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Up(ctx, UpRequest{Model: shopModel()}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("up after close: err = %v, want ErrClosed", err)
	}
}

// coreOnly is a runtime with the core contract and no way to deploy.
type coreOnly struct{ runtime.Runtime }

// bothWays is a runtime that claims both ways to deploy.
type bothWays struct {
	*process.Runtime
	applier *declarative
}

func (b bothWays) Apply(ctx context.Context, m *stack.Model, o runtime.ApplyOptions) error {
	return b.applier.Apply(ctx, m, o)
}
func (b bothWays) State(ctx context.Context, id stack.Identity) ([]runtime.ServiceState, error) {
	return b.applier.State(ctx, id)
}
func (b bothWays) Down(ctx context.Context, id stack.Identity) error { return b.applier.Down(ctx, id) }
func (b bothWays) Delete(ctx context.Context, id stack.Identity, purge bool) error {
	return b.applier.Delete(ctx, id, purge)
}
