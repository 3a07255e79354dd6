package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// CloneRequest installs Model as a new instance holding the data of
// Snapshots (`quai up --from-backup`).
type CloneRequest struct {
	Model     *stack.Model
	Runtime   string
	Snapshots []string
}

// Clone installs a new instance with the data of snapshots: first the
// services holding the data (and what they depend on), then the data is
// restored into them, then the whole stack starts on it, so the
// application never sees an empty database.
func (e *Engine) Clone(ctx context.Context, req CloneRequest, emit Emitter) (Release, error) {
	if req.Model == nil {
		return Release{}, fmt.Errorf("clone: no model: %w", ErrInvalid)
	}
	name := req.Model.Identity.Name()
	em := e.backupEmitter(emit, name)
	b, err := e.backups()
	if err != nil {
		return Release{}, err
	}
	if _, err := e.store.Instance(ctx, name); err == nil {
		return Release{}, fmt.Errorf("%s is already installed; restore into it with `quai restore SOURCE --snapshot ID --into %s`: %w", name, name, ErrInvalid)
	}
	if len(req.Snapshots) == 0 {
		return Release{}, fmt.Errorf("clone %s: name at least one snapshot: %w", name, ErrInvalid)
	}
	em.step("clone", "", "", fmt.Sprintf("installing %s from %d snapshot(s)", name, len(req.Snapshots)))
	rel, err := e.cloneFrom(ctx, b, req.Model, req.Runtime, req.Snapshots, em)
	if err != nil {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return rel, err
	}
	em.emit(Event{Kind: EventDone, Release: rel.Number, Message: fmt.Sprintf("%s runs release %d on the restored data", name, rel.Number)})
	return rel, nil
}

func (e *Engine) cloneFrom(ctx context.Context, b *BackupOptions, m *stack.Model, rtName string, ids []string, em *emitter) (Release, error) {
	org := m.Identity.OrgOrDefault()
	repo, err := b.Open(ctx, org)
	if err != nil {
		return Release{}, fmt.Errorf("open the backup repository of org %s: %w", org, err)
	}
	defer func() { _ = repo.Close(context.WithoutCancel(ctx)) }()
	snaps := map[string]Snapshot{}
	for _, id := range ids {
		s, err := findSnapshot(ctx, repo, org, id)
		if err != nil {
			return Release{}, err
		}
		svc := s.Tags["service"]
		if _, dup := snaps[svc]; dup {
			return Release{}, fmt.Errorf("two snapshots of service %s given (%s and %s): name one per service: %w", svc, snaps[svc].ID, s.ID, ErrInvalid)
		}
		if m.Service(svc) == nil {
			return Release{}, fmt.Errorf("snapshot %s is of service %s, which %s does not have: %w", s.ID, svc, m.Identity.Name(), ErrInvalid)
		}
		snaps[svc] = s
	}
	return e.installWithData(ctx, b, repo, m, rtName, snaps, em)
}

// installWithData installs m in two steps around restoring snaps (by
// service): the data services with their dependencies, the restore, then
// the whole stack, whose health checks run on the restored data.
func (e *Engine) installWithData(ctx context.Context, b *BackupOptions, repo BackupRepository, m *stack.Model, rtName string, snaps map[string]Snapshot, em *emitter) (Release, error) {
	name := m.Identity.Name()
	data := dataModel(m, sortedKeys(snaps))
	if _, err := e.Up(ctx, UpRequest{Model: data, Runtime: rtName, Cause: "install the data services to restore into"}, subEmitter(em, "install")); err != nil {
		return Release{}, fmt.Errorf("install the data services of %s: %w", name, err)
	}
	op, err := e.begin(ctx, name, "restore", false, e.emitter(subEmitter(em, "restore"), name))
	if err != nil {
		return Release{}, err
	}
	for _, svc := range sortedKeys(snaps) {
		s := snaps[svc]
		if err = e.restoreService(op, b, repo, s, m.Service(svc), s.Tags["kind"]); err != nil {
			break
		}
	}
	op.finish(err, 0, "restored "+name)
	if err != nil {
		return Release{}, err
	}
	rel, err := e.Up(ctx, UpRequest{Model: m, Runtime: rtName, Cause: "install on restored data"}, subEmitter(em, "start"))
	if err != nil {
		return rel, fmt.Errorf("%s holds the restored data but did not start on it: %w", name, err)
	}
	return rel, nil
}

// subEmitter forwards the events of an operation run as a step of another:
// its done event becomes a step-done, its failed event is dropped (the
// caller returns the error and ends the outer stream).
func subEmitter(em *emitter, step string) Emitter {
	return func(ev Event) {
		switch ev.Kind {
		case EventDone:
			ev.Kind, ev.Step = EventStepDone, step
		case EventFailed:
			return
		}
		em.emit(ev)
	}
}

