package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// Backup run and drill statuses.
const (
	RunRunning     = "running"
	RunDone        = "done"
	RunFailed      = "failed"
	RunInterrupted = "interrupted"
	// RunPruned marks a run whose snapshot retention deleted.
	RunPruned = "pruned"
)

// BackupRun is one snapshot attempt of one service of an instance.
type BackupRun struct {
	ID       int64
	Instance string
	Org      string
	Service  string
	// Kind is the service's backup kind (postgres, mysql, redis, volume, files).
	Kind string
	// Trigger says what started it: "manual", "schedule", "safety" (before a restore).
	Trigger  string
	Snapshot string
	Status   string
	Error    string
	Bytes    int64
	Added    int64
	Files    int64
	Duration time.Duration
	// Verified is when a verify last re-read the snapshot without error;
	// VerifyError is set when the last verify failed.
	Verified    time.Time
	VerifyError string
	// Facts is what the dumper's check found at backup time (JSON), which a
	// drill compares with what the restored copy answers.
	Facts    []byte
	Started  time.Time
	Finished time.Time
}

// Drill is one restore drill of an instance.
type Drill struct {
	ID       int64
	Instance string
	// Name is the throw-away instance the drill restored into.
	Name     string
	Status   string
	Error    string
	Report   string
	Started  time.Time
	Finished time.Time
}

// ScheduleState is the scheduler's memory of one job ("backup" or "drill")
// of one service ("" for the instance's drill).
type ScheduleState struct {
	Instance    string
	Service     string
	Job         string
	LastRun     time.Time
	LastSuccess time.Time
}

// BackupStore records backup runs, drills and the scheduler's state.
// *SQLite implements it.
type BackupStore interface {
	// BeginBackupRun records a running backup and returns it with its ID.
	BeginBackupRun(ctx context.Context, r BackupRun) (BackupRun, error)
	// FinishBackupRun records the outcome of a run (status, error, snapshot,
	// sizes, facts, finished).
	FinishBackupRun(ctx context.Context, r BackupRun) error
	// BackupRuns lists runs newest first: of one instance ("" = every
	// instance), at most limit (0 = all).
	BackupRuns(ctx context.Context, instance string, limit int) ([]BackupRun, error)
	// BackupRunBySnapshot returns the run that made a snapshot; ErrNotFound if none.
	BackupRunBySnapshot(ctx context.Context, snapshot string) (BackupRun, error)
	// SetBackupVerified records a verify of a snapshot: errText "" for success.
	SetBackupVerified(ctx context.Context, snapshot string, at time.Time, errText string) error
	// SetBackupPruned marks the runs of deleted snapshots pruned.
	SetBackupPruned(ctx context.Context, snapshots []string) error
	// DeleteBackupHistory deletes an instance's backup runs, drills and
	// schedule state: its backups were deleted with it.
	DeleteBackupHistory(ctx context.Context, instance string) error
	// InterruptBackupRuns marks every run still running interrupted (called
	// at daemon start, when no run can be in flight) and returns how many.
	InterruptBackupRuns(ctx context.Context, at time.Time) (int, error)

	// BeginDrill records a running drill and returns it with its ID.
	BeginDrill(ctx context.Context, d Drill) (Drill, error)
	// FinishDrill records a drill's outcome.
	FinishDrill(ctx context.Context, d Drill) error
	// Drills lists drills newest first, as BackupRuns.
	Drills(ctx context.Context, instance string, limit int) ([]Drill, error)

	// ScheduleStates lists the scheduler's memory.
	ScheduleStates(ctx context.Context) ([]ScheduleState, error)
	// PutScheduleState records one job's last run and success.
	PutScheduleState(ctx context.Context, st ScheduleState) error
}

var _ BackupStore = (*SQLite)(nil)

const runCols = `id, instance, org, service, kind, trigger, snapshot, status, error, bytes, added, files, duration, verified, verify_error, facts, started, finished`

func scanRun(row interface{ Scan(...any) error }) (BackupRun, error) {
	var r BackupRun
	var dur, verified, started, finished int64
	var facts string
	err := row.Scan(&r.ID, &r.Instance, &r.Org, &r.Service, &r.Kind, &r.Trigger, &r.Snapshot, &r.Status, &r.Error,
		&r.Bytes, &r.Added, &r.Files, &dur, &verified, &r.VerifyError, &facts, &started, &finished)
	if err != nil {
		return BackupRun{}, err
	}
	r.Duration = time.Duration(dur)
	r.Verified, r.Started, r.Finished = fromNano(verified), fromNano(started), fromNano(finished)
	if facts != "" {
		r.Facts = []byte(facts)
	}
	return r, nil
}

