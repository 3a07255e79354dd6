package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// This file holds the backup operations: backup, restore (in place and
// into another instance), verify and prune. Drills and clones are in
// backup_drill.go, schedules in backup_schedule.go. The repository and the
// dumpers are behind the small interfaces below, which the daemon wires to
// internal/backup and internal/backup/dump, so the engine links no
// repository format.

// ErrBackupsOff: the daemon has no backup repository configured.
var ErrBackupsOff = errors.New("backups are not configured in this daemon")

// BackupSource is what one snapshot reads: a stream a dumper writes, or a
// host directory.
type BackupSource struct {
	Name   string
	Stream func(ctx context.Context, w io.Writer) error
	Dir    string
}

// Snapshot is one snapshot in a repository.
type Snapshot struct {
	ID          string
	Tags        map[string]string
	Start, End  time.Time
	Size, Added int64
	Files       int64
	Incomplete  bool
	// Dir: the snapshot holds a host directory (restore it into one), not a stream.
	Dir bool
}

// BackupRepository is one organization's snapshot repository, open for
// one operation.
type BackupRepository interface {
	// Snapshot stores src under tags, reporting progress as it goes.
	Snapshot(ctx context.Context, src BackupSource, tags map[string]string, progress func(wire.BackupProgress)) (Snapshot, error)
	// List returns the snapshots whose tags include tags, newest first.
	List(ctx context.Context, tags map[string]string) ([]Snapshot, error)
	// Restore feeds a stream snapshot to stream, or writes a directory
	// snapshot into dir.
	Restore(ctx context.Context, id string, stream func(ctx context.Context, r io.Reader) error, dir string) error
	// Verify re-reads percent of the snapshot's data (0 = all); an error
	// names the snapshot and what is wrong.
	Verify(ctx context.Context, id string, percent float64) error
	// Prune deletes the snapshots matching tags that keep does not keep and
	// returns them.
	Prune(ctx context.Context, tags map[string]string, keep stack.Retention, now time.Time) ([]Snapshot, error)
	// Forget deletes every snapshot whose tags include tags (never empty)
	// and returns them.
	Forget(ctx context.Context, tags map[string]string) ([]Snapshot, error)
	Close(ctx context.Context) error
}

// Facts are what a dumper's check finds: row counts per table of a
// database, sha256 per file of a volume. A drill compares the restored
// copy's facts with those recorded at backup time.
type Facts struct {
	Tables map[string]int64  `json:"tables,omitempty"`
	Files  map[string]string `json:"files,omitempty"`
}

// Dumper dumps, restores and checks one service's data, beside it.
type Dumper interface {
	Dump(ctx context.Context, w io.Writer) error
	Restore(ctx context.Context, r io.Reader) error
	Check(ctx context.Context) (Facts, error)
}

// Recorder is a Dumper that learns the facts of what it dumps while it
// dumps (a files backup hashes each file it reads), so they need not be
// read twice.
type Recorder interface {
	Recorded() (Facts, bool)
}

// HostDirDumper is a Dumper whose data is a host directory the daemon
// reads directly: it is snapshotted as a directory (incremental), not
// streamed.
type HostDirDumper interface {
	Dumper
	HostDir() (string, bool)
}

// DumperFactory makes the dumper of one service of kind, beside replica h.
type DumperFactory func(ctx context.Context, kind string, svc *stack.Service, rt runtime.Runtime, h runtime.Handle) (Dumper, error)

// BackupOptions wire the engine to a repository and dumpers; without them
// every backup operation fails with ErrBackupsOff.
type BackupOptions struct {
	Store store.BackupStore
	// Open opens the organization's repository (creating it on first use).
	Open func(ctx context.Context, org string) (BackupRepository, error)
	// Dumper makes a service's dumper.
	Dumper DumperFactory
	// Events receives every backup event, those of scheduled runs nobody
	// watches included; EventError marks what needs the operator.
	Events Emitter
	// DrillTimeout bounds a drill (30m).
	DrillTimeout time.Duration
	// DrillSchedule is when drills run (DefaultDrillSchedule).
	DrillSchedule string
}

func (e *Engine) backups() (*BackupOptions, error) {
	if e.backup == nil || e.backup.Store == nil || e.backup.Open == nil || e.backup.Dumper == nil {
		return nil, fmt.Errorf("%w: the daemon was started without a backup repository", ErrBackupsOff)
	}
	return e.backup, nil
}

// backupEmitter is an operation's emitter whose events also reach the
// daemon's backup event sink.
func (e *Engine) backupEmitter(fn Emitter, instance string) *emitter {
	sink := Emitter(nil)
	if e.backup != nil {
		sink = e.backup.Events
	}
	return e.emitter(func(ev Event) {
		if fn != nil {
			fn(ev)
		}
		if sink != nil {
			sink(ev)
		}
	}, instance)
}

// alert sends an EventError to the sink (and the operation's stream).
func (m *emitter) alert(service string, err error) {
	m.emit(Event{Kind: EventError, Service: service, Error: err.Error()})
}

