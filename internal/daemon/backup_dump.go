package daemon

import (
	"context"
	"io"

	"github.com/quai-dev/quai/internal/backup/dump"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// newDumper makes a service's dumper beside replica h.
func newDumper(_ context.Context, kind string, svc *stack.Service, rt runtime.Runtime, h runtime.Handle) (engine.Dumper, error) {
	d, err := dump.ForReplica(kind, svc, rt, h)
	if err != nil {
		return nil, err
	}
	return dumperAdapter{d}, nil
}

// dumperAdapter is a dump.Dumper as the engine sees it.
type dumperAdapter struct{ d dump.Dumper }

func (a dumperAdapter) Dump(ctx context.Context, w io.Writer) error    { return a.d.Dump(ctx, w) }
func (a dumperAdapter) Restore(ctx context.Context, r io.Reader) error { return a.d.Restore(ctx, r) }

func (a dumperAdapter) Check(ctx context.Context) (engine.Facts, error) {
	f, err := a.d.Check(ctx)
	return engine.Facts{Tables: f.Tables, Files: f.Files}, err
}

func (a dumperAdapter) Recorded() (engine.Facts, bool) {
	rec, ok := a.d.(dump.Recorder)
	if !ok {
		return engine.Facts{}, false
	}
	f := rec.Recorded()
	return engine.Facts{Tables: f.Tables, Files: f.Files}, true
}
