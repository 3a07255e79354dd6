package alert

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// MetricSource is what the metric-based rules read; the metrics package
// implements it (the daemon passes it in).
type MetricSource interface {
	// RequestStats: proxied requests to instance over the last window, how
	// many answered 5xx, and the 95th percentile latency. ok=false when
	// there is no data (no route, or history off).
	RequestStats(instance string, window time.Duration) (requests, errors5xx int64, p95 time.Duration, ok bool)
	// DiskUsage: the fullest filesystem among the data dir and the volumes dir.
	DiskUsage() (path string, usedRatio float64, err error)
}

// CertInfo is one certificate the proxy serves.
type CertInfo struct {
	Host     string
	Instance string
	Org      string
	NotAfter time.Time
	// RenewError is the last failure to obtain or renew it, "" when the
	// last attempt succeeded.
	RenewError string
}

// CertSource lists the certificates the proxy serves (the daemon adapts
// the proxy to it).
type CertSource interface {
	Certificates() []CertInfo
}

// InstanceState is one instance as a poll sees it.
type InstanceState struct {
	Name    string
	Org     string
	Runtime string
	// Stopped instances (quai down) and Busy ones (an operation runs) are
	// not judged down.
	Stopped, Busy bool
	// Alerts is the x-quai.alerts of its active release.
	Alerts   *stack.Alerts
	Services []ServiceState
}

// ServiceState is one service of a polled instance.
type ServiceState struct {
	Name           string
	Desired, Ready int
	Replicas       []ReplicaState
}

// ReplicaState is one replica of a polled instance.
type ReplicaState struct {
	Name   string
	Status runtime.Status
}

// InstanceSource lists the instances and their replicas (the daemon adapts
// the engine to it).
type InstanceSource interface {
	Instances(ctx context.Context) ([]InstanceState, error)
}

// HostInstance is the instance name of host-wide alerts (disk); they go to
// global channels only.
const HostInstance = "host"

// Options configure an Evaluator.
type Options struct {
	// Config is the daemon's configuration (DefaultConfig, or
	// LoadConfigFile's); stacks override it per instance.
	Config Config
	// StatePath is the state file (DATA_DIR/alerts.json). Required.
	StatePath string
	// Sealer seals channel URLs and secrets. Required.
	Sealer Sealer
	// Instances is polled every PollInterval; nil polls nothing.
	Instances InstanceSource
	// Watchers report replica exits as they happen, by runtime name.
	Watchers map[string]runtime.ReplicaWatcher
	// Metrics and Certs feed the metric and certificate rules; nil turns
	// those rules off.
	Metrics MetricSource
	Certs   CertSource
	// PollInterval is how often instances, metrics and certificates are
	// polled (10s).
	PollInterval time.Duration
	Notifier     *Notifier
	Now          func() time.Time
	Logger       *slog.Logger
	// Daemon identifies the daemon in payloads.
	Daemon string
}

// Evaluator runs the rules: it turns engine events (Observe), replica
// events and polls into alerts, and delivers their notifications.
type Evaluator struct {
	opts Options
	log  *slog.Logger
	m    *Manager

	mu        sync.Mutex
	channels  map[string]*channelState
	overrides map[string]*stack.Alerts
	orgs      map[string]string
	restarts  map[string]int // last seen Status.Restarts, by instance/replica
	cfgCache  map[string]Config

	saveMu sync.Mutex
	wake   chan struct{}
	dirty  chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type channelState struct {
	Channel
	lastErr  string
	lastSent time.Time
}

// ErrNotFound is returned for a channel or silence that does not exist.
var ErrNotFound = errors.New("not found")

// New loads the state and returns an evaluator; Start runs it.
func New(opts Options) (*Evaluator, error) {
	if opts.StatePath == "" || opts.Sealer == nil {
		return nil, errors.New("alert evaluator: a state path and a sealer are required")
	}
	if opts.Config.Rules == nil {
		opts.Config = DefaultConfig()
	}
	opts.PollInterval = cmp.Or(opts.PollInterval, 10*time.Second)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Notifier == nil {
		opts.Notifier = &Notifier{}
	}
	e := &Evaluator{opts: opts, log: opts.Logger, channels: map[string]*channelState{}, overrides: map[string]*stack.Alerts{},
		orgs: map[string]string{}, restarts: map[string]int{}, cfgCache: map[string]Config{},
		wake: make(chan struct{}, 1), dirty: make(chan struct{}, 1)}
	e.m = NewManager(opts.Config, e.configFor)
	if err := e.load(); err != nil {
		return nil, err
	}
	e.m.changed = e.markDirty
	return e, nil
}

// configFor is the configuration in effect for instance.
func (e *Evaluator) configFor(instance string) Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.cfgCache[instance]; ok {
		return c
	}
	c := e.opts.Config.With(e.overrides[instance])
	e.cfgCache[instance] = c
	return c
}

