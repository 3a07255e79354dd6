package runtimetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// neverRan is an instance no subtest applies nor starts anything of.
var neverRan = stack.Identity{Org: stack.DefaultOrg, Project: "conformance", Env: "never-ran"}

// runCore runs the checks every runtime passes, whichever way it deploys,
// on a runtime that starts nothing.
func runCore(t *testing.T, factory Factory) {
	t.Run("Core", func(t *testing.T) {
		rt := factory(t).Runtime
		t.Cleanup(func() {
			if err := rt.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		t.Run("CapabilitiesMatchInterfaces", func(t *testing.T) {
			caps := rt.Capabilities()
			_, logs := rt.(runtime.Logger)
			_, exec := rt.(runtime.Execer)
			_, volumes := rt.(runtime.VolumeManager)
			if caps.Logs != logs || caps.Exec != exec || caps.Volumes != volumes {
				t.Errorf("Capabilities says logs=%t exec=%t volumes=%t, but %T implements Logger=%t Execer=%t VolumeManager=%t",
					caps.Logs, caps.Exec, caps.Volumes, rt, logs, exec, volumes)
			}
		})
		t.Run("OneDeploymentCapability", func(t *testing.T) {
			_, runs := rt.(runtime.ReplicaRunner)
			_, applies := rt.(runtime.Applier)
			if runs == applies {
				t.Errorf("%T implements ReplicaRunner=%t and Applier=%t; a runtime implements exactly one", rt, runs, applies)
			}
		})
		t.Run("InspectOfAnUnknownHandleIsNotFound", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitState)
			defer cancel()
			h := runtime.Handle{Version: runtime.HandleVersion, Runtime: rt.Name(), Instance: neverRan, Service: "web",
				Replica: "web-r1-1", Release: 1, ID: "never-ran-web-r1-1"}
			if st, err := rt.Inspect(ctx, h); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("Inspect of a replica that never ran = %+v, %v; want ErrNotFound", st, err)
			}
		})
		t.Run("ListOfAnUnknownInstanceIsEmpty", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if hs, err := rt.List(ctx, neverRan); err != nil || len(hs) != 0 {
				t.Errorf("List of an instance that never ran = %+v, %v; want nothing and no error", hs, err)
			}
		})
	})
}
