// Package apitest provides a scripted api.Engine for unit tests of the API's
// own logic (status mapping, streaming, the exec protocol) and of the
// client. Tests of real behaviour go through internal/daemon/daemontest,
// which runs the real engine.
//
// It imports internal/api and the engine's vocabulary; production code
// never imports it.
package apitest

import (
	"context"
	"errors"
	"io"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// errUnscripted is returned by methods a test did not script.
var errUnscripted = errors.New("apitest: method not scripted")

// Engine answers each method with the function a test set, or an error.
type Engine struct {
	PlanFunc     func(ctx context.Context, m *stack.Model, runtimeName string) (engine.Plan, error)
	UpFunc       func(ctx context.Context, req engine.UpRequest, emit engine.Emitter) (engine.Release, error)
	RollbackFunc func(ctx context.Context, instance string, to int, emit engine.Emitter) (engine.Release, error)
	PromoteFunc  func(ctx context.Context, req engine.PromoteRequest, emit engine.Emitter) (engine.Release, error)
	RestartFunc  func(ctx context.Context, instance, service string, emit engine.Emitter) error
	DownFunc     func(ctx context.Context, instance string, emit engine.Emitter) error
	RemoveFunc   func(ctx context.Context, instance string, purge bool, emit engine.Emitter) error
	ListFunc     func(ctx context.Context) ([]engine.Instance, error)
	StatusFunc   func(ctx context.Context, instance string) (engine.InstanceStatus, error)
	ReleasesFunc func(ctx context.Context, instance string) ([]engine.Release, error)
	LogsFunc     func(ctx context.Context, instance string, services []string, opts runtime.LogOptions) (io.ReadCloser, error)
	ExecFunc     func(ctx context.Context, instance, service string, opts runtime.ExecOptions) (int, error)
}

var _ api.Engine = (*Engine)(nil)

// Plan implements api.Engine.
func (e *Engine) Plan(ctx context.Context, m *stack.Model, runtimeName string) (engine.Plan, error) {
	if e.PlanFunc == nil {
		return engine.Plan{}, errUnscripted
	}
	return e.PlanFunc(ctx, m, runtimeName)
}

// Up implements api.Engine.
func (e *Engine) Up(ctx context.Context, req engine.UpRequest, emit engine.Emitter) (engine.Release, error) {
	if e.UpFunc == nil {
		return engine.Release{}, errUnscripted
	}
	return e.UpFunc(ctx, req, emit)
}

// Rollback implements api.Engine.
func (e *Engine) Rollback(ctx context.Context, instance string, to int, emit engine.Emitter) (engine.Release, error) {
	if e.RollbackFunc == nil {
		return engine.Release{}, errUnscripted
	}
	return e.RollbackFunc(ctx, instance, to, emit)
}

// Promote implements api.Engine.
func (e *Engine) Promote(ctx context.Context, req engine.PromoteRequest, emit engine.Emitter) (engine.Release, error) {
	if e.PromoteFunc == nil {
		return engine.Release{}, errUnscripted
	}
	return e.PromoteFunc(ctx, req, emit)
}

// Restart implements api.Engine.
func (e *Engine) Restart(ctx context.Context, instance, service string, emit engine.Emitter) error {
	if e.RestartFunc == nil {
		return errUnscripted
	}
	return e.RestartFunc(ctx, instance, service, emit)
}

// Down implements api.Engine.
func (e *Engine) Down(ctx context.Context, instance string, emit engine.Emitter) error {
	if e.DownFunc == nil {
		return errUnscripted
	}
	return e.DownFunc(ctx, instance, emit)
}

// Remove implements api.Engine.
func (e *Engine) Remove(ctx context.Context, instance string, purge bool, emit engine.Emitter) error {
	if e.RemoveFunc == nil {
		return errUnscripted
	}
	return e.RemoveFunc(ctx, instance, purge, emit)
}

// List implements api.Engine.
func (e *Engine) List(ctx context.Context) ([]engine.Instance, error) {
	if e.ListFunc == nil {
		return nil, errUnscripted
	}
	return e.ListFunc(ctx)
}

// Status implements api.Engine.
func (e *Engine) Status(ctx context.Context, instance string) (engine.InstanceStatus, error) {
	if e.StatusFunc == nil {
		return engine.InstanceStatus{}, errUnscripted
	}
	return e.StatusFunc(ctx, instance)
}

// Releases implements api.Engine.
func (e *Engine) Releases(ctx context.Context, instance string) ([]engine.Release, error) {
	if e.ReleasesFunc == nil {
		return nil, errUnscripted
	}
	return e.ReleasesFunc(ctx, instance)
}

// Logs implements api.Engine.
func (e *Engine) Logs(ctx context.Context, instance string, services []string, opts runtime.LogOptions) (io.ReadCloser, error) {
	if e.LogsFunc == nil {
		return nil, errUnscripted
	}
	return e.LogsFunc(ctx, instance, services, opts)
}

// Exec implements api.Engine.
func (e *Engine) Exec(ctx context.Context, instance, service string, opts runtime.ExecOptions) (int, error) {
	if e.ExecFunc == nil {
		return 0, errUnscripted
	}
	return e.ExecFunc(ctx, instance, service, opts)
}