func (e *Evaluator) markDirty() {
	select {
	case e.dirty <- struct{}{}:
	default:
	}
	e.kick()
}

func (e *Evaluator) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start runs the evaluator until Close: it subscribes to the watchers,
// polls, and delivers notifications.
func (e *Evaluator) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	for name, w := range e.opts.Watchers {
		ch, err := w.WatchReplicas(ctx)
		if err != nil {
			e.log.Warn("cannot watch replicas; crashes are seen at polls only", "runtime", name, "err", err)
			continue
		}
		e.wg.Go(func() {
			for ev := range ch {
				e.replicaEvent(ev)
			}
		})
	}
	e.wg.Go(func() { e.pollLoop(ctx) })
	e.wg.Go(func() { e.dispatchLoop(ctx) })
	e.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.dirty:
				e.save()
			}
		}
	})
	return nil
}

// Close stops the evaluator and saves its state.
func (e *Evaluator) Close() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	e.save()
}

// replicaEvent turns a replica's exit into a crash alert.
func (e *Evaluator) replicaEvent(ev runtime.ReplicaEvent) {
	if ev.Kind == runtime.ReplicaRestarted {
		return // restarts are counted from polls (restart_loop)
	}
	inst := cmp.Or(ev.Labels[runtime.LabelInstance], ev.Handle.Instance.Name())
	replica := cmp.Or(ev.Labels[runtime.LabelReplica], ev.Handle.Replica)
	service := cmp.Or(ev.Labels[runtime.LabelService], ev.Handle.Service)
	org := ev.Labels[runtime.LabelOrg]
	what := "exited"
	if ev.Kind == runtime.ReplicaOOM {
		what = "was killed for lack of memory"
	}
	e.m.Fire(e.opts.Now(), Signal{Instance: inst, Org: e.orgOf(inst, org), Rule: RuleCrash, Subject: replica,
		Summary: fmt.Sprintf("replica %s of %s %s: %s", replica, service, what, ev.Reason)})
	e.kick()
}

func (e *Evaluator) orgOf(instance, fallback string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return cmp.Or(e.orgs[instance], fallback)
}

// Observe takes every engine event (engine.Options.Events, and the
// backup scheduler's): failed operations, backup errors and what resolves
// them. It never blocks for long.
func (e *Evaluator) Observe(ev wire.Event) {
	now := e.opts.Now()
	inst := ev.Instance
	org := e.orgOf(inst, "")
	switch ev.Kind {
	case wire.EventFailed:
		e.m.Fire(now, Signal{Instance: inst, Org: org, Rule: RuleDeployFailed,
			Summary: "an operation on " + inst + " failed: " + firstLine(ev.Error), Detail: ev.Error})
	case wire.EventDone:
		if ev.Release > 0 {
			e.m.Resolve(now, inst, RuleDeployFailed, "")
		}
	case wire.EventError:
		rule := classifyBackupError(ev.Error)
		e.m.Fire(now, Signal{Instance: inst, Org: org, Rule: rule, Subject: ev.Service,
			Summary: firstLine(ev.Error), Detail: ev.Error})
	case wire.EventStepDone:
		switch ev.Step {
		case "backup":
			e.m.Resolve(now, inst, RuleBackupFailed, ev.Service)
			e.m.Resolve(now, inst, RuleBackupMissed, ev.Service)
		case "verify":
			e.m.Resolve(now, inst, RuleBackupVerify, ev.Service)
		}
	default:
		return
	}
	e.kick()
}

