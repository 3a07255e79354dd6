package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// Scheduled jobs.
const (
	JobBackup = "backup"
	JobDrill  = "drill"
)

// DefaultDrillSchedule is when drills run: weekly.
const DefaultDrillSchedule = "@weekly"

// BackupJob is one scheduled job of an instance: a service's backup, or the
// instance's drill (Service "").
type BackupJob struct {
	Instance string
	Service  string
	Job      string
	Schedule string
	// Due is when it was due (the first scheduled time after its last run).
	Due time.Time
}

// Key names the job in the scheduler's memory.
func (j BackupJob) Key() string { return j.Instance + "\x00" + j.Service + "\x00" + j.Job }

// DueBackups returns the jobs due at now: those whose next scheduled time
// after their last run (or, never run, after the instance was installed)
// has come. A job missed while the daemon was down is due at start.
func (e *Engine) DueBackups(ctx context.Context, now time.Time) ([]BackupJob, error) {
	b, err := e.backups()
	if err != nil {
		return nil, err
	}
	states, err := b.Store.ScheduleStates(ctx)
	if err != nil {
		return nil, err
	}
	last := map[string]store.ScheduleState{}
	for _, st := range states {
		last[BackupJob{Instance: st.Instance, Service: st.Service, Job: st.Job}.Key()] = st
	}
	insts, err := e.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var due []BackupJob
	for _, in := range insts {
		if in.Stopped {
			continue
		}
		active, err := e.store.ActiveRelease(ctx, in.Name)
		if err != nil {
			continue
		}
		m, err := decodeModel(active)
		if err != nil {
			continue
		}
		hasBackup := false
		for _, svc := range m.Services {
			if svc.Backup == nil {
				continue
			}
			hasBackup = true
			j := BackupJob{Instance: in.Name, Service: svc.Name, Job: JobBackup, Schedule: svc.Backup.Schedule}
			if at, ok := dueAt(j.Schedule, last[j.Key()].LastRun, in.Created, now); ok {
				j.Due = at
				due = append(due, j)
			}
		}
		if hasBackup {
			j := BackupJob{Instance: in.Name, Job: JobDrill, Schedule: e.drillSchedule()}
			if at, ok := dueAt(j.Schedule, last[j.Key()].LastRun, in.Created, now); ok {
				j.Due = at
				due = append(due, j)
			}
		}
	}
	return due, nil
}

func (e *Engine) drillSchedule() string {
	if e.backup != nil && e.backup.DrillSchedule != "" {
		return e.backup.DrillSchedule
	}
	return DefaultDrillSchedule
}

// dueAt reports when a job with schedule, last run at lastRun (zero:
// never, counted from created), is due, and whether that is by now.
func dueAt(schedule string, lastRun, created, now time.Time) (time.Time, bool) {
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return time.Time{}, false
	}
	base := lastRun
	if base.IsZero() {
		base = created
	}
	next := sched.Next(base)
	return next, !next.After(now)
}

// interval is the time between two scheduled runs around now.
func interval(schedule string, now time.Time) (time.Duration, bool) {
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return 0, false
	}
	a := sched.Next(now)
	return sched.Next(a).Sub(a), true
}

// RunScheduled runs a due job and records it in the scheduler's memory, so
// it is not run again before its next time, even across a daemon restart.
// Scheduled backups prune afterwards.
func (e *Engine) RunScheduled(ctx context.Context, j BackupJob) error {
	b, err := e.backups()
	if err != nil {
		return err
	}
	key := store.ScheduleState{Instance: j.Instance, Service: j.Service, Job: j.Job}
	prev := key
	if states, err := b.Store.ScheduleStates(ctx); err == nil {
		for _, st := range states {
			if st.Instance == j.Instance && st.Service == j.Service && st.Job == j.Job {
				prev = st
			}
		}
	}
	switch j.Job {
	case JobBackup:
		_, err = e.Backup(ctx, BackupRequest{Instance: j.Instance, Service: j.Service, Trigger: wire.TriggerSchedule, Prune: true}, nil)
	case JobDrill:
		_, err = e.Drill(ctx, j.Instance, nil)
		if errors.Is(err, ErrNotFound) {
			err = nil // nothing to drill yet: the next backup makes something
		}
	default:
		return fmt.Errorf("unknown scheduled job %q: %w", j.Job, ErrInvalid)
	}
	if errors.Is(err, ErrClosed) || ctx.Err() != nil {
		return err // the daemon stops: the job is still due at the next start
	}
	prev.LastRun = e.now()
	if err == nil {
		prev.LastSuccess = prev.LastRun
	}
	if perr := b.Store.PutScheduleState(context.WithoutCancel(ctx), prev); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

// missedRuns is how many of an instance's last backup runs missed looks at.
const missedRuns = 200

// missed names the services of in whose backup has not succeeded within
// twice their schedule's interval (counted from the instance's install
// when it never succeeded), from its last runs, newest first.
func (e *Engine) missed(in store.Instance, runs []store.BackupRun, m *stack.Model) []string {
	if in.Stopped {
		return nil
	}
	lastOK := map[string]time.Time{}
	for _, r := range runs {
		if (r.Status == store.RunDone || r.Status == store.RunPruned) && r.Trigger != wire.TriggerSafety && lastOK[r.Service].IsZero() {
			lastOK[r.Service] = r.Finished
		}
	}
	now := e.now()
	var out []string
	for _, svc := range m.Services {
		if svc.Backup == nil {
			continue
		}
		iv, ok := interval(svc.Backup.Schedule, now)
		if !ok {
			continue
		}
		ref := lastOK[svc.Name]
		if ref.IsZero() {
			ref = in.Created
		}
		if now.Sub(ref) > 2*iv {
			out = append(out, svc.Name)
		}
	}
	return out
}

// MissedBackup is a service whose scheduled backup has not succeeded in
// twice its interval.
type MissedBackup struct {
	Instance, Service string
	LastSuccess       time.Time
}

// MissedBackups lists every missed backup, for the daemon's watchdog.
func (e *Engine) MissedBackups(ctx context.Context) ([]MissedBackup, error) {
	if _, err := e.backups(); err != nil {
		return nil, err
	}
	insts, err := e.store.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var out []MissedBackup
	for _, in := range insts {
		active, err := e.store.ActiveRelease(ctx, in.Name)
		if err != nil {
			continue
		}
		m, err := decodeModel(active)
		if err != nil {
			continue
		}
		st := e.backupState(ctx, in, m)
		if st == nil {
			continue
		}
		for _, svc := range st.Missed {
			out = append(out, MissedBackup{Instance: in.Name, Service: svc, LastSuccess: st.LastSuccess})
		}
	}
	return out, nil
}
