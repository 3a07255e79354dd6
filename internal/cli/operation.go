package cli

import (
	"errors"

	"github.com/quai-dev/quai/internal/client"
)

// runOperation renders the events of one streamed operation. A failed
// operation has already been shown by the renderer, so it exits with
// ExitError without printing the error again.
func (g *globals) runOperation(op func(client.Emitter) (client.Event, error)) (client.Event, error) {
	r := g.newRenderer()
	ev, err := op(r.Event)
	r.Close()
	if err != nil {
		if errors.Is(err, client.ErrOperationFailed) {
			return ev, withCode(ExitError, nil)
		}
		return ev, withCode(ExitError, err)
	}
	return ev, nil
}