// classifyBackupError tells which rule an EventError belongs to, from the
// engine's messages ("backup of S of I missed", "verify of snapshot ...
// failed", "drill of I failed", "backup of S of I failed").
func classifyBackupError(msg string) Rule {
	switch {
	case strings.HasPrefix(msg, "backup of ") && strings.Contains(firstLine(msg), " missed"):
		return RuleBackupMissed
	case strings.HasPrefix(msg, "verify of "), strings.HasPrefix(msg, "drill of "):
		return RuleBackupVerify
	}
	return RuleBackupFailed
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (e *Evaluator) pollLoop(ctx context.Context) {
	t := time.NewTicker(e.opts.PollInterval)
	defer t.Stop()
	for {
		e.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll evaluates the level rules once: instances and replicas, request
// metrics, disk and certificates.
func (e *Evaluator) Poll(ctx context.Context) {
	now := e.opts.Now()
	if e.opts.Instances != nil {
		insts, err := e.opts.Instances.Instances(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("alert poll: cannot list instances", "err", err)
			}
		} else {
			e.pollInstances(ctx, now, insts)
		}
	}
	if e.opts.Metrics != nil {
		e.pollDisk(now)
	}
	if e.opts.Certs != nil {
		e.pollCerts(now)
	}
	e.m.Tick(now)
	e.kick()
}

func (e *Evaluator) pollInstances(_ context.Context, now time.Time, insts []InstanceState) {
	e.mu.Lock()
	e.overrides, e.orgs, e.cfgCache = map[string]*stack.Alerts{}, map[string]string{}, map[string]Config{}
	for _, in := range insts {
		e.overrides[in.Name], e.orgs[in.Name] = in.Alerts, in.Org
	}
	e.mu.Unlock()
	var holding, metricHolding []Signal
	seen := map[string]int{}
	for _, in := range insts {
		_, watched := e.opts.Watchers[in.Runtime]
		for _, svc := range in.Services {
			if !in.Stopped && !in.Busy && svc.Desired > 0 && svc.Ready == 0 {
				holding = append(holding, Signal{Instance: in.Name, Org: in.Org, Rule: RuleInstanceDown, Subject: svc.Name,
					Summary: fmt.Sprintf("service %s of %s has no ready replica (0/%d)", svc.Name, in.Name, svc.Desired)})
			}
			for _, r := range svc.Replicas {
				if r.Status.Health == runtime.HealthUnhealthy && r.Status.State == runtime.StateRunning {
					holding = append(holding, Signal{Instance: in.Name, Org: in.Org, Rule: RuleUnhealthy, Subject: r.Name,
						Summary: fmt.Sprintf("replica %s of %s is unhealthy", r.Name, svc.Name), Detail: r.Status.Message})
				}
				k := in.Name + "/" + r.Name
				seen[k] = r.Status.Restarts
				e.mu.Lock()
				prev, known := e.restarts[k]
				e.mu.Unlock()
				if d := r.Status.Restarts - prev; known && d > 0 {
					sig := Signal{Instance: in.Name, Org: in.Org, Subject: r.Name}
					e.m.Restarted(now, sig, d)
					if !watched {
						sig.Rule, sig.Summary, sig.Detail = RuleCrash, fmt.Sprintf("replica %s of %s restarted (%d restarts)", r.Name, svc.Name, r.Status.Restarts), r.Status.Message
						e.m.Fire(now, sig)
					}
				}
			}
		}
		if e.opts.Metrics != nil && !in.Stopped {
			metricHolding = append(metricHolding, e.requestSignals(in)...)
		}
	}
	e.mu.Lock()
	e.restarts = seen
	e.mu.Unlock()
	// Alerts of instances that are gone resolve too; host alerts are not
	// the instances' poll's business.
	scope := func(inst string) bool { return inst != HostInstance }
	e.m.Sync(now, []Rule{RuleUnhealthy, RuleInstanceDown}, scope, holding)
	if e.opts.Metrics != nil {
		e.m.Sync(now, []Rule{RuleErrorRate, RuleLatency}, scope, metricHolding)
	}
}

// requestSignals judges the 5xx ratio and p95 latency of an instance.
func (e *Evaluator) requestSignals(in InstanceState) []Signal {
	cfg := e.configFor(in.Name)
	var out []Signal
	if rc := cfg.Rule(RuleErrorRate); rc.Enabled {
		reqs, errs, _, ok := e.opts.Metrics.RequestStats(in.Name, rc.Window)
		if ok && reqs >= rc.MinRequests && reqs > 0 && float64(errs)/float64(reqs) > rc.Threshold {
			out = append(out, Signal{Instance: in.Name, Org: in.Org, Rule: RuleErrorRate,
				Summary: fmt.Sprintf("%.1f%% of %d requests to %s answered 5xx over %s (threshold %.1f%%)",
					100*float64(errs)/float64(reqs), reqs, in.Name, rc.Window, 100*rc.Threshold)})
		}
	}
	if rc := cfg.Rule(RuleLatency); rc.Enabled {
		reqs, _, p95, ok := e.opts.Metrics.RequestStats(in.Name, rc.Window)
		limit := time.Duration(rc.Threshold * float64(time.Second))
		if ok && reqs >= rc.MinRequests && reqs > 0 && p95 > limit {
			out = append(out, Signal{Instance: in.Name, Org: in.Org, Rule: RuleLatency,
				Summary: fmt.Sprintf("p95 latency of %s is %s over %s (threshold %s)", in.Name, p95.Round(time.Millisecond), rc.Window, limit)})
		}
	}
	return out
}

func (e *Evaluator) pollDisk(now time.Time) {
	path, ratio, err := e.opts.Metrics.DiskUsage()
	var holding []Signal
	rc := e.opts.Config.Rule(RuleDisk)
	if err == nil && ratio > rc.Threshold {
		holding = append(holding, Signal{Instance: HostInstance, Rule: RuleDisk, Subject: path,
			Summary: fmt.Sprintf("the file system of %s is %.0f%% full (threshold %.0f%%)", path, 100*ratio, 100*rc.Threshold)})
	}
	e.m.Sync(now, []Rule{RuleDisk}, func(inst string) bool { return inst == HostInstance }, holding)
}

func (e *Evaluator) pollCerts(now time.Time) {
	var holding []Signal
	for _, c := range e.opts.Certs.Certificates() {
		inst := cmp.Or(c.Instance, HostInstance)
		rc := e.configFor(inst).Rule(RuleCertExpiry)
		if left := c.NotAfter.Sub(now); !c.NotAfter.IsZero() && left < time.Duration(rc.Threshold*24)*time.Hour {
			holding = append(holding, Signal{Instance: inst, Org: c.Org, Rule: RuleCertExpiry, Subject: c.Host,
				Summary: fmt.Sprintf("the certificate of %s expires in %.1f days (%s)", c.Host, left.Hours()/24, c.NotAfter.UTC().Format(time.RFC3339))})
		}
		if c.RenewError != "" {
			holding = append(holding, Signal{Instance: inst, Org: c.Org, Rule: RuleCertRenew, Subject: c.Host,
				Summary: "obtaining or renewing the certificate of " + c.Host + " failed", Detail: c.RenewError})
		}
	}
	e.m.Sync(now, []Rule{RuleCertExpiry, RuleCertRenew}, nil, holding)
}

func (e *Evaluator) dispatchLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := e.opts.Now()
		for _, note := range e.m.Due(now) {
			note.Daemon = e.opts.Daemon
			e.deliver(ctx, note)
		}
		wait := time.Hour
		if next := e.m.NextDue(e.opts.Now()); !next.IsZero() {
			wait = max(next.Sub(e.opts.Now()), 10*time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
	}
}

// channelsFor are the channels an instance's notifications go to: its
// organization's and the global ones, narrowed by x-quai.alerts.channels.
func (e *Evaluator) channelsFor(instance, org string) []Channel {
	cfg := e.configFor(instance)
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Channel
	for _, name := range sortedKeys(e.channels) {
		c := e.channels[name]
		if c.Org != "" && (c.Org != org || instance == HostInstance) {
			continue
		}
		if len(cfg.Channels) > 0 && !slices.Contains(cfg.Channels, c.Name) {
			continue
		}
		out = append(out, c.Channel)
	}
	return out
}

// deliver sends a notification to its channels, each in its own
// goroutine, so a slow channel delays no other.
func (e *Evaluator) deliver(ctx context.Context, note wire.AlertNotification) {
	for _, ch := range e.channelsFor(note.Instance, note.Org) {
		e.wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			err := e.opts.Notifier.Send(sctx, ch, note)
			e.record(ch.Name, err)
			if err != nil {
				e.log.Warn("alert notification failed", "channel", ch.Name, "instance", note.Instance, "err", err)
			} else {
				e.log.Info("alert notification sent", "channel", ch.Name, "instance", note.Instance, "status", note.Status, "alerts", len(note.Alerts))
			}
		})
	}
}