// dataModel is m reduced to services (and what they depend on, directly or
// not) and the routes to them.
func dataModel(m *stack.Model, services []string) *stack.Model {
	keep := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if keep[n] {
			return
		}
		keep[n] = true
		for _, d := range dependencyGraph(m, false)[n] {
			visit(d.service)
		}
	}
	for _, s := range services {
		visit(s)
	}
	out := *m
	out.Services = slices.DeleteFunc(slices.Clone(m.Services), func(s *stack.Service) bool { return !keep[s.Name] })
	out.Routes = slices.DeleteFunc(slices.Clone(m.Routes), func(r stack.Route) bool { return !keep[r.Service] })
	return &out
}

// copyModel returns a deep copy of m.
func copyModel(m *stack.Model) (*stack.Model, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out stack.Model
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	out.Resolved = m.Resolved
	return &out, nil
}

// Drill proves an instance's newest snapshots restore: it installs a
// throw-away copy of the instance on the same runtime (same organization
// and project, an environment "drill-<random>" that no user instance has,
// no routes), restores each backed-up service's newest snapshot into it,
// checks the data against what was recorded at backup time (row counts,
// file hashes), lets the application start on it and pass its health
// checks, then removes the copy with its volumes. The result is recorded;
// a failed drill is an EventError.
func (e *Engine) Drill(ctx context.Context, instance string, emit Emitter) (wire.Drill, error) {
	em := e.backupEmitter(emit, instance)
	b, err := e.backups()
	if err != nil {
		return wire.Drill{}, err
	}
	in, err := e.instance(ctx, instance)
	if err != nil {
		return wire.Drill{}, err
	}
	active, err := e.store.ActiveRelease(ctx, instance)
	if err != nil {
		return wire.Drill{}, fmt.Errorf("%s has no active release to drill: %w", instance, ErrNoRelease)
	}
	m, err := decodeModel(active)
	if err != nil {
		return wire.Drill{}, err
	}
	svcs, err := backedUp(instance, m, "")
	if err != nil {
		return wire.Drill{}, err
	}
	release, err := e.holdDrill(instance)
	if err != nil {
		return wire.Drill{}, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(b.DrillTimeout, 30*time.Minute))
	defer cancel()

	org := in.Identity.OrgOrDefault()
	repo, err := b.Open(ctx, org)
	if err != nil {
		return wire.Drill{}, fmt.Errorf("open the backup repository of org %s: %w", org, err)
	}
	defer func() { _ = repo.Close(context.WithoutCancel(ctx)) }()
	snaps := map[string]Snapshot{}
	for _, svc := range svcs {
		list, err := repo.List(ctx, map[string]string{"org": org, "instance": instance, "service": svc.Name})
		if err != nil {
			return wire.Drill{}, err
		}
		list = slices.DeleteFunc(list, func(s Snapshot) bool { return s.Incomplete })
		if len(list) == 0 {
			return wire.Drill{}, fmt.Errorf("%s of %s has no snapshot to drill; `quai backup %s` makes one: %w", svc.Name, instance, instance, ErrNotFound)
		}
		snaps[svc.Name] = list[0]
	}
	dm, err := drillModel(m)
	if err != nil {
		return wire.Drill{}, err
	}
	if _, err := e.store.Instance(ctx, dm.Identity.Name()); err == nil {
		return wire.Drill{}, fmt.Errorf("drill instance %s exists already; run the drill again: %w", dm.Identity.Name(), ErrBusy)
	}
	rec, err := b.Store.BeginDrill(ctx, store.Drill{Instance: instance, Name: dm.Identity.Name(), Started: e.now()})
	if err != nil {
		return wire.Drill{}, err
	}
	em.step("drill", "", "", fmt.Sprintf("restoring the newest snapshots of %s into %s", instance, dm.Identity.Name()))
	report, derr := e.drill(ctx, b, repo, in.Runtime, dm, snaps, em)
	// The throw-away copy goes whatever happened, volumes included.
	if _, err := e.store.Instance(context.WithoutCancel(ctx), dm.Identity.Name()); err == nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		if err := e.Remove(rctx, dm.Identity.Name(), true, subEmitter(em, "remove")); err != nil {
			report = append(report, "the drill instance "+dm.Identity.Name()+" could not be removed: "+err.Error())
			em.warn("", "", fmt.Sprintf("remove it with `quai rm --purge %s`: %v", dm.Identity.Name(), err))
		}
		rcancel()
	}
	rec.Finished, rec.Report, rec.Status = e.now(), strings.Join(report, "\n"), store.RunDone
	if derr != nil {
		rec.Status, rec.Error = store.RunFailed, derr.Error()
	}
	if err := b.Store.FinishDrill(context.WithoutCancel(ctx), rec); err != nil {
		derr = errors.Join(derr, err)
	}
	out := toWireDrill(rec)
	if derr != nil {
		derr = fmt.Errorf("drill of %s failed: %w", instance, derr)
		em.alert("", derr)
		em.emit(Event{Kind: EventFailed, Error: derr.Error()})
		return out, derr
	}
	em.emit(Event{Kind: EventDone, Message: fmt.Sprintf("drill of %s passed in %s:\n%s", instance,
		rec.Finished.Sub(rec.Started).Round(time.Millisecond), rec.Report)})
	return out, nil
}

