package engine

import (
	"context"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/store"
)

// listFresh is how long a listed state is trusted. `ls` must stay cheap
// with a thousand instances: asking the runtime about every replica of
// every instance (a Docker inspect each) on every call took seconds, so
// each instance's line is the one its last full status computed, valid
// while nothing the engine knows of changed it. An operation on the
// instance, a replica exit the runtime reports, a change of its active
// release, of its stopped flag or of its record drops it. What the engine
// cannot hear of (a health check that starts failing) shows within
// listFresh: an older line is computed again. The daemon's metrics and
// alert pollers compute every instance's status every 10 s, which renews
// the lines long before they get that old, even on a loaded machine where
// a cycle over a thousand instances takes seconds.
const listFresh = 30 * time.Second

// listing is what `ls` shows of each instance, as last computed.
type listing struct {
	mu sync.Mutex
	// gen counts each instance's invalidations: a status computed across
	// one is not kept.
	gen     map[string]uint64
	entries map[string]listEntry
	watch   sync.Once
}

// listEntry is one instance's line and what it was computed from.
type listEntry struct {
	inst    Instance
	release int
	stopped bool
	updated time.Time
	at      time.Time
}

// listGen returns the instance's invalidation count, taken before a status
// is computed and handed to remember after.
func (e *Engine) listGen(name string) uint64 {
	e.list.mu.Lock()
	defer e.list.mu.Unlock()
	return e.list.gen[name]
}

// remember keeps a computed line for `ls`, unless the instance changed
// since gen was taken.
func (e *Engine) remember(in store.Instance, inst Instance, gen uint64) {
	e.list.mu.Lock()
	defer e.list.mu.Unlock()
	if e.list.gen[in.Name] != gen {
		return
	}
	if e.list.entries == nil {
		e.list.entries = map[string]listEntry{}
	}
	e.list.entries[in.Name] = listEntry{inst: inst, release: inst.Release, stopped: in.Stopped, updated: in.Updated, at: e.now()}
}

// forget drops the instance's line: something changed it.
func (e *Engine) forget(name string) {
	e.list.mu.Lock()
	defer e.list.mu.Unlock()
	if e.list.gen == nil {
		e.list.gen = map[string]uint64{}
	}
	e.list.gen[name]++
	delete(e.list.entries, name)
}

// listed returns the instance's kept line when it still describes in.
func (e *Engine) listed(in store.Instance, now time.Time) (Instance, bool) {
	e.list.mu.Lock()
	defer e.list.mu.Unlock()
	c, ok := e.list.entries[in.Name]
	if !ok || c.release != in.Active || c.stopped != in.Stopped || !c.updated.Equal(in.Updated) || now.Sub(c.at) >= listFresh {
		return Instance{}, false
	}
	// Fields that are not the runtime's: as the store has them now.
	inst := c.inst
	inst.Identity, inst.Runtime, inst.Dir = in.Identity, in.Runtime, in.Dir
	return inst, true
}

// prune drops the lines of instances that no longer exist.
func (e *Engine) prune(exists map[string]bool) {
	e.list.mu.Lock()
	defer e.list.mu.Unlock()
	for name := range e.list.entries {
		if !exists[name] {
			delete(e.list.entries, name)
		}
	}
}

// followReplicas drops an instance's line whenever a runtime that reports
// replica exits reports one of its replicas, from the first List until the
// engine closes.
func (e *Engine) followReplicas() {
	e.list.watch.Do(func() {
		for name, rt := range e.runtimes {
			w, ok := rt.(runtime.ReplicaWatcher)
			if !ok {
				continue
			}
			ch, err := w.WatchReplicas(e.base)
			if err != nil {
				e.log.Warn("cannot follow replica exits; ls may show a crashed replica's instance as it was for a few seconds", "runtime", name, "err", err)
				continue
			}
			go func() {
				for ev := range ch {
					e.forget(instanceOf(ev))
				}
			}()
		}
	})
}

// instanceOf is the name of the instance a replica event is about.
func instanceOf(ev runtime.ReplicaEvent) string {
	if name := ev.Labels[runtime.LabelInstance]; name != "" {
		return name
	}
	return ev.Handle.Instance.Name()
}

// listInstances returns the visible instances' lines: from memory when
// kept and valid, else computed now.
func (e *Engine) listInstances(ctx context.Context) ([]Instance, error) {
	e.followReplicas()
	list, err := e.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(list))
	visible := visibleIn(ctx)
	now := e.now()
	exists := make(map[string]bool, len(list))
	for _, in := range list {
		exists[in.Name] = true
		if !visible(in.Identity) {
			continue
		}
		inst, ok := e.listed(in, now)
		if !ok {
			st, err := e.status(ctx, in)
			if err != nil {
				return nil, err
			}
			inst = st.Instance
		}
		if e.busy(in.Name) {
			inst.State = InstanceDeploying
		}
		out = append(out, inst)
	}
	e.prune(exists)
	return out, nil
}