func toWireRun(r store.BackupRun) wire.BackupRun {
	return wire.BackupRun{ID: r.ID, Instance: r.Instance, Service: r.Service, Kind: r.Kind, Trigger: r.Trigger,
		Snapshot: r.Snapshot, Status: r.Status, Error: r.Error, Bytes: r.Bytes, Added: r.Added, Files: r.Files,
		Duration: r.Duration, Verified: r.Verified, VerifyError: r.VerifyError, Started: r.Started, Finished: r.Finished}
}

func toWireDrill(d store.Drill) wire.Drill {
	return wire.Drill{ID: d.ID, Instance: d.Instance, Name: d.Name, Status: d.Status, Error: d.Error, Report: d.Report,
		Started: d.Started, Finished: d.Finished}
}

// backedUp returns the services of m with a backup policy (one when
// service is set, which must have one).
func backedUp(instance string, m *stack.Model, service string) ([]*stack.Service, error) {
	var out []*stack.Service
	var names []string
	for _, s := range m.Services {
		names = append(names, s.Name)
		if s.Backup != nil && (service == "" || s.Name == service) {
			out = append(out, s)
		}
	}
	switch {
	case service != "" && m.Service(service) == nil:
		return nil, &NotFoundError{Kind: "service", Name: service, Suggestions: suggest(service, names)}
	case service != "" && len(out) == 0:
		return nil, fmt.Errorf("service %s of %s has no backup policy; add x-quai.backup (kind, schedule) to it in the stack: %w", service, instance, ErrInvalid)
	case len(out) == 0:
		return nil, fmt.Errorf("%s has no service with a backup policy; add x-quai.backup (kind, schedule) to the services whose data matters: %w", instance, ErrInvalid)
	}
	return out, nil
}

func backupTags(id stack.Identity, instance, service, kind string) map[string]string {
	return map[string]string{"org": id.OrgOrDefault(), "project": id.Project, "env": id.Env, "instance": instance,
		"service": service, "kind": kind}
}

// BackupRequest asks for a backup of an instance.
type BackupRequest struct {
	Instance string
	// Service backs up one service; "" every service with a backup policy.
	Service string
	// Trigger is recorded on the runs (wire.TriggerManual when empty).
	Trigger string
	// Prune applies the retention afterwards (scheduled backups).
	Prune bool
}

// Backup snapshots the instance's backed-up services, one after the other,
// under the instance's lock, and returns the runs. Every service is tried;
// the error names each that failed, and each failure is an EventError.
func (e *Engine) Backup(ctx context.Context, req BackupRequest, emit Emitter) ([]wire.BackupRun, error) {
	em := e.backupEmitter(emit, req.Instance)
	b, err := e.backups()
	if err != nil {
		return nil, err
	}
	op, err := e.beginExisting(ctx, req.Instance, "backup", em)
	if err != nil {
		return nil, err
	}
	runs, err := e.backupLocked(op, b, req)
	msg := fmt.Sprintf("backed up %d service(s) of %s", len(runs), req.Instance)
	op.finish(err, 0, msg)
	return runs, err
}

func (e *Engine) backupLocked(op *operation, b *BackupOptions, req BackupRequest) ([]wire.BackupRun, error) {
	ctx := op.ctx
	active, err := e.store.ActiveRelease(ctx, op.instance)
	if err != nil {
		return nil, fmt.Errorf("%s has no active release to back up: %w", op.instance, ErrNoRelease)
	}
	m, err := decodeModel(active)
	if err != nil {
		return nil, err
	}
	svcs, err := backedUp(op.instance, m, req.Service)
	if err != nil {
		return nil, err
	}
	trigger := cmp.Or(req.Trigger, wire.TriggerManual)
	repo, err := b.Open(ctx, m.Identity.OrgOrDefault())
	if err != nil {
		// Each service's backup failed, and says so where runs are listed.
		err = fmt.Errorf("open the backup repository of org %s: %w", m.Identity.OrgOrDefault(), err)
		var runs []wire.BackupRun
		for _, svc := range svcs {
			run, rerr := b.Store.BeginBackupRun(ctx, store.BackupRun{Instance: op.instance, Org: m.Identity.OrgOrDefault(),
				Service: svc.Name, Kind: svc.Backup.Kind, Trigger: trigger, Started: e.now()})
			if rerr == nil {
				run.Status, run.Error, run.Finished = store.RunFailed, err.Error(), e.now()
				rerr = b.Store.FinishBackupRun(context.WithoutCancel(ctx), run)
			}
			if rerr != nil {
				err = errors.Join(err, rerr)
			}
			runs = append(runs, toWireRun(run))
			op.emit.alert(svc.Name, fmt.Errorf("backup of %s of %s failed: %w", svc.Name, op.instance, err))
		}
		return runs, err
	}
	defer func() { _ = repo.Close(context.WithoutCancel(ctx)) }()
	var runs []wire.BackupRun
	var errs []error
	for _, svc := range svcs {
		run, err := e.snapshotService(op, b, repo, m, svc, svc.Backup.Kind, trigger)
		runs = append(runs, run)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if req.Prune {
			if _, err := e.pruneService(ctx, b, repo, op.instance, m, svc, false, op.emit); err != nil {
				op.emit.warn(svc.Name, "", "prune after the backup failed: "+err.Error())
			}
		}
	}
	return runs, errors.Join(errs...)
}

