package loadtest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// InstanceReport is a quai instance's own figures during a run, per
// service, from its status polled while the run lasted.
type InstanceReport struct {
	Instance string `json:"instance"`
	// Polls counts the statuses the figures come from; PollErrors those
	// that failed (the first one in PollError).
	Polls      int    `json:"polls"`
	PollErrors int    `json:"poll_errors,omitempty"`
	PollError  string `json:"poll_error,omitempty"`
	// Every is the polling interval.
	Every    time.Duration   `json:"every_ns"`
	Services []ServiceReport `json:"services"`
}

// ServiceReport is one service's figures during a run.
type ServiceReport struct {
	Service string `json:"service"`
	// Replicas is the most replicas seen at once.
	Replicas int `json:"replicas"`
	// Size is the service's size class and LimitMilliCPU and LimitMemory
	// its limits, when the caller knows them (0: none).
	Size          string `json:"size,omitempty"`
	LimitMilliCPU int64  `json:"limit_milli_cpu,omitempty"`
	LimitMemory   int64  `json:"limit_memory_bytes,omitempty"`
	// CPUPeak and CPUMean are the service's CPU use, all replicas added
	// (100 = one core), at its highest poll and on average over the polls.
	CPUPeak float64 `json:"cpu_peak_percent"`
	CPUMean float64 `json:"cpu_mean_percent"`
	// MemoryPeak is the service's memory, all replicas added, at its
	// highest poll.
	MemoryPeak int64 `json:"memory_peak_bytes"`
	// Restarts counts the restarts of the service's replicas during the
	// run.
	Restarts int `json:"restarts"`
	// Unready counts the polls where fewer replicas were ready than
	// desired.
	Unready int `json:"unready_polls,omitempty"`
	// Routed says the load went to this service; Responses5xx is then how
	// many of the run's answers were 5xx (the instance's proxy answers
	// those of a service with no healthy replica, too).
	Routed       bool  `json:"routed,omitempty"`
	Responses5xx int64 `json:"responses_5xx"`
}

// StatusFunc fetches the instance's status (internal/client's Status).
type StatusFunc func(ctx context.Context) (wire.InstanceStatus, error)

// Watcher polls an instance's status during a run.
type Watcher struct {
	get      StatusFunc
	every    time.Duration
	instance string
	cancel   context.CancelFunc
	done     chan struct{}

	mu       sync.Mutex
	polls    int
	errs     int
	firstErr string
	services map[string]*serviceTally
	order    []string
}

type serviceTally struct {
	replicas int
	cpuPeak  float64
	cpuSum   float64
	cpuPolls int
	memPeak  int64
	first    map[string]int // replica → restarts at its first poll
	last     map[string]int
	unready  int
}

// Watch polls get every interval until Stop. The first poll happens before
// Watch returns, so restarts count from the run's start.
func Watch(ctx context.Context, instance string, get StatusFunc, every time.Duration) *Watcher {
	if every <= 0 {
		every = time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{get: get, every: every, instance: instance, cancel: cancel, done: make(chan struct{}), services: map[string]*serviceTally{}}
	w.poll(ctx)
	go w.loop(ctx)
	return w
}

func (w *Watcher) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll(ctx)
		}
	}
}

func (w *Watcher) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, max(w.every, 5*time.Second))
	defer cancel()
	st, err := w.get(pctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			w.errs++
			if w.firstErr == "" {
				w.firstErr = err.Error()
			}
		}
		return
	}
	w.add(st)
}

// add folds one status into the tallies.
func (w *Watcher) add(st wire.InstanceStatus) {
	w.polls++
	for _, s := range st.Services {
		t := w.services[s.Service]
		if t == nil {
			t = &serviceTally{first: map[string]int{}, last: map[string]int{}}
			w.services[s.Service] = t
			w.order = append(w.order, s.Service)
		}
		var cpu float64
		var mem int64
		measured := false
		for _, r := range s.Replicas {
			cpu += r.Status.CPUPercent
			mem += r.Status.MemoryBytes
			measured = measured || r.Status.MemoryBytes > 0 || r.Status.CPUPercent > 0
			if _, ok := t.first[r.Replica]; !ok {
				t.first[r.Replica] = r.Status.Restarts
			}
			t.last[r.Replica] = r.Status.Restarts
		}
		t.replicas = max(t.replicas, len(s.Replicas))
		if measured {
			t.cpuPeak = max(t.cpuPeak, cpu)
			t.cpuSum += cpu
			t.cpuPolls++
			t.memPeak = max(t.memPeak, mem)
		}
		if s.Ready < s.Desired {
			t.unready++
		}
	}
}

// Stop polls a last time, stops polling and returns the figures.
func (w *Watcher) Stop(ctx context.Context) *InstanceReport {
	w.cancel()
	<-w.done
	w.poll(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	rep := &InstanceReport{Instance: w.instance, Polls: w.polls, PollErrors: w.errs, PollError: w.firstErr, Every: w.every, Services: []ServiceReport{}}
	for _, name := range w.order {
		t := w.services[name]
		s := ServiceReport{Service: name, Replicas: t.replicas, CPUPeak: t.cpuPeak, MemoryPeak: t.memPeak, Unready: t.unready}
		if t.cpuPolls > 0 {
			s.CPUMean = t.cpuSum / float64(t.cpuPolls)
		}
		for r, last := range t.last {
			if d := last - t.first[r]; d > 0 {
				s.Restarts += d
			}
		}
		rep.Services = append(rep.Services, s)
	}
	slices.SortFunc(rep.Services, func(a, b ServiceReport) int {
		switch {
		case a.Service < b.Service:
			return -1
		case a.Service > b.Service:
			return 1
		}
		return 0
	})
	return rep
}
