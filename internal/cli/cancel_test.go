package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestVerbsStopWhenCanceled: a verb run under a canceled context (Ctrl-C)
// stops while loading the stack instead of finishing the load.
func TestVerbsStopWhenCanceled(t *testing.T) {
	dir := writeStack(t, cleanStack)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"lint", dir},
		{"config", dir},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(ctx, args, strings.NewReader(""), &out, &errOut)
			if code != ExitInterrupted || !strings.Contains(errOut.String(), "context canceled") {
				t.Errorf("exit %d, stderr %q; want exit %d and context canceled", code, errOut.String(), ExitInterrupted)
			}
		})
	}
}