// replica returns the instance's runtime and a running replica of service,
// healthy if one is.
func (e *Engine) replica(ctx context.Context, instance, service string) (runtime.Runtime, runtime.Handle, error) {
	rt, hs, err := e.replicasOf(ctx, instance, service)
	if err != nil {
		return nil, runtime.Handle{}, err
	}
	h, ok := pickReplica(ctx, rt, hs)
	if !ok {
		return nil, runtime.Handle{}, fmt.Errorf("no replica of %s of %s is running: %w", service, instance, ErrNotFound)
	}
	return rt, h, nil
}

// snapshotService records and runs one service's backup. The dumper's
// check runs before and after the dump; what it found the same both times
// is recorded for drills to compare (a table written during the dump has
// no fixed count to expect).
func (e *Engine) snapshotService(op *operation, b *BackupOptions, repo BackupRepository, m *stack.Model, svc *stack.Service, kind, trigger string) (wire.BackupRun, error) {
	ctx := op.ctx
	started := e.now()
	run, err := b.Store.BeginBackupRun(ctx, store.BackupRun{Instance: op.instance, Org: m.Identity.OrgOrDefault(), Service: svc.Name,
		Kind: kind, Trigger: trigger, Started: started})
	if err != nil {
		return wire.BackupRun{}, err
	}
	op.emit.step("backup", svc.Name, "", fmt.Sprintf("backing up %s (%s)", svc.Name, kind))
	snap, facts, err := e.dumpService(op, b, repo, m, svc, kind, trigger)
	run.Finished = e.now()
	run.Duration = run.Finished.Sub(started)
	if err != nil {
		run.Status, run.Error = store.RunFailed, err.Error()
	} else {
		run.Status, run.Snapshot, run.Bytes, run.Added, run.Files = store.RunDone, snap.ID, snap.Size, snap.Added, snap.Files
		run.Facts, _ = json.Marshal(facts)
	}
	if ferr := b.Store.FinishBackupRun(context.WithoutCancel(ctx), run); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		err = fmt.Errorf("backup of %s of %s failed: %w", svc.Name, op.instance, err)
		op.emit.alert(svc.Name, err)
		return toWireRun(run), err
	}
	op.emit.stepDone("backup", svc.Name, "", fmt.Sprintf("snapshot %s of %s: %s, %s added, %s", snap.ID, svc.Name,
		humanBytes(snap.Size), humanBytes(snap.Added), run.Duration.Round(time.Millisecond)))
	return toWireRun(run), nil
}

func (e *Engine) dumpService(op *operation, b *BackupOptions, repo BackupRepository, m *stack.Model, svc *stack.Service, kind, trigger string) (Snapshot, Facts, error) {
	ctx := op.ctx
	rt, h, err := e.replica(ctx, op.instance, svc.Name)
	if err != nil {
		return Snapshot{}, Facts{}, err
	}
	d, err := b.Dumper(ctx, kind, svc, rt, h)
	if err != nil {
		return Snapshot{}, Facts{}, err
	}
	rec, records := d.(Recorder)
	var before Facts
	var berr error
	checked := !records
	if checked {
		before, berr = d.Check(ctx)
	}
	src := BackupSource{Name: svc.Name + "." + kind, Stream: d.Dump}
	tags := backupTags(m.Identity, op.instance, svc.Name, kind)
	tags["trigger"] = trigger
	if hd, ok := d.(HostDirDumper); ok {
		if dir, ok := hd.HostDir(); ok {
			src = BackupSource{Name: svc.Name + "." + kind, Dir: dir}
		}
	}
	progress := e.progress(op.emit, "backup", svc.Name)
	if src.Dir == "" {
		// A dump's size is unknown until it ends: the service's previous
		// snapshot is the estimate its ETA is computed from.
		progress = withExpected(progress, e.lastBackupSize(ctx, b, op.instance, svc.Name))
	}
	snap, err := repo.Snapshot(ctx, src, tags, progress)
	if err != nil {
		return Snapshot{}, Facts{}, err
	}
	if snap.Incomplete {
		return snap, Facts{}, fmt.Errorf("snapshot %s is incomplete", snap.ID)
	}
	if records {
		if f, ok := rec.Recorded(); ok {
			return snap, f, nil
		}
	}
	after, aerr := d.Check(ctx)
	if err := cmp.Or(berr, aerr); err != nil {
		op.emit.warn(svc.Name, "", "the check of "+svc.Name+" failed, so a drill has nothing to compare: "+err.Error())
		return snap, Facts{}, nil
	}
	if !checked {
		return snap, after, nil
	}
	return snap, stableFacts(before, after), nil
}