// BeginBackupRun implements BackupStore.
func (s *SQLite) BeginBackupRun(ctx context.Context, r BackupRun) (BackupRun, error) {
	r.Status = RunRunning
	if r.Started.IsZero() {
		r.Started = s.now()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO backup_runs(instance, org, service, kind, trigger, status, started) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Instance, r.Org, r.Service, r.Kind, r.Trigger, r.Status, unixNano(r.Started))
	if err != nil {
		return BackupRun{}, fmt.Errorf("record backup of %s of %s: %w", r.Service, r.Instance, err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return BackupRun{}, fmt.Errorf("record backup of %s of %s: %w", r.Service, r.Instance, err)
	}
	return r, nil
}

// FinishBackupRun implements BackupStore.
func (s *SQLite) FinishBackupRun(ctx context.Context, r BackupRun) error {
	if r.Finished.IsZero() {
		r.Finished = s.now()
	}
	res, err := s.db.ExecContext(ctx, `UPDATE backup_runs SET snapshot = ?, status = ?, error = ?, bytes = ?, added = ?, files = ?,
		duration = ?, facts = ?, finished = ? WHERE id = ?`,
		r.Snapshot, r.Status, r.Error, r.Bytes, r.Added, r.Files, int64(r.Duration), string(r.Facts), unixNano(r.Finished), r.ID)
	if err != nil {
		return fmt.Errorf("record the end of backup %d of %s: %w", r.ID, r.Instance, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("backup run %d: %w", r.ID, ErrNotFound)
	}
	return nil
}

// instanceFilter is the WHERE clause and arguments listing one instance's
// rows ("" = all), newest first, at most limit.
func instanceFilter(instance string, limit int) (string, []any) {
	q, args := "", []any{}
	if instance != "" {
		q, args = " WHERE instance = ?", append(args, instance)
	}
	q += " ORDER BY id DESC"
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	return q, args
}

// BackupRuns implements BackupStore.
func (s *SQLite) BackupRuns(ctx context.Context, instance string, limit int) ([]BackupRun, error) {
	where, args := instanceFilter(instance, limit)
	return queryRows(ctx, s.db, "list backup runs", `SELECT `+runCols+` FROM backup_runs`+where, args, scanRun)
}

// BackupRunBySnapshot implements BackupStore.
func (s *SQLite) BackupRunBySnapshot(ctx context.Context, snapshot string) (BackupRun, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runCols+` FROM backup_runs WHERE snapshot = ? ORDER BY id DESC LIMIT 1`, snapshot))
	if errors.Is(err, sql.ErrNoRows) {
		return BackupRun{}, fmt.Errorf("snapshot %s: %w", snapshot, ErrNotFound)
	}
	if err != nil {
		return BackupRun{}, fmt.Errorf("snapshot %s: %w", snapshot, err)
	}
	return r, nil
}

// SetBackupVerified implements BackupStore.
func (s *SQLite) SetBackupVerified(ctx context.Context, snapshot string, at time.Time, errText string) error {
	q := `UPDATE backup_runs SET verified = ?, verify_error = '' WHERE snapshot = ?`
	args := []any{unixNano(at), snapshot}
	if errText != "" {
		q, args = `UPDATE backup_runs SET verify_error = ? WHERE snapshot = ?`, []any{errText, snapshot}
	}
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("record verify of snapshot %s: %w", snapshot, err)
	}
	return nil
}

// SetBackupPruned implements BackupStore.
func (s *SQLite) SetBackupPruned(ctx context.Context, snapshots []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range snapshots {
			if _, err := tx.ExecContext(ctx, `UPDATE backup_runs SET status = ? WHERE snapshot = ?`, RunPruned, id); err != nil {
				return fmt.Errorf("record prune of snapshot %s: %w", id, err)
			}
		}
		return nil
	})
}

// DeleteBackupHistory implements BackupStore.
func (s *SQLite) DeleteBackupHistory(ctx context.Context, instance string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM backup_runs WHERE instance = ?`,
			`DELETE FROM backup_drills WHERE instance = ?`,
			`DELETE FROM backup_schedule WHERE instance = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, instance); err != nil {
				return fmt.Errorf("delete the backup history of %s (%s): %w", instance, q, err)
			}
		}
		return nil
	})
}

