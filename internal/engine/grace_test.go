package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/stack"
)

// TestStopGracePeriod: a replica gets its service's stop_grace_period to
// stop after SIGTERM before it is killed. The app takes three seconds to
// shut down and records when it finished: within a longer grace it does,
// with a shorter one it is killed first.
func TestStopGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grace    time.Duration
		finishes bool
	}{
		{"shorter than the shutdown: killed", time.Second, false},
		{"longer than the shutdown: finishes", 30 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			mark := filepath.Join(t.TempDir(), "stopped")
			h.up(t, "v1", func(m *stack.Model) {
				web := m.Service("web")
				web.Replicas = 1
				web.Environment["STOP_DELAY"] = "3s"
				web.Environment["STOP_MARK"] = mark
				web.StopGracePeriod = tc.grace
			})
			if err := h.eng.Down(context.Background(), appID.Name(), nil); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(mark)
			switch {
			case tc.finishes && err != nil:
				t.Errorf("the replica did not finish its shutdown within a %s grace: %v", tc.grace, err)
			case !tc.finishes && !errors.Is(err, os.ErrNotExist):
				t.Errorf("the replica finished a 3s shutdown although its grace was %s: %v", tc.grace, err)
			}
		})
	}
}