// stableFacts keeps what two checks found the same.
func stableFacts(a, b Facts) Facts {
	var out Facts
	for t, n := range a.Tables {
		if bn, ok := b.Tables[t]; ok && bn == n {
			if out.Tables == nil {
				out.Tables = map[string]int64{}
			}
			out.Tables[t] = n
		}
	}
	for f, h := range a.Files {
		if bh, ok := b.Files[f]; ok && bh == h {
			if out.Files == nil {
				out.Files = map[string]string{}
			}
			out.Files[f] = h
		}
	}
	return out
}

// progress returns a repository progress callback that emits at most one
// progress event a second.
// lastBackupSize is the size of the service's newest successful
// snapshot, 0 when it has none.
func (e *Engine) lastBackupSize(ctx context.Context, b *BackupOptions, instance, service string) int64 {
	runs, err := b.Store.BackupRuns(ctx, instance, 50)
	if err != nil {
		return 0
	}
	for _, r := range runs {
		if r.Service == service && r.Status == store.RunDone && r.Bytes > 0 {
			return r.Bytes
		}
	}
	return 0
}

// withExpected fills in an ETA from an expected total where the
// repository gave none; past the estimate there is none.
func withExpected(progress func(wire.BackupProgress), expected int64) func(wire.BackupProgress) {
	if expected <= 0 {
		return progress
	}
	return func(p wire.BackupProgress) {
		if p.ETA == 0 && p.Rate > 0 && expected > p.Bytes {
			p.ETA = time.Duration(float64(expected-p.Bytes) / p.Rate * float64(time.Second))
		}
		progress(p)
	}
}

func (e *Engine) progress(em *emitter, step, service string) func(wire.BackupProgress) {
	var last time.Time
	return func(p wire.BackupProgress) {
		now := e.now()
		if now.Sub(last) < time.Second {
			return
		}
		last = now
		em.emit(Event{Kind: EventProgress, Step: step, Service: service, Backup: &p, Message: progressText(p)})
	}
}

