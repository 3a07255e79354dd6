package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// busy reports whether an operation of this engine runs on the instance;
// being re-attached by Recover is none.
func (e *Engine) busy(instance string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.locks[instance]) > 0 && !e.recoveringNow[instance]
}

// List returns every instance with its state, by name. It reads one store
// query and what the engine keeps of each instance's last status (see
// listing), not the runtime: that is Status.
func (e *Engine) List(ctx context.Context) ([]Instance, error) {
	return e.listInstances(ctx)
}

// Status reports an instance and each service's replicas as the runtime
// sees them now.
func (e *Engine) Status(ctx context.Context, instance string) (InstanceStatus, error) {
	in, err := e.instance(ctx, instance)
	if err != nil {
		return InstanceStatus{}, err
	}
	return e.status(ctx, in)
}

func (e *Engine) status(ctx context.Context, in store.Instance) (InstanceStatus, error) {
	gen := e.listGen(in.Name)
	st := InstanceStatus{Instance: Instance{Name: in.Name, Identity: in.Identity, Runtime: in.Runtime, Dir: in.Dir, Updated: in.Updated}}
	var m *stack.Model
	active, err := e.store.ActiveRelease(ctx, in.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return st, err
	default:
		st.Release = active.Number
		if m, err = decodeModel(active); err != nil {
			return st, err
		}
	}
	jobs := map[string]bool{}
	if m != nil {
		jobs = jobServices(m)
	}
	ds, rtErr := e.strategyFor(in.Runtime)
	var groups map[string][]replicaView
	if rtErr != nil {
		// The runtime is not configured in this daemon: the recorded
		// replicas show why on each.
		groups, err = e.recordedReplicas(ctx, in, func(runtime.Handle) (runtime.Status, bool) {
			return runtime.Status{State: runtime.StateStopped, Health: runtime.HealthNone, Message: rtErr.Error()}, false
		})
	} else {
		groups, err = ds.replicas(ctx, in, jobs)
	}
	if err != nil {
		return st, err
	}
	var names []string
	if m != nil {
		order, err := startOrder(m, true)
		if err != nil {
			return st, err
		}
		for _, s := range order {
			names = append(names, s.Name)
		}
		if !in.Stopped {
			httpPort, httpsPort := e.httpPort, e.httpsPort
			if ds != nil && !ds.proxied() {
				// Routed by the runtime (a cluster's ingress controller),
				// on the schemes' own ports.
				httpPort, httpsPort = 0, 0
			}
			st.URLs = urls(m, e.defaultHost, httpPort, httpsPort)
		}
	}
	for svc := range groups {
		if m == nil || m.Service(svc) == nil {
			names = append(names, svc)
		}
	}
	sort.Strings(names[len(names)-countExtra(m, groups):])
	desiredTotal, readyTotal, startingTotal := 0, 0, 0
	for _, name := range names {
		ss := ServiceStatus{Service: name}
		if m != nil {
			if svc := m.Service(name); svc != nil {
				ss.Desired, ss.Hash = svc.Replicas, svc.Hash
				if in.Stopped {
					ss.Desired = 0
				}
			}
		}
		for _, r := range groups[name] {
			if r.ready {
				ss.Ready++
			} else if starting(r.Status) {
				startingTotal++
			}
			ss.Replicas = append(ss.Replicas, r.ReplicaInfo)
		}
		desiredTotal += ss.Desired
		readyTotal += min(ss.Ready, ss.Desired)
		st.Services = append(st.Services, ss)
	}
	switch {
	case e.busy(in.Name):
		st.State = InstanceDeploying
	case in.Stopped:
		st.State = InstanceStopped
	case desiredTotal > 0 && readyTotal == 0 && startingTotal > 0 && st.Release != 0:
		// Not one replica has failed yet: they have not been checked (a
		// daemon that just re-attached) or are still coming up.
		st.State = InstanceStarting
	case st.Release == 0 || (desiredTotal > 0 && readyTotal == 0):
		st.State = InstanceFailed
	case readyTotal < desiredTotal:
		st.State = InstanceDegraded
	default:
		st.State = InstanceRunning
	}
	st.Backup = e.backupState(ctx, in, m)
	st.Certificates = e.certificates(in.Name)
	e.remember(in, st.Instance, gen)
	return st, nil
}

// certReporter is a Router that reports the certificates it serves: the
// proxy.
type certReporter interface {
	Certificates() []proxy.CertStatus
}

// certificates are the instance's certificates as the router serves them,
// with the last ACME failure's explanation.
func (e *Engine) certificates(instance string) []wire.CertificateState {
	cr, ok := e.router.(certReporter)
	if !ok {
		return nil
	}
	var out []wire.CertificateState
	for _, c := range cr.Certificates() {
		if c.Instance == instance {
			out = append(out, wire.CertificateState{Host: c.Host, Source: c.Source, NotAfter: c.NotAfter, Error: c.RenewError})
		}
	}
	return out
}