// InterruptBackupRuns implements BackupStore.
func (s *SQLite) InterruptBackupRuns(ctx context.Context, at time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		msg := "the daemon stopped during the backup; the next run starts afresh"
		res, err := tx.ExecContext(ctx, `UPDATE backup_runs SET status = ?, error = ?, finished = ? WHERE status = ?`,
			RunInterrupted, msg, unixNano(at), RunRunning)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `UPDATE backup_drills SET status = ?, error = ?, finished = ? WHERE status = ?`,
			RunInterrupted, "the daemon stopped during the drill", unixNano(at), RunRunning)
		if err != nil {
			return err
		}
		m, _ := res.RowsAffected()
		n += m
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("clear interrupted backup runs: %w", err)
	}
	return int(n), nil
}

const drillCols = `id, instance, drill, status, error, report, started, finished`

func scanDrill(row interface{ Scan(...any) error }) (Drill, error) {
	var d Drill
	var started, finished int64
	if err := row.Scan(&d.ID, &d.Instance, &d.Name, &d.Status, &d.Error, &d.Report, &started, &finished); err != nil {
		return Drill{}, err
	}
	d.Started, d.Finished = fromNano(started), fromNano(finished)
	return d, nil
}

// BeginDrill implements BackupStore.
func (s *SQLite) BeginDrill(ctx context.Context, d Drill) (Drill, error) {
	d.Status = RunRunning
	if d.Started.IsZero() {
		d.Started = s.now()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO backup_drills(instance, drill, status, started) VALUES (?, ?, ?, ?)`,
		d.Instance, d.Name, d.Status, unixNano(d.Started))
	if err != nil {
		return Drill{}, fmt.Errorf("record drill of %s: %w", d.Instance, err)
	}
	if d.ID, err = res.LastInsertId(); err != nil {
		return Drill{}, fmt.Errorf("record drill of %s: %w", d.Instance, err)
	}
	return d, nil
}

// FinishDrill implements BackupStore.
func (s *SQLite) FinishDrill(ctx context.Context, d Drill) error {
	if d.Finished.IsZero() {
		d.Finished = s.now()
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE backup_drills SET status = ?, error = ?, report = ?, finished = ? WHERE id = ?`,
		d.Status, d.Error, d.Report, unixNano(d.Finished), d.ID); err != nil {
		return fmt.Errorf("record the end of drill %d of %s: %w", d.ID, d.Instance, err)
	}
	return nil
}

// Drills implements BackupStore.
func (s *SQLite) Drills(ctx context.Context, instance string, limit int) ([]Drill, error) {
	where, args := instanceFilter(instance, limit)
	return queryRows(ctx, s.db, "list drills", `SELECT `+drillCols+` FROM backup_drills`+where, args, scanDrill)
}

// ScheduleStates implements BackupStore.
func (s *SQLite) ScheduleStates(ctx context.Context) ([]ScheduleState, error) {
	return queryRows(ctx, s.db, "list backup schedule state",
		`SELECT instance, service, job, last_run, last_success FROM backup_schedule ORDER BY instance, service, job`, nil,
		func(row interface{ Scan(...any) error }) (ScheduleState, error) {
			var st ScheduleState
			var run, ok int64
			if err := row.Scan(&st.Instance, &st.Service, &st.Job, &run, &ok); err != nil {
				return ScheduleState{}, err
			}
			st.LastRun, st.LastSuccess = fromNano(run), fromNano(ok)
			return st, nil
		})
}

// PutScheduleState implements BackupStore.
func (s *SQLite) PutScheduleState(ctx context.Context, st ScheduleState) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO backup_schedule(instance, service, job, last_run, last_success) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(instance, service, job) DO UPDATE SET last_run = excluded.last_run, last_success = excluded.last_success`,
		st.Instance, st.Service, st.Job, unixNano(st.LastRun), unixNano(st.LastSuccess))
	if err != nil {
		return fmt.Errorf("record %s schedule of %s %s: %w", st.Job, st.Instance, st.Service, err)
	}
	return nil
}

// queryRows runs a query and scans every row.
func queryRows[T any](ctx context.Context, db *sql.DB, what, q string, args []any, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer func() { _ = rows.Close() }()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// CopyTo writes a consistent copy of the database to path (which must not
// exist) while the daemon runs, with VACUUM INTO: readers and writers go
// on, and the copy is one point in time.
func (s *SQLite) CopyTo(ctx context.Context, path string) error {
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("copy the store to %s: %w", path, err)
	}
	return os.Chmod(path, FileMode)
}
