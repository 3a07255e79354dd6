// Package engine is quai's control plane core. It observes an instance's
// state (the store and the runtime), plans the changes a desired-state model
// needs as a pure, printable function, and executes the plan with the
// deployment strategy of the instance's runtime (strategy.go): replicas
// started in dependency order with zero-downtime switchover through the
// router (strategy_replicas.go, execute.go), or a release applied to a
// declarative runtime (strategy_declarative.go). Releases are immutable and
// numbered; rollback, restart, down and remove work the same on both. It
// never prints: every operation reports through Events.
//
// It may import internal/stack, internal/runtime, internal/store and
// internal/proxy (for its Route type); it never imports a runtime
// implementation, the API, the client or the CLI.
package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/store"
)

// Errors the engine returns, wrapped with %w; the API maps them to statuses.
var (
	// ErrNotFound: the instance, service or release does not exist. Unknown
	// instances come as *NotFoundError, which wraps it.
	ErrNotFound = errors.New("not found")
	// ErrBusy: another operation runs on the instance and the caller asked
	// not to wait (or a stale lock of another daemon holds it).
	ErrBusy = errors.New("instance busy")
	// ErrNoRelease: the instance has no release the operation can use (no
	// active release to restart, no earlier release to roll back to).
	ErrNoRelease = errors.New("no such release")
	// ErrPlanChanged: the plan the engine made is not the one the caller
	// confirmed (UpRequest.Fingerprint); nothing was changed.
	ErrPlanChanged = errors.New("the plan changed")
	// ErrUnhealthy: new replicas did not become healthy in time; the old ones
	// keep serving and the release is marked failed.
	ErrUnhealthy = errors.New("replicas did not become healthy")
	// ErrInvalid: the request cannot be executed as given (unknown runtime,
	// a change of runtime, a dependency cycle).
	ErrInvalid = errors.New("invalid request")
	// ErrClosed: the engine is closed.
	ErrClosed = errors.New("engine closed")
)

// NotFoundError reports an unknown instance (or service) with the closest
// known names, so the user sees what they probably meant.
type NotFoundError struct {
	// Kind is "instance" or "service".
	Kind        string
	Name        string
	Suggestions []string
}

func (e *NotFoundError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = "instance"
	}
	return fmt.Sprintf("%s %q not found", kind, e.Name)
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// Router is the part of quai's proxy the engine drives; *proxy.Proxy
// implements it. It may be nil when no instance has routes.
type Router interface {
	// SetRoutes atomically replaces every route of the instance.
	SetRoutes(instance string, routes []Route) error
	// RemoveInstance removes every route of the instance.
	RemoveInstance(instance string)
	// Drain waits until in-flight requests to targets finish, or ctx ends,
	// after they left every route.
	Drain(ctx context.Context, targets []string) error
}

// Options configures an Engine. Store and at least one runtime are required.
type Options struct {
	Store store.Store
	// Runtimes by name; DefaultRuntime is used for new instances installed
	// without a runtime name.
	Runtimes       map[string]runtime.Runtime
	DefaultRuntime string
	// Router is the proxy; nil when nothing is routed (tests without routes).
	Router Router
	Now    func() time.Time
	Logger *slog.Logger
	// HealthTimeout is how long new replicas have to become healthy (2m).
	HealthTimeout time.Duration
	// CrashLimit is how many times a new replica may crash before the
	// deploy fails at once instead of waiting out HealthTimeout (3).
	CrashLimit int
	// DrainTimeout bounds waiting for in-flight requests to old replicas (30s).
	DrainTimeout time.Duration
	// DefaultHost is the host pattern ({project}, {env}, {org}) for routes
	// that name no host; stack.HostPattern's default when empty.
	DefaultHost string
	// HTTPPort and HTTPSPort are where the proxy listens, so the URLs the
	// engine reports are the ones that answer; 0 means 80 and 443.
	HTTPPort, HTTPSPort int
	// StopGrace is how long a replica may take to stop before it is killed (10s).
	StopGrace time.Duration
	// PollInterval is how often replica health is checked while waiting (100ms).
	PollInterval time.Duration
	// Secrets opens the project's sealed secret files; nil when the daemon
	// holds no keys (sealed secrets are then only generated).
	Secrets SecretOpener
	// DockerConfigDir holds the config.json whose credentials images are
	// pushed to a stack's x-quai.registry with; default DOCKER_CONFIG, else
	// ~/.docker (see registry.ConfigDir).
	DockerConfigDir string
	// Backup wires the backup operations; nil: they fail with ErrBackupsOff.
	Backup *BackupOptions
	// LastBackup tells when instances were last backed up, for the
	// promotion rule backup_max_age; nil refuses that rule.
	LastBackup BackupChecker
	// Events observes every event of every operation, including those
	// nobody watches (scheduled backups, drills, recovery): metrics record
	// deploy durations and results from it, alerting turns EventFailed and
	// EventError into notifications. It must not block; nil: none.
	Events Emitter
}

