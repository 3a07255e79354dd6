package daemontest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// SeedInstances writes n installed instances spread over orgs
// organizations straight into a data directory's store: each has one
// active release of the test app's model and no replicas (a real deploy of
// 1,000 instances would take the 2-core test machine an hour; the API's
// cost is reading the store and the runtime's answer for each instance,
// which is there either way, the runtime finding no replica).
func SeedInstances(b testing.TB, dir string, n, orgs int) {
	b.Helper()
	ctx := context.Background()
	key, err := secrets.LoadOrCreateKey(datadir.MasterKeyPath(dir), nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenWith(datadir.StorePath(dir), store.Options{Key: key})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	m, err := stack.Load(ctx, stack.Options{Dir: AppProject(b, App{Project: "shop"}), Env: "dev"})
	if err != nil {
		b.Fatal(err)
	}
	envs := []string{"dev", "staging", "prod"}
	for i := range n {
		m.Identity = stack.Identity{Org: fmt.Sprintf("org%02d", i%orgs), Project: fmt.Sprintf("app%03d", i/orgs/len(envs)), Env: envs[(i/orgs)%len(envs)]}
		name := m.Identity.Name()
		model, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.PutInstance(ctx, store.Instance{Name: name, Identity: m.Identity, Runtime: "process", Dir: "/nonexistent"}); err != nil {
			b.Fatal(err)
		}
		rel, err := st.CreateRelease(ctx, store.Release{Instance: name, Status: store.StatusPending, Runtime: "process", Model: model, Resolved: m.Resolved, Cause: "seed"})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.SwitchRelease(ctx, store.Switch{Instance: name, Release: rel.Number, At: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