// progressText is a progress line: "120.0 MiB, 42 files, 3.1 MiB added,
// 40.0 MiB/s, ETA 3s".
func progressText(p wire.BackupProgress) string {
	parts := []string{humanBytes(p.Bytes)}
	if p.Files > 0 {
		parts = append(parts, fmt.Sprintf("%d files", p.Files))
	}
	if p.Added > 0 {
		parts = append(parts, humanBytes(p.Added)+" added")
	}
	if p.Rate > 0 {
		parts = append(parts, humanBytes(int64(p.Rate))+"/s")
	}
	if p.ETA > 0 {
		parts = append(parts, "ETA "+p.ETA.Round(time.Second).String())
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// BackupList returns an instance's backup runs and drills ("" = every
// instance's), newest first.
func (e *Engine) BackupList(ctx context.Context, instance string) (wire.BackupList, error) {
	b, err := e.backups()
	if err != nil {
		return wire.BackupList{}, err
	}
	runs, err := b.Store.BackupRuns(ctx, instance, 0)
	if err != nil {
		return wire.BackupList{}, err
	}
	drills, err := b.Store.Drills(ctx, instance, 20)
	if err != nil {
		return wire.BackupList{}, err
	}
	out := wire.BackupList{Runs: []wire.BackupRun{}, Drills: []wire.Drill{}}
	for _, r := range runs {
		out.Runs = append(out.Runs, toWireRun(r))
	}
	for _, d := range drills {
		out.Drills = append(out.Drills, toWireDrill(d))
	}
	return out, nil
}

// RepositorySnapshots lists the snapshots an organization's repository
// holds, newest first, whether this daemon took them or not (a new host
// restoring a lost one's backups).
func (e *Engine) RepositorySnapshots(ctx context.Context, org string) ([]wire.BackupRun, error) {
	b, err := e.backups()
	if err != nil {
		return nil, err
	}
	repo, err := b.Open(ctx, org)
	if err != nil {
		return nil, fmt.Errorf("open the backup repository of org %s: %w", org, err)
	}
	defer func() { _ = repo.Close(context.WithoutCancel(ctx)) }()
	list, err := repo.List(ctx, map[string]string{"org": org})
	if err != nil {
		return nil, err
	}
	out := make([]wire.BackupRun, 0, len(list))
	for _, s := range list {
		status := wire.BackupDone
		if s.Incomplete {
			status = wire.BackupInterrupted
		}
		out = append(out, wire.BackupRun{Instance: s.Tags["instance"], Service: s.Tags["service"], Kind: s.Tags["kind"],
			Trigger: s.Tags["trigger"], Snapshot: s.ID, Status: status, Bytes: s.Size, Added: s.Added, Files: s.Files,
			Duration: s.End.Sub(s.Start), Started: s.Start, Finished: s.End})
	}
	return out, nil
}

// findSnapshot finds a snapshot by ID (or a unique prefix of one) in an
// organization's repository.
func findSnapshot(ctx context.Context, repo BackupRepository, org, id string) (Snapshot, error) {
	all, err := repo.List(ctx, map[string]string{"org": org})
	if err != nil {
		return Snapshot{}, err
	}
	var found []Snapshot
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
		if strings.HasPrefix(s.ID, id) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Snapshot{}, fmt.Errorf("org %s has no snapshot %s; `quai backup ls` lists them: %w", org, id, ErrNotFound)
	default:
		return Snapshot{}, fmt.Errorf("%s matches %d snapshots of org %s; give more of the id: %w", id, len(found), org, ErrInvalid)
	}
}

// RestoreRequest asks to restore a snapshot.
type RestoreRequest struct {
	// Instance is the instance the snapshot was taken of (checked against
	// its tags; "" accepts any, for clones).
	Instance string
	Snapshot string
	// Service must be the snapshot's service when set.
	Service string
	// Into is the instance restored into ("" = Instance).
	Into string
	// NoSafety skips the safety snapshot (a fresh clone has nothing to keep).
	NoSafety bool
}

// Restore replaces one service's data of an installed instance with a
// snapshot's. It takes a safety snapshot of the data it replaces first
// (nothing is changed when that fails), restores beside the running
// service, then restarts the service (for volume and file data) and the
// services that depend on it, so they start over on the restored data.
// Writes that reach the service during the restore are lost: the safety
// snapshot holds the state before. A failure says what state it left.
func (e *Engine) Restore(ctx context.Context, req RestoreRequest, emit Emitter) error {
	target := cmp.Or(req.Into, req.Instance)
	em := e.backupEmitter(emit, target)
	b, err := e.backups()
	if err != nil {
		return err
	}
	op, err := e.beginExisting(ctx, target, "restore", em)
	if err != nil {
		return err
	}
	msg, err := e.restore(op, b, req)
	if err != nil {
		op.emit.alert(req.Service, err)
	}
	op.finish(err, 0, msg)
	return err
}

func (e *Engine) restore(op *operation, b *BackupOptions, req RestoreRequest) (string, error) {
	ctx := op.ctx
	s, err := e.observe(ctx, op.instance, "", nil)
	if err != nil {
		return "", err
	}
	if s.active == nil || s.inst.Stopped {
		return "", fmt.Errorf("%s is not running; `quai up` it first, the restore runs beside its services: %w", op.instance, ErrInvalid)
	}
	org := s.inst.Identity.OrgOrDefault()
	repo, err := b.Open(ctx, org)
	if err != nil {
		return "", fmt.Errorf("open the backup repository of org %s: %w", org, err)
	}
	defer func() { _ = repo.Close(context.WithoutCancel(ctx)) }()
	snap, err := findSnapshot(ctx, repo, org, req.Snapshot)
	if err != nil {
		return "", err
	}
	service, kind := snap.Tags["service"], snap.Tags["kind"]
	switch {
	case req.Instance != "" && snap.Tags["instance"] != req.Instance:
		return "", fmt.Errorf("snapshot %s is of %s, not %s; to copy it into %s use --into: %w", snap.ID, snap.Tags["instance"], req.Instance, req.Instance, ErrInvalid)
	case req.Service != "" && req.Service != service:
		return "", fmt.Errorf("snapshot %s is of service %s, not %s: %w", snap.ID, service, req.Service, ErrInvalid)
	}
	svc := s.activeModel.Service(service)
	if svc == nil {
		return "", fmt.Errorf("%s has no service %s to restore snapshot %s into: %w", op.instance, service, snap.ID, ErrInvalid)
	}
	// Read the whole snapshot back before anything is written: a damaged
	// chunk is found only when it is read, and a restore that meets it
	// part way would leave the service with part of the data.
	op.emit.step("check", service, "", "reading snapshot "+snap.ID+" back before anything is changed")
	if err := repo.Verify(ctx, snap.ID, 0); err != nil {
		return "", fmt.Errorf("snapshot %s cannot be restored, so nothing was changed and %s of %s is as it was: %w", snap.ID, service, op.instance, err)
	}
	op.emit.stepDone("check", service, "", "snapshot "+snap.ID+" reads back whole")
	if !req.NoSafety {
		op.emit.step("safety", service, "", "taking a safety snapshot of "+service+" before the restore")
		run, err := e.snapshotService(op, b, repo, s.activeModel, svc, kind, wire.TriggerSafety)
		if err != nil {
			return "", fmt.Errorf("the safety snapshot failed, so nothing was restored and %s is as it was: %w", op.instance, err)
		}
		op.emit.stepDone("safety", service, "", "safety snapshot "+run.Snapshot)
		op.emit.warn(service, "", fmt.Sprintf("if this restore is not what you wanted: quai restore %s --snapshot %s", op.instance, run.Snapshot))
	}
	if err := e.restoreService(op, b, repo, snap, svc, kind); err != nil {
		return "", err
	}
	return fmt.Sprintf("restored snapshot %s into %s of %s", snap.ID, service, op.instance), nil
}

// restoreService restores snap into svc of the locked instance, then
// restarts what must start over on the restored data.
func (e *Engine) restoreService(op *operation, b *BackupOptions, repo BackupRepository, snap Snapshot, svc *stack.Service, kind string) error {
	ctx := op.ctx
	rt, h, err := e.replica(ctx, op.instance, svc.Name)
	if err != nil {
		return err
	}
	d, err := b.Dumper(ctx, kind, svc, rt, h)
	if err != nil {
		return err
	}
	op.emit.step("restore", svc.Name, "", fmt.Sprintf("restoring snapshot %s into %s", snap.ID, svc.Name))
	dir := ""
	if snap.Dir {
		hd, ok := d.(HostDirDumper)
		if ok {
			dir, ok = hd.HostDir()
		}
		if !ok {
			return fmt.Errorf("snapshot %s is a directory snapshot and %s of %s has no host directory to restore it into: %w", snap.ID, svc.Name, op.instance, ErrInvalid)
		}
	}
	if err := repo.Restore(ctx, snap.ID, d.Restore, dir); err != nil {
		return fmt.Errorf("restore of snapshot %s into %s of %s failed part way: its data may be partly restored; "+
			"the safety snapshot (quai backup ls %s) holds what was there: %w", snap.ID, svc.Name, op.instance, op.instance, err)
	}
	op.emit.stepDone("restore", svc.Name, "", "restored snapshot "+snap.ID)
	return e.restartAfterRestore(op, svc.Name, kind)
}

// restartAfterRestore restarts the services that must start over on
// restored data: the service itself for volume and file data (a database
// server reloads what its restore wrote), and every service depending on it.
func (e *Engine) restartAfterRestore(op *operation, service, kind string) error {
	s, err := e.observe(op.ctx, op.instance, "", nil)
	if err != nil {
		return err
	}
	names := dependents(s.activeModel, service)
	if kind == stack.BackupVolume || kind == stack.BackupFiles {
		names = append([]string{service}, names...)
	}
	for _, n := range names {
		if s, err = e.observe(op.ctx, op.instance, "", nil); err == nil {
			err = s.strategy.restart(op, s, s.activeModel, n)
		}
		if err != nil {
			return fmt.Errorf("the data of %s is restored but %s did not restart on it (%s may still run on what it held before; "+
				"`quai restart %s %s` tries again): %w", service, n, n, op.instance, n, err)
		}
	}
	return nil
}

// dependents lists the services that depend on service, directly or not,
// in start order.
func dependents(m *stack.Model, service string) []string {
	graph := dependencyGraph(m, false)
	dep := map[string]bool{service: true}
	order, err := startOrder(m, false)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range order {
		for _, d := range graph[s.Name] {
			if dep[d.service] && !dep[s.Name] {
				dep[s.Name] = true
				out = append(out, s.Name)
			}
		}
	}
	return out
}

// VerifyRequest asks to re-read snapshots.
type VerifyRequest = wire.VerifyRequest

// VerifyBackups re-reads snapshots (each backed-up service's newest, or
// all) and records the outcome on their runs; a failure is an EventError.
func (e *Engine) VerifyBackups(ctx context.Context, req VerifyRequest, emit Emitter) ([]wire.BackupRun, error) {
	em := e.backupEmitter(emit, req.Instance)
	b, err := e.backups()
	if err != nil {
		return nil, err
	}
	runs, err := b.Store.BackupRuns(ctx, req.Instance, 0)
	if err != nil {
		return nil, err
	}
	var pick []store.BackupRun
	newest := map[string]bool{}
	for _, r := range runs {
		key := r.Instance + "\x00" + r.Service
		if r.Status != store.RunDone || r.Snapshot == "" || (!req.All && newest[key]) {
			continue
		}
		newest[key] = true
		pick = append(pick, r)
	}
	if len(pick) == 0 {
		return nil, fmt.Errorf("no snapshot to verify%s; `quai backup` makes one: %w", forInstance(req.Instance), ErrNotFound)
	}
	em.step("verify", "", "", fmt.Sprintf("verifying %d snapshot(s)", len(pick)))
	repos := map[string]BackupRepository{}
	defer func() {
		for _, r := range repos {
			_ = r.Close(context.WithoutCancel(ctx))
		}
	}()
	var out []wire.BackupRun
	var errs []error
	for _, r := range pick {
		org := cmp.Or(r.Org, stack.DefaultOrg)
		repo, ok := repos[org]
		if !ok {
			if repo, err = b.Open(ctx, org); err != nil {
				errs = append(errs, fmt.Errorf("open the backup repository of org %s: %w", org, err))
				break
			}
			repos[org] = repo
		}
		em.emit(Event{Kind: EventStep, Step: "verify", Instance: r.Instance, Service: r.Service, Message: "verifying snapshot " + r.Snapshot})
		verr := repo.Verify(ctx, r.Snapshot, req.Percent)
		now := e.now()
		text := ""
		if verr != nil {
			text = verr.Error()
			r.VerifyError = text
			verr = fmt.Errorf("verify of snapshot %s (%s of %s) failed: %w", r.Snapshot, r.Service, r.Instance, verr)
			errs = append(errs, verr)
			em.emit(Event{Kind: EventError, Instance: r.Instance, Service: r.Service, Error: verr.Error()})
		} else {
			r.Verified, r.VerifyError = now, ""
			em.emit(Event{Kind: EventStepDone, Step: "verify", Instance: r.Instance, Service: r.Service, Message: "snapshot " + r.Snapshot + " is sound"})
		}
		if err := b.Store.SetBackupVerified(context.WithoutCancel(ctx), r.Snapshot, now, text); err != nil {
			errs = append(errs, err)
		}
		out = append(out, toWireRun(r))
	}
	err = errors.Join(errs...)
	if err != nil {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
	} else {
		em.emit(Event{Kind: EventDone, Message: fmt.Sprintf("%d snapshot(s) verified", len(out))})
	}
	return out, err
}

func forInstance(instance string) string {
	if instance == "" {
		return ""
	}
	return " of " + instance
}

// PruneBackups applies each backed-up service's retention to its
// snapshots and returns the runs whose snapshots were (dryRun: would be)
// deleted.
func (e *Engine) PruneBackups(ctx context.Context, instance string, dryRun bool, emit Emitter) ([]wire.BackupRun, error) {
	em := e.backupEmitter(emit, instance)
	b, err := e.backups()
	if err != nil {
		return nil, err
	}
	var insts []store.Instance
	if instance != "" {
		in, err := e.instance(ctx, instance)
		if err != nil {
			return nil, err
		}
		insts = append(insts, in)
	} else if insts, err = e.store.Instances(ctx); err != nil {
		return nil, err
	}
	em.step("prune", "", "", "applying the backup retention")
	var out []wire.BackupRun
	var errs []error
	for _, in := range insts {
		active, err := e.store.ActiveRelease(ctx, in.Name)
		if err != nil {
			continue
		}
		m, err := decodeModel(active)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		repo, err := b.Open(ctx, in.Identity.OrgOrDefault())
		if err != nil {
			errs = append(errs, fmt.Errorf("open the backup repository of org %s: %w", in.Identity.OrgOrDefault(), err))
			continue
		}
		for _, svc := range m.Services {
			if svc.Backup == nil {
				continue
			}
			pruned, err := e.pruneService(ctx, b, repo, in.Name, m, svc, dryRun, em)
			out = append(out, pruned...)
			if err != nil {
				errs = append(errs, err)
			}
		}
		_ = repo.Close(context.WithoutCancel(ctx))
	}
	err = errors.Join(errs...)
	verb := "pruned"
	if dryRun {
		verb = "would prune"
	}
	if err != nil {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
	} else {
		em.emit(Event{Kind: EventDone, Message: fmt.Sprintf("%s %d snapshot(s)", verb, len(out))})
	}
	return out, err
}

// pruneService applies svc's retention. A dry run lists what the retention
// would delete (expired) without asking the repository.
func (e *Engine) pruneService(ctx context.Context, b *BackupOptions, repo BackupRepository, instance string, m *stack.Model, svc *stack.Service, dryRun bool, em *emitter) ([]wire.BackupRun, error) {
	tags := map[string]string{"org": m.Identity.OrgOrDefault(), "instance": instance, "service": svc.Name}
	keep := svc.Backup.Retention
	var gone []Snapshot
	var err error
	if dryRun {
		var all []Snapshot
		if all, err = repo.List(ctx, tags); err == nil {
			gone = expired(all, keep)
		}
	} else {
		gone, err = repo.Prune(ctx, tags, keep, e.now())
	}
	if err != nil {
		return nil, fmt.Errorf("prune %s of %s: %w", svc.Name, instance, err)
	}
	ids := make([]string, 0, len(gone))
	out := make([]wire.BackupRun, 0, len(gone))
	for _, s := range gone {
		ids = append(ids, s.ID)
		out = append(out, wire.BackupRun{Instance: instance, Service: svc.Name, Kind: s.Tags["kind"], Snapshot: s.ID,
			Status: wire.BackupPruned, Bytes: s.Size, Started: s.Start, Finished: s.End, Duration: s.End.Sub(s.Start)})
	}
	if !dryRun && len(ids) > 0 {
		if err := b.Store.SetBackupPruned(context.WithoutCancel(ctx), ids); err != nil {
			return out, err
		}
		em.emit(Event{Kind: EventStepDone, Step: "prune", Service: svc.Name, Instance: instance,
			Message: fmt.Sprintf("pruned %d snapshot(s) of %s", len(ids), svc.Name)})
	}
	return out, nil
}

// expired returns the snapshots (newest first) that keep does not keep:
// the newest KeepLast, then the newest of each of the last KeepDaily days,
// KeepWeekly ISO weeks and KeepMonthly months that have a snapshot.
func expired(snaps []Snapshot, keep stack.Retention) []Snapshot {
	snaps = slices.SortedFunc(slices.Values(snaps), func(a, b Snapshot) int { return b.Start.Compare(a.Start) })
	kept := map[string]bool{}
	for i := 0; i < keep.KeepLast && i < len(snaps); i++ {
		kept[snaps[i].ID] = true
	}
	bucket := func(n int, key func(time.Time) string) {
		seen := map[string]bool{}
		for _, s := range snaps {
			k := key(s.Start.UTC())
			if len(seen) >= n {
				return
			}
			if !seen[k] {
				seen[k] = true
				kept[s.ID] = true
			}
		}
	}
	bucket(keep.KeepDaily, func(t time.Time) string { return t.Format(time.DateOnly) })
	bucket(keep.KeepWeekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, "-", w) })
	bucket(keep.KeepMonthly, func(t time.Time) string { return t.Format("2006-01") })
	var out []Snapshot
	for _, s := range snaps {
		if !kept[s.ID] {
			out = append(out, s)
		}
	}
	return out
}