// Engine executes operations on instances. At most one operation runs per
// instance at a time; read-only calls (Plan, List, Status, ...) never wait.
type Engine struct {
	store          store.Store
	runtimes       map[string]runtime.Runtime
	strategies     map[string]strategy
	defaultRuntime string
	router         Router
	secrets        SecretOpener
	now            func() time.Time
	log            *slog.Logger
	healthTimeout  time.Duration
	crashLimit     int
	drainTimeout   time.Duration
	stopGrace      time.Duration
	pollInterval   time.Duration
	defaultHost    string
	httpPort       int
	httpsPort      int
	dockerConfig   string
	backup         *BackupOptions
	lastBackup     BackupChecker
	events         Emitter
	// owner marks this engine's operation records, so Recover can tell
	// them from the stale records of a daemon that crashed.
	owner string

	// images is held for reading by deploys from image preparation to the
	// recorded release, and for writing by Prune.
	images sync.RWMutex

	// recovering counts the instances Recover is still re-attaching.
	recovering sync.WaitGroup

	mu    sync.Mutex
	locks map[string]chan struct{}
	// recoveringNow are the instances whose lock Recover holds.
	recoveringNow map[string]bool
	// list is what `ls` shows of each instance.
	list listing
	// drilling are the instances a drill runs for.
	drilling map[string]bool
	closed   bool
	// ops tracks running operations; Close cancels and waits for them.
	ops    sync.WaitGroup
	cancel context.CancelFunc
	base   context.Context
}

// New checks the options and returns an Engine.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("engine: a store is required")
	}
	if len(opts.Runtimes) == 0 {
		return nil, errors.New("engine: at least one runtime is required")
	}
	if opts.DefaultRuntime == "" && len(opts.Runtimes) == 1 {
		opts.DefaultRuntime = runtimeNames(opts.Runtimes)[0]
	}
	if _, ok := opts.Runtimes[opts.DefaultRuntime]; !ok {
		return nil, fmt.Errorf("engine: default runtime %q is not configured (have %v)", opts.DefaultRuntime, runtimeNames(opts.Runtimes))
	}
	var token [6]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, fmt.Errorf("engine: owner token: %w", err)
	}
	e := &Engine{
		store:          opts.Store,
		runtimes:       opts.Runtimes,
		defaultRuntime: opts.DefaultRuntime,
		router:         opts.Router,
		secrets:        opts.Secrets,
		now:            opts.Now,
		log:            opts.Logger,
		healthTimeout:  orDefault(opts.HealthTimeout, 2*time.Minute),
		crashLimit:     cmp.Or(max(opts.CrashLimit, 0), defaultCrashLimit),
		drainTimeout:   orDefault(opts.DrainTimeout, 30*time.Second),
		stopGrace:      orDefault(opts.StopGrace, 10*time.Second),
		pollInterval:   orDefault(opts.PollInterval, 100*time.Millisecond),
		defaultHost:    opts.DefaultHost,
		httpPort:       opts.HTTPPort,
		httpsPort:      opts.HTTPSPort,
		dockerConfig:   opts.DockerConfigDir,
		backup:         opts.Backup,
		lastBackup:     opts.LastBackup,
		events:         opts.Events,
		owner:          "engine-" + hex.EncodeToString(token[:]),
		locks:          make(map[string]chan struct{}),
		recoveringNow:  make(map[string]bool),
		strategies:     make(map[string]strategy, len(opts.Runtimes)),
	}
	for name, rt := range opts.Runtimes {
		st, err := newStrategy(e, rt)
		if err != nil {
			return nil, err
		}
		e.strategies[name] = st
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e.base, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func runtimeNames(m map[string]runtime.Runtime) []string {
	return slices.Sorted(maps.Keys(m))
}

// Close cancels running operations, waits for them to clean up and refuses
// new ones. It closes neither the store nor the runtimes, which the daemon
// owns; replicas keep running.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.ops.Wait()
	return nil
}

// strategyFor returns how to deploy on the named runtime, or an error
// listing the configured runtimes.
func (e *Engine) strategyFor(name string) (strategy, error) {
	st, ok := e.strategies[name]
	if !ok {
		return nil, fmt.Errorf("runtime %q is not available in this daemon (have %v): %w", name, runtimeNames(e.runtimes), ErrInvalid)
	}
	return st, nil
}

// instance returns the stored instance, or a *NotFoundError with close matches.
func (e *Engine) instance(ctx context.Context, name string) (store.Instance, error) {
	in, err := e.store.Instance(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !visibleIn(ctx)(in.Identity)) {
		return store.Instance{}, e.NotFound(ctx, name)
	}
	return in, err
}

// operation is one running engine operation: the in-memory lock, the
// persisted record, and the event stream that ends with exactly one
// EventDone or EventFailed.
type operation struct {
	e        *Engine
	ctx      context.Context
	cancel   context.CancelFunc
	instance string
	kind     string
	record   store.Operation
	emit     *emitter
	unlock   func()
	deleted  bool // the instance (and this record) was removed
	// fingerprint is the plan the caller confirmed; "" accepts any plan.
	fingerprint string
	// preface goes before the plan's text (a promotion's summary), and is
	// covered by the fingerprint.
	preface string
}