func (e *Engine) drill(ctx context.Context, b *BackupOptions, repo BackupRepository, rtName string, dm *stack.Model, snaps map[string]Snapshot, em *emitter) ([]string, error) {
	var report []string
	for _, svc := range sortedKeys(snaps) {
		report = append(report, fmt.Sprintf("%s: snapshot %s of %s", svc, snaps[svc].ID, snaps[svc].Start.UTC().Format(time.RFC3339)))
	}
	if _, err := e.installWithData(ctx, b, repo, dm, rtName, snaps, em); err != nil {
		if errors.Is(err, ErrUnhealthy) {
			report = append(report, "the application's health check did not pass on the restored data")
		}
		return report, err
	}
	report = append(report, "the application started and passed its health checks on the restored data")
	name := dm.Identity.Name()
	var errs []error
	for _, svc := range sortedKeys(snaps) {
		s := snaps[svc]
		rt, h, err := e.replica(ctx, name, svc)
		if err == nil {
			var d Dumper
			if d, err = b.Dumper(ctx, s.Tags["kind"], dm.Service(svc), rt, h); err == nil {
				var got Facts
				if got, err = d.Check(ctx); err == nil {
					var lines []string
					lines, err = compareFacts(ctx, b, s.ID, svc, got)
					report = append(report, lines...)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", svc, err))
		}
	}
	return report, errors.Join(errs...)
}

// ErrDrillMismatch: the restored data differs from what was recorded at
// backup time.
var ErrDrillMismatch = errors.New("the restored data differs from the backup")

// compareFacts checks restored facts against those recorded with snapshot id.
func compareFacts(ctx context.Context, b *BackupOptions, id, svc string, got Facts) ([]string, error) {
	var want Facts
	if run, err := b.Store.BackupRunBySnapshot(ctx, id); err == nil && len(run.Facts) > 0 {
		if err := json.Unmarshal(run.Facts, &want); err != nil {
			return nil, fmt.Errorf("facts recorded with snapshot %s: %w", id, err)
		}
	}
	if len(want.Tables) == 0 && len(want.Files) == 0 {
		return []string{fmt.Sprintf("%s: the database answers (%d tables, %d files); nothing was recorded at backup time to compare", svc, len(got.Tables), len(got.Files))}, nil
	}
	var bad []string
	for _, t := range sortedKeys(want.Tables) {
		if n, ok := got.Tables[t]; !ok {
			bad = append(bad, fmt.Sprintf("table %s is missing", t))
		} else if n != want.Tables[t] {
			bad = append(bad, fmt.Sprintf("table %s has %d rows, %d at backup time", t, n, want.Tables[t]))
		}
	}
	for _, f := range sortedKeys(want.Files) {
		if h, ok := got.Files[f]; !ok {
			bad = append(bad, fmt.Sprintf("file %s is missing", f))
		} else if h != want.Files[f] {
			bad = append(bad, fmt.Sprintf("file %s differs", f))
		}
	}
	if len(bad) > 0 {
		return []string{svc + ": " + strings.Join(bad, "; ")}, fmt.Errorf("%s: %w", strings.Join(bad, "; "), ErrDrillMismatch)
	}
	return []string{fmt.Sprintf("%s: %d table row counts and %d file hashes match the backup", svc, len(want.Tables), len(want.Files))}, nil
}

// drillModel is m as a throw-away instance: environment "drill-<random>",
// no routes (the copy must not take the original's hosts).
func drillModel(m *stack.Model) (*stack.Model, error) {
	dm, err := copyModel(m)
	if err != nil {
		return nil, err
	}
	var token [3]byte
	if _, err := rand.Read(token[:]); err != nil {
		return nil, err
	}
	dm.Identity.Env = "drill-" + hex.EncodeToString(token[:])
	dm.Routes = nil
	return dm, nil
}

// holdDrill marks a drill of instance running; a second one is refused.
func (e *Engine) holdDrill(instance string) (func(), error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.drilling == nil {
		e.drilling = map[string]bool{}
	}
	if e.drilling[instance] {
		return nil, fmt.Errorf("a drill of %s is running: %w", instance, ErrBusy)
	}
	e.drilling[instance] = true
	return func() {
		e.mu.Lock()
		delete(e.drilling, instance)
		e.mu.Unlock()
	}, nil
}
