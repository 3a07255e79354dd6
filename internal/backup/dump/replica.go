package dump

import (
	"context"
	"fmt"
	"io"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// ExecIn runs commands in replica h of rt, which must implement
// runtime.Execer: in its container (docker), its pod (kubernetes), or on
// the host with its environment and user (process).
func ExecIn(rt runtime.Runtime, h runtime.Handle) (Exec, error) {
	ex, ok := rt.(runtime.Execer)
	if !ok {
		return nil, fmt.Errorf("the %s runtime cannot run commands in replicas, which database backups need: %w", rt.Name(), runtime.ErrUnsupported)
	}
	return func(ctx context.Context, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
		return ex.Exec(ctx, h, runtime.ExecOptions{Cmd: cmd, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	}, nil
}

// PathsOf reads and writes the directories of replica h of rt, which must
// implement runtime.PathCopier.
func PathsOf(rt runtime.Runtime, h runtime.Handle) (PathAccess, error) {
	pc, ok := rt.(runtime.PathCopier)
	if !ok {
		return nil, fmt.Errorf("the %s runtime cannot read replicas' files, which volume and files backups need: %w", rt.Name(), runtime.ErrUnsupported)
	}
	return replicaPaths{pc: pc, h: h}, nil
}

type replicaPaths struct {
	pc runtime.PathCopier
	h  runtime.Handle
}

func (r replicaPaths) ReadTar(ctx context.Context, p string, w io.Writer) error {
	return r.pc.CopyFrom(ctx, r.h, p, w)
}

func (r replicaPaths) WriteTar(ctx context.Context, p string, rd io.Reader) error {
	return r.pc.CopyTo(ctx, r.h, p, rd)
}

func (r replicaPaths) HostPath(p string) (string, bool) {
	return r.pc.HostPath(context.Background(), r.h, p)
}

// ForReplica returns the dumper of kind for service svc running as replica
// h of rt.
func ForReplica(kind string, svc *stack.Service, rt runtime.Runtime, h runtime.Handle) (Dumper, error) {
	ex, err := ExecIn(rt, h)
	if err != nil && kind != stack.BackupVolume && kind != stack.BackupFiles {
		return nil, err
	}
	var fs PathAccess
	if pa, perr := PathsOf(rt, h); perr == nil {
		fs = pa
	} else if kind == stack.BackupVolume || kind == stack.BackupFiles {
		return nil, perr
	}
	return New(kind, svc, ex, fs)
}
