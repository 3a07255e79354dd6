package engine

import (
	"context"
	"sync"

	"github.com/quai-dev/quai/internal/stack"
)

// startDep is a service another one waits for before it starts.
type startDep struct {
	service string
	// started: the dependency's new replicas having started is enough
	// (depends_on with service_started); otherwise they must be healthy,
	// or completed for a one-shot job.
	started bool
}

// startDeps is the graph an execution runs: the one startOrder sorts, whose
// references that would form a cycle are left out.
func startDeps(m *stack.Model, withRefs bool) map[string][]startDep {
	if withRefs {
		if _, err := topoSort(m, dependencyGraph(m, true)); err != nil {
			withRefs = false
		}
	}
	return dependencyGraph(m, withRefs)
}

// dependencyGraph returns, for every service, what it waits for before its
// replicas start: its depends_on entries with their conditions and, with
// refs (engine-provided discovery), the services whose address its
// environment uses (healthy, as the application likely connects at once).
// It is the engine's one dependency graph: startOrder sorts it, cascade
// follows it and an execution runs it.
func dependencyGraph(m *stack.Model, withRefs bool) map[string][]startDep {
	out := make(map[string][]startDep, len(m.Services))
	for _, s := range m.Services {
		seen := map[string]bool{}
		for _, d := range s.DependsOn {
			if m.Service(d.Service) == nil || d.Service == s.Name || seen[d.Service] {
				continue
			}
			seen[d.Service] = true
			out[s.Name] = append(out[s.Name], startDep{service: d.Service, started: d.Condition == stack.ConditionStarted})
		}
		if withRefs {
			for _, r := range envRefs(m, s) {
				if !seen[r] {
					seen[r] = true
					out[s.Name] = append(out[s.Name], startDep{service: r})
				}
			}
		}
	}
	return out
}

// node tracks one service of the plan while the graph runs: started is
// closed once its new replicas run (and its address is known), ready once
// they are healthy (or completed). Neither closes if the service fails.
type node struct {
	started chan struct{}
	ready   chan struct{}
}

// services applies the plan's services as a graph: each service starts as
// soon as the services it depends on reached their condition, independent
// services concurrently. The first failure cancels the rest; services
// returns it once every service's work has ended, so that everything
// started is recorded for undoing.
func (x *execution) services(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deps := startDeps(x.model, x.snap.obs.Discovery)
	nodes := make(map[string]*node, len(x.plan.Services))
	for _, sp := range x.plan.Services {
		nodes[sp.Service] = &node{started: make(chan struct{}), ready: make(chan struct{})}
	}
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	for _, sp := range x.plan.Services {
		n := nodes[sp.Service]
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := x.awaitDeps(ctx, deps[sp.Service], nodes)
			if err == nil {
				err = x.service(ctx, sp, func() { close(n.started) })
			}
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				cancel()
				return
			}
			close(n.ready)
		}()
	}
	wg.Wait()
	return firstErr
}

// awaitDeps blocks until every dependency reached its condition.
func (x *execution) awaitDeps(ctx context.Context, deps []startDep, nodes map[string]*node) error {
	for _, d := range deps {
		n, ok := nodes[d.service]
		if !ok {
			continue
		}
		ch := n.ready
		if d.started {
			ch = n.started
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