func (e *Evaluator) record(name string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.channels[name]
	if !ok {
		return
	}
	if err != nil {
		c.lastErr = err.Error()
		return
	}
	c.lastErr, c.lastSent = "", e.opts.Now()
}

// List is GET /alerts.
func (e *Evaluator) List(history bool) wire.AlertList { return e.m.List(e.opts.Now(), history) }

// ActiveCounts is the number of active alerts per instance.
func (e *Evaluator) ActiveCounts() map[string]int { return e.m.ActiveFor() }

// Silence mutes an instance's alerts (of one rule) for a while.
func (e *Evaluator) Silence(req wire.SilenceRequest) (wire.AlertSilence, error) {
	if req.Instance == "" || req.For <= 0 {
		return wire.AlertSilence{}, errors.New("a silence needs an instance and a duration")
	}
	if req.Rule != "" && !slices.Contains(stack.AlertRuleNames, req.Rule) {
		return wire.AlertSilence{}, fmt.Errorf("unknown alert rule %q: the rules are %s", req.Rule, strings.Join(stack.AlertRuleNames, ", "))
	}
	s := e.m.Silence(e.opts.Now(), req.Instance, req.Rule, req.For, req.Comment)
	return s, nil
}

// Unsilence removes a silence.
func (e *Evaluator) Unsilence(id string) error {
	if !e.m.Unsilence(id) {
		return fmt.Errorf("silence %s: %w", id, ErrNotFound)
	}
	return nil
}