// backupState is an instance's backup health for ls and status, nil when
// it has never been backed up and has no backup policy.
func (e *Engine) backupState(ctx context.Context, in store.Instance, m *stack.Model) *wire.BackupState {
	if e.backup == nil || e.backup.Store == nil {
		return nil
	}
	// One read serves both the last runs' report and the schedule's check,
	// which looks further back.
	all, err := e.backup.Store.BackupRuns(ctx, in.Name, missedRuns)
	if err != nil {
		return nil
	}
	runs := all[:min(len(all), 50)]
	drills, _ := e.backup.Store.Drills(ctx, in.Name, 1)
	var st wire.BackupState
	for _, r := range runs {
		if r.VerifyError != "" && r.Snapshot != "" && r.Status == store.RunDone {
			st.VerifyFailed = append(st.VerifyFailed, r.Snapshot)
		}
	}
	for i, r := range runs {
		if r.Trigger == wire.TriggerSafety {
			continue
		}
		if st.Last == nil {
			w := toWireRun(runs[i])
			st.Last = &w
		}
		if r.Status == store.RunDone || r.Status == store.RunPruned {
			st.LastSuccess = r.Finished
			break
		}
	}
	if len(drills) > 0 {
		d := toWireDrill(drills[0])
		st.Drill = &d
	}
	if m != nil {
		st.Missed = e.missed(in, all, m)
	}
	if st.Last == nil && st.Drill == nil && len(st.Missed) == 0 && len(st.VerifyFailed) == 0 && (m == nil || !slices.ContainsFunc(m.Services, func(s *stack.Service) bool { return s.Backup != nil })) {
		return nil
	}
	return &st
}