// starting reports a replica that runs or is being started and has not
// been found healthy nor unhealthy yet.
func starting(st runtime.Status) bool {
	return st.State == runtime.StateStarting || (st.State == runtime.StateRunning && st.Health == runtime.HealthStarting)
}

// replicaView is a replica in a status report and whether it counts as ready.
type replicaView struct {
	ReplicaInfo
	ready bool
}

// recordedReplicas reports the instance's recorded handles by service,
// each with the status and readiness statusOf gives it.
func (e *Engine) recordedReplicas(ctx context.Context, in store.Instance, statusOf func(runtime.Handle) (runtime.Status, bool)) (map[string][]replicaView, error) {
	handles, err := e.store.Handles(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	out := map[string][]replicaView{}
	for svc, hs := range byService(handles) {
		for _, h := range hs {
			v := replicaView{ReplicaInfo: ReplicaInfo{Replica: h.Replica, Release: h.Release, Address: h.Address}}
			v.Status, v.ready = statusOf(h)
			out[svc] = append(out[svc], v)
		}
	}
	return out, nil
}

// countExtra counts the services with replicas that m does not declare.
func countExtra(m *stack.Model, groups map[string][]replicaView) int {
	n := 0
	for svc := range groups {
		if m == nil || m.Service(svc) == nil {
			n++
		}
	}
	return n
}

// urls lists where the instance's routes answer, with the proxy's port when
// it is not the scheme's default.
func urls(m *stack.Model, pattern string, httpPort, httpsPort int) []string {
	var out []string
	for _, r := range m.Routes {
		scheme, port := "https", httpsPort
		if r.TLS == stack.TLSOff {
			scheme, port = "http", httpPort
		}
		host := routeHost(r, m.Identity, pattern)
		defaultPort := map[string]int{"http": 80, "https": 443}[scheme]
		if port != 0 && port != defaultPort {
			host = net.JoinHostPort(host, strconv.Itoa(port))
		}
		out = append(out, scheme+"://"+host+routePath(r))
	}
	return out
}

// Releases lists the instance's releases, newest first, with secret values
// redacted from their models (rollback reads the store, not this).
func (e *Engine) Releases(ctx context.Context, instance string) ([]Release, error) {
	if _, err := e.instance(ctx, instance); err != nil {
		return nil, err
	}
	list, err := e.store.Releases(ctx, instance)
	if err != nil {
		return nil, err
	}
	out := make([]Release, 0, len(list))
	for _, r := range list {
		rel, err := toRelease(r)
		if err != nil {
			return nil, err
		}
		rel.Model = redactModel(rel.Model)
		out = append(out, rel)
	}
	return out, nil
}

// replicasOf returns the instance's runtime and the handles of one service
// ("" = every service).
func (e *Engine) replicasOf(ctx context.Context, instance, service string) (runtime.Runtime, []runtime.Handle, error) {
	in, err := e.instance(ctx, instance)
	if err != nil {
		return nil, nil, err
	}
	st, err := e.strategyFor(in.Runtime)
	if err != nil {
		return nil, nil, err
	}
	rt := st.runtime()
	handles, err := st.handles(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	groups := byService(handles)
	if service == "" {
		var names []string
		for n := range groups {
			names = append(names, n)
		}
		sort.Strings(names)
		var all []runtime.Handle
		for _, n := range names {
			all = append(all, groups[n]...)
		}
		return rt, all, nil
	}
	if len(groups[service]) == 0 {
		var names []string
		if active, err := e.store.ActiveRelease(ctx, instance); err == nil {
			for svc := range active.Hashes {
				names = append(names, svc)
			}
		}
		for n := range groups {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if n == service {
				return nil, nil, fmt.Errorf("service %s of %s has no replicas (is the instance down?): %w", service, instance, ErrNotFound)
			}
		}
		return nil, nil, &NotFoundError{Kind: "service", Name: service, Suggestions: suggest(service, names)}
	}
	return rt, groups[service], nil
}

// Exec runs a command in the first healthy replica of the service (the
// first running one if none is healthy) and returns its exit code.
func (e *Engine) Exec(ctx context.Context, instance, service string, opts runtime.ExecOptions) (int, error) {
	if service == "" {
		return -1, fmt.Errorf("exec in %s: name a service: %w", instance, ErrInvalid)
	}
	rt, hs, err := e.replicasOf(ctx, instance, service)
	if err != nil {
		return -1, err
	}
	ex, ok := rt.(runtime.Execer)
	if !ok {
		return -1, fmt.Errorf("exec in %s: the %s runtime cannot run commands in replicas: %w", instance, rt.Name(), runtime.ErrUnsupported)
	}
	pick, ok := pickReplica(ctx, rt, hs)
	if !ok {
		return -1, fmt.Errorf("exec in %s: no replica of %s is running: %w", instance, service, ErrNotFound)
	}
	return ex.Exec(ctx, pick, opts)
}