// Channels lists the channels, URLs masked.
func (e *Evaluator) Channels() []wire.AlertChannel {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []wire.AlertChannel{}
	for _, name := range sortedKeys(e.channels) {
		out = append(out, e.channels[name].wire())
	}
	return out
}

func (c *channelState) wire() wire.AlertChannel {
	return wire.AlertChannel{Name: c.Name, Org: c.Org, Kind: c.Kind, URL: c.Masked(), Signed: c.Secret != "",
		Created: c.Created, LastError: c.lastErr, LastSent: c.lastSent}
}

// ErrExists is returned when adding a channel whose name is taken.
var ErrExists = errors.New("already exists")

// AddChannel adds a channel; a webhook without a secret gets a generated
// one, returned once.
func (e *Evaluator) AddChannel(req wire.ChannelRequest) (wire.ChannelCreated, error) {
	ch, err := ParseChannel(req.Name, req.Org, req.Kind, req.URL)
	if err != nil {
		return wire.ChannelCreated{}, err
	}
	ch.Created = e.opts.Now()
	out := wire.ChannelCreated{}
	if ch.Kind == KindWebhook {
		ch.Secret = req.Secret
		if ch.Secret == "" {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			ch.Secret = hex.EncodeToString(b)
			out.Secret = ch.Secret
		}
	} else if req.Secret != "" {
		return wire.ChannelCreated{}, fmt.Errorf("%w %s: only webhooks take a signing secret", ErrChannel, req.Name)
	}
	e.mu.Lock()
	if _, ok := e.channels[ch.Name]; ok {
		e.mu.Unlock()
		return wire.ChannelCreated{}, fmt.Errorf("channel %s: %w (remove it first with `quai alerts channel rm %s`)", ch.Name, ErrExists, ch.Name)
	}
	cs := &channelState{Channel: ch}
	e.channels[ch.Name] = cs
	out.Channel = cs.wire()
	e.mu.Unlock()
	e.save()
	return out, nil
}

// RemoveChannel removes a channel.
func (e *Evaluator) RemoveChannel(name string) error {
	e.mu.Lock()
	_, ok := e.channels[name]
	delete(e.channels, name)
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("channel %s: %w", name, ErrNotFound)
	}
	e.save()
	return nil
}

// TestChannel sends a test notification to a channel and waits for it.
func (e *Evaluator) TestChannel(ctx context.Context, name string) (wire.ChannelTest, error) {
	e.mu.Lock()
	cs, ok := e.channels[name]
	var ch Channel
	if ok {
		ch = cs.Channel
	}
	e.mu.Unlock()
	if !ok {
		return wire.ChannelTest{}, fmt.Errorf("channel %s: %w", name, ErrNotFound)
	}
	now := e.opts.Now()
	note := wire.AlertNotification{Version: 1, Instance: "test", Status: wire.AlertFiring, Sent: now, Test: true, Daemon: e.opts.Daemon,
		Alerts: []wire.NotifiedAlert{{ID: "test/test", Rule: "test", Severity: SeverityInfo, Status: wire.AlertFiring,
			Summary: "a test notification from quai to channel " + name, Started: now}}}
	start := time.Now()
	err := e.opts.Notifier.Send(ctx, ch, note)
	e.record(name, err)
	return wire.ChannelTest{Channel: name, Duration: time.Since(start)}, err
}