// pickReplica returns a healthy replica, else a running one.
func pickReplica(ctx context.Context, rt runtime.Runtime, hs []runtime.Handle) (runtime.Handle, bool) {
	var pick *runtime.Handle
	for i, h := range hs {
		st, err := rt.Inspect(ctx, h)
		if err != nil {
			continue
		}
		if st.Healthy() {
			return hs[i], true
		}
		if pick == nil && st.State == runtime.StateRunning {
			pick = &hs[i]
		}
	}
	if pick == nil {
		return runtime.Handle{}, false
	}
	return *pick, true
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// ForgetBackups deletes every snapshot of an instance from its
// organization's repository (reclaiming their space) and its backup runs,
// drills and schedule state from the store, and returns the deleted
// snapshots. It is what `rm --purge` runs when asked to take the backups
// too; it works before or after the instance is removed, and never
// touches another instance's snapshots.
func (e *Engine) ForgetBackups(ctx context.Context, instance string, emit Emitter) ([]wire.BackupRun, error) {
	em := e.backupEmitter(emit, instance)
	b, err := e.backups()
	if err != nil {
		return nil, err
	}
	org := instanceOrg(instance)
	if in, err := e.store.Instance(ctx, instance); err == nil {
		org = in.Identity.OrgOrDefault()
	}
	em.step("forget", "", "", "deleting the backups of "+instance)
	repo, err := b.Open(ctx, org)
	if err != nil {
		err = fmt.Errorf("open the backup repository of org %s (nothing was deleted): %w", org, err)
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return nil, err
	}
	defer func() { _ = repo.Close(context.WithoutCancel(ctx)) }()
	gone, err := repo.Forget(ctx, map[string]string{"org": org, "instance": instance})
	if err != nil {
		err = fmt.Errorf("delete the backups of %s (its backup history is kept; `quai backup ls %s` lists what is left): %w", instance, instance, err)
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return nil, err
	}
	if err := b.Store.DeleteBackupHistory(context.WithoutCancel(ctx), instance); err != nil {
		em.emit(Event{Kind: EventFailed, Error: err.Error()})
		return nil, err
	}
	out := make([]wire.BackupRun, 0, len(gone))
	var size int64
	for _, s := range gone {
		size += s.Size
		out = append(out, wire.BackupRun{Instance: instance, Service: s.Tags["service"], Kind: s.Tags["kind"], Snapshot: s.ID,
			Status: wire.BackupPruned, Bytes: s.Size, Started: s.Start, Finished: s.End, Duration: s.End.Sub(s.Start)})
	}
	em.emit(Event{Kind: EventDone, Message: fmt.Sprintf("deleted %d backup(s) (%s) of %s", len(gone), humanBytes(size), instance)})
	return out, nil
}

// instanceOrg is the organization an instance name ("org/project-env", or
// "project-env" in the default organization) belongs to.
func instanceOrg(instance string) string {
	if org, _, ok := strings.Cut(instance, "/"); ok {
		return org
	}
	return stack.DefaultOrg
}
