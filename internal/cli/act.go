package cli

import (
	"context"

	"github.com/quai-dev/quai/internal/client"
)

// act is a verb that makes one change naming one thing and answers
// nothing worth showing: with --json it prints {key: name}, else msg.
func (g *globals) act(ctx context.Context, do func(*client.Client) error, key, name, msg string) error {
	return g.withClient(ctx, func(c *client.Client) error {
		if err := do(c); err != nil {
			return err
		}
		if g.JSON {
			return g.printJSON(map[string]string{key: name})
		}
		fprintln(g.stdout, msg)
		return nil
	})
}
