package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime"
)

// cpuSample is one reading of a container's and the host's CPU counters,
// with the figures Inspect reports from it.
type cpuSample struct {
	container, system uint64
	cpus              uint32
	// mem and pct are the memory use and the CPU use since the previous
	// sample; at is when the sample was taken; busy while the next one is
	// being taken.
	mem  int64
	pct  float64
	at   time.Time
	busy bool
}

// usageMaxAge is how old a usage sample may be before Inspect starts a new
// one.
const usageMaxAge = 2 * time.Second

// inspectReplica inspects h's container and checks that it is h's replica.
func (r *Runtime) inspectReplica(ctx context.Context, h runtime.Handle) (container.InspectResponse, error) {
	if h.ID == "" {
		return container.InspectResponse{}, fmt.Errorf("replica %s: the handle has no container id: %w", h.Replica, runtime.ErrNotFound)
	}
	res, err := r.cli.ContainerInspect(ctx, h.ID, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, r.wrap("replica "+h.Replica, err)
	}
	c := res.Container
	if c.Config == nil || c.Config.Labels[LabelManaged] != Name || c.Config.Labels[runtime.LabelReplica] != h.Replica ||
		!sameIdentity(identityOf(c.Config.Labels), h.Instance) {
		return container.InspectResponse{}, fmt.Errorf("replica %s of %s: container %.12s belongs to something else: %w",
			h.Replica, h.Instance.Name(), h.ID, runtime.ErrNotFound)
	}
	return c, nil
}

// Inspect implements runtime.Runtime: state and restarts from the engine,
// health from the Docker healthcheck and the runtime's HTTP probe, usage
// from a one-shot stats sample.
func (r *Runtime) Inspect(ctx context.Context, h runtime.Handle) (runtime.Status, error) {
	c, err := r.inspectReplica(ctx, h)
	if err != nil {
		return runtime.Status{}, err
	}
	st := runtime.Status{Restarts: c.RestartCount, Health: runtime.HealthNone}
	s := c.State
	if s == nil {
		return st, fmt.Errorf("replica %s: the engine reports no state", h.Replica)
	}
	if t, err := time.Parse(time.RFC3339Nano, s.StartedAt); err == nil && t.Year() > 1 {
		st.Started = t
	}
	switch container.ContainerState(s.Status) {
	case container.StateRunning, container.StatePaused:
		st.State = runtime.StateRunning
	case container.StateRestarting:
		// Waiting out the backoff after a crash, whose code it keeps.
		st.State = runtime.StateStarting
		st.ExitCode = s.ExitCode
	case container.StateCreated:
		st.State = runtime.StateStopped
	default:
		st.State = runtime.StateExited
		if r.wasStopped(c.ID) {
			st.State = runtime.StateStopped
		}
		st.ExitCode = s.ExitCode
	}
	var msgs []string
	if s.OOMKilled {
		msgs = append(msgs, "killed: out of memory (raise the service's memory limit)")
	}
	if s.Error != "" {
		msgs = append(msgs, s.Error)
	}
	if st.State == runtime.StateRunning {
		st.Health, msgs = r.health(c, msgs)
		r.usage(c.ID, &st)
	} else if s.Restarting {
		st.Health = runtime.HealthStarting
	}
	st.Message = strings.Join(msgs, "; ")
	return st, nil
}

// health combines the Docker healthcheck and the HTTP probe: unhealthy if
// either is, healthy when every declared check passes.
func (r *Runtime) health(c container.InspectResponse, msgs []string) (runtime.Health, []string) {
	var hs []runtime.Health
	if dh := c.State.Health; dh != nil && dh.Status != container.NoHealthcheck {
		h := runtime.Health(dh.Status)
		if h != runtime.HealthHealthy && len(dh.Log) > 0 {
			if last := dh.Log[len(dh.Log)-1]; last != nil {
				out := strings.TrimSpace(last.Output)
				if out == "" {
					out = fmt.Sprintf("exit code %d", last.ExitCode)
				}
				msgs = append(msgs, "healthcheck: "+out)
			}
		}
		hs = append(hs, h)
	}
	if path := c.Config.Labels[LabelHealthPath]; path != "" && c.Config.Labels[LabelAddress] != "" {
		w := r.watcherOf(c.ID)
		if w == nil {
			start, err := time.ParseDuration(c.Config.Labels[LabelHealthStart])
			if err != nil {
				start = defaultHealthStart
			}
			r.watch(c.ID, c.Config.Labels[LabelAddress], path, start)
			w = r.watcherOf(c.ID)
		}
		h, msg := runtime.HealthStarting, "no health check has passed yet"
		if w != nil {
			if wh, wmsg, run := w.status(); run == c.State.StartedAt {
				h, msg = wh, wmsg
			}
		}
		if msg != "" {
			msgs = append(msgs, msg)
		}
		hs = append(hs, h)
	}
	if len(hs) == 0 {
		return runtime.HealthNone, msgs
	}
	out := runtime.HealthHealthy
	for _, h := range hs {
		switch {
		case h == runtime.HealthUnhealthy:
			return runtime.HealthUnhealthy, msgs
		case h != runtime.HealthHealthy:
			out = runtime.HealthStarting
		}
	}
	return out, msgs
}

// usage fills CPU and memory from the container's last stats sample and,
// when it is older than usageMaxAge, takes a new one in the background: a
// stats call waits for the engine's next collection (about a second),
// which Inspect, polled while replicas start, must not wait for. The first
// Inspect of a container reports no usage; CPU is the use between the last
// two samples. Stats are best effort: a failure leaves the figures as they
// were.
func (r *Runtime) usage(id string, st *runtime.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.cpu[id]
	if !s.busy && (!ok || time.Since(s.at) > usageMaxAge) {
		select {
		case <-r.closed:
		default:
			s.busy = true
			r.cpu[id] = s
			go r.sample(id)
		}
	}
	st.MemoryBytes, st.CPUPercent = s.mem, s.pct
}

// sample takes one stats sample of a container.
func (r *Runtime) sample(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur, err := r.stats(ctx, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, ok := r.cpu[id]
	if !ok {
		return // removed meanwhile
	}
	if err != nil {
		prev.busy, prev.at = false, time.Now()
		r.cpu[id] = prev
		return
	}
	cur.pct = prev.pct
	if prev.system > 0 && cur.system > prev.system && cur.container >= prev.container {
		cur.pct = float64(cur.container-prev.container) / float64(cur.system-prev.system) * float64(max(cur.cpus, 1)) * 100
	}
	cur.at = time.Now()
	r.cpu[id] = cur
}

// stats reads a container's memory use and CPU counters.
func (r *Runtime) stats(ctx context.Context, id string) (cpuSample, error) {
	res, err := r.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return cpuSample{}, err
	}
	defer func() { _ = res.Body.Close() }()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return cpuSample{}, err
	}
	mem := s.MemoryStats.Usage
	// The page cache is reclaimable: docker stats subtracts it too
	// (inactive_file on cgroup v2, cache on v1).
	if v, ok := s.MemoryStats.Stats["inactive_file"]; ok && v < mem {
		mem -= v
	} else if v, ok := s.MemoryStats.Stats["total_inactive_file"]; ok && v < mem {
		mem -= v
	} else if v, ok := s.MemoryStats.Stats["cache"]; ok && v < mem {
		mem -= v
	}
	cur := cpuSample{container: s.CPUStats.CPUUsage.TotalUsage, system: s.CPUStats.SystemUsage, cpus: s.CPUStats.OnlineCPUs, mem: int64(mem)}
	if cur.cpus == 0 {
		cur.cpus = uint32(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	return cur, nil
}
