package cli

import (
	"context"
	"errors"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

// withClient runs fn with a client of the daemon, starting a daemon when
// none runs, and closes the client after.
func (g *globals) withClient(ctx context.Context, fn func(*client.Client) error) error {
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// show is a read-only verb: fetch a value from the daemon, print it as JSON
// with --json, else as text.
func show[T any](ctx context.Context, g *globals, get func(*client.Client) (T, error), text func(T) error) error {
	return g.withClient(ctx, func(c *client.Client) error {
		v, err := get(c)
		if err != nil {
			return err
		}
		if g.JSON {
			return g.printJSON(v)
		}
		return text(v)
	})
}

// operate is a verb that runs one streamed operation on the daemon.
func (g *globals) operate(ctx context.Context, op func(*client.Client, wire.Emitter) (wire.Event, error)) error {
	return g.withClient(ctx, func(c *client.Client) error {
		_, err := g.runOperation(func(emit wire.Emitter) (wire.Event, error) { return op(c, emit) })
		return err
	})
}

// runOperation renders the events of one streamed operation. A failed
// operation has already been shown by the renderer, so it exits with
// ExitFailed without printing the error again (but as JSON with --json).
func (g *globals) runOperation(op func(wire.Emitter) (wire.Event, error)) (wire.Event, error) {
	r := g.newRenderer()
	ev, err := op(r.Event)
	r.Close()
	if errors.Is(err, client.ErrOperationFailed) {
		return ev, &exitError{code: ExitFailed, err: err, shown: true}
	}
	return ev, err
}