// checkPlan refuses a plan other than the one the caller confirmed.
func (op *operation) checkPlan(p Plan) error {
	if op.fingerprint == "" || op.fingerprint == p.Fingerprint() {
		return nil
	}
	return fmt.Errorf("%s changed since its plan was shown (confirmed %s, now %s): %w",
		op.instance, op.fingerprint, p.Fingerprint(), ErrPlanChanged)
}

// begin takes the instance's lock (waiting with EventWaiting unless noWait)
// and records the operation in the store.
func (e *Engine) begin(ctx context.Context, instance, kind string, noWait bool, em *emitter) (*operation, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	e.ops.Add(1)
	sem, ok := e.locks[instance]
	if !ok {
		sem = make(chan struct{}, 1)
		e.locks[instance] = sem
	}
	e.mu.Unlock()

	fail := func(err error) (*operation, error) {
		e.ops.Done()
		return nil, err
	}
	select {
	case sem <- struct{}{}:
	default:
		if noWait {
			return fail(fmt.Errorf("%s: another operation is running: %w", instance, ErrBusy))
		}
		em.emit(Event{Kind: EventWaiting, Message: "waiting for the operation running on " + instance + " to finish"})
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return fail(fmt.Errorf("%s: gave up waiting for the running operation: %w", instance, ctx.Err()))
		case <-e.base.Done():
			return fail(ErrClosed)
		}
	}
	// The line `ls` kept of the instance no longer holds once the
	// operation starts, nor does one computed while it ran.
	e.forget(instance)
	unlock := func() {
		<-sem
		e.forget(instance)
	}

	rec, err := e.store.BeginOperation(ctx, store.Operation{Instance: instance, Kind: kind, Owner: e.owner, Started: e.now()})
	if err != nil {
		unlock()
		if errors.Is(err, store.ErrConflict) {
			return fail(fmt.Errorf("%w (a daemon that stopped during an operation leaves such a lock: restarting the daemon clears it): %w", err, ErrBusy))
		}
		return fail(err)
	}
	// The operation ends when the caller's context ends or the engine closes.
	octx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(e.base, cancel)
	return &operation{
		e: e, ctx: octx, instance: instance, kind: kind, record: rec, emit: em,
		cancel: func() { stop(); cancel() },
		unlock: unlock,
	}, nil
}

// finish records the outcome, emits the terminal event and releases the lock.
func (op *operation) finish(err error, release int, doneMsg string) {
	defer op.e.ops.Done()
	status, text := store.OpDone, ""
	if err != nil {
		status, text = store.OpFailed, err.Error()
	}
	if !op.deleted {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(op.ctx), 10*time.Second)
		defer cancel()
		if ferr := op.e.store.FinishOperation(ctx, op.record.ID, status, text, op.e.now()); ferr != nil {
			op.e.log.Warn("cannot record the end of an operation", "instance", op.instance, "operation", op.kind, "err", ferr)
		}
	}
	// The lock goes before the terminal event: a client that sees done and
	// at once starts the next operation must find the instance free, or it
	// would wait, and a refusal after a waiting event can only be a failed
	// event, not an API error with its status and hint.
	op.cancel()
	op.unlock()
	if err != nil {
		op.emit.emit(Event{Kind: EventFailed, Release: release, Error: err.Error()})
		return
	}
	op.emit.emit(Event{Kind: EventDone, Release: release, Message: doneMsg})
}

// emitter stamps events with the time and instance and tolerates a nil Emitter.
// Events from concurrent steps (parallel stops) are serialised, so an
// Emitter never runs concurrently with itself.
//
// It owns the end of the stream: a failed event that would be the first is
// dropped. The operation was refused before it began (unknown instance, no
// such release, busy), nobody has seen it start, and its caller returns
// the error instead, which the API answers in its JSON error shape with
// its own status and hint.
type emitter struct {
	mu       sync.Mutex
	started  bool
	fn       Emitter
	instance string
	now      func() time.Time
}

func (e *Engine) emitter(fn Emitter, instance string) *emitter {
	if obs := e.events; obs != nil {
		watcher := fn
		fn = func(ev Event) {
			if watcher != nil {
				watcher(ev)
			}
			obs(ev)
		}
	}
	return &emitter{fn: fn, instance: instance, now: e.now}
}

func (m *emitter) emit(ev Event) {
	if m == nil || m.fn == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Kind == EventFailed && !m.started {
		return
	}
	m.started = true
	ev.Time = m.now()
	if ev.Instance == "" {
		ev.Instance = m.instance
	}
	m.fn(ev)
}

func (m *emitter) step(step, service, replica, msg string) {
	m.emit(Event{Kind: EventStep, Step: step, Service: service, Replica: replica, Message: msg})
}

func (m *emitter) stepDone(step, service, replica, msg string) {
	m.emit(Event{Kind: EventStepDone, Step: step, Service: service, Replica: replica, Message: msg})
}

func (m *emitter) warn(service, replica, msg string) {
	m.emit(Event{Kind: EventWarning, Service: service, Replica: replica, Message: msg})
}
