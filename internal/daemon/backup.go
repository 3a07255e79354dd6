package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/store"
	"github.com/quai-dev/quai/internal/wire"
)

// BackupConfig tunes the backup scheduler.
type BackupConfig struct {
	// Off runs no scheduled backups, drills nor watchdog (verbs still work).
	Off bool
	// Tick is how often the scheduler looks for due jobs and missed
	// backups (30s).
	Tick time.Duration
	// Concurrency bounds scheduled jobs running at once (2).
	Concurrency int
	// DrillSchedule is when drills run (engine.DefaultDrillSchedule, weekly).
	DrillSchedule string
}

// keysDir holds the daemon's sealed keys: the age keys of sealed secrets
// in a directory per organization, and the backup repositories' passwords
// beside them as backup-<org>.sealed.
func keysDir(dataDir string) string { return datadir.KeysDir(dataDir) }

// backupSettings keeps each organization's repository target in the store's
// settings, its credentials and password sealed with the master key.
type backupSettings struct {
	dataDir string
	store   store.Store
	key     *secrets.Key
}

func targetKey(org string) string { return "backup.target." + org }

// savedTarget is a target as stored: the secret key sealed.
type savedTarget struct {
	URL       string `json:"url"`
	AccessKey string `json:"access_key,omitempty"`
	// Secret is the secret key sealed with the master key, base64.
	Secret string `json:"secret,omitempty"`
}

func targetAD(org string) []byte { return []byte("backup-target-secret:" + org) }

// target returns the organization's repository target, with credentials:
// the stored one, else a directory under DATA_DIR/backups.
func (b *backupSettings) target(ctx context.Context, org string) (wire.BackupTarget, error) {
	v, err := b.store.Setting(ctx, targetKey(org))
	if errors.Is(err, store.ErrNotFound) {
		return wire.BackupTarget{Org: org, URL: "file://" + filepath.Join(b.dataDir, "backups", org)}, nil
	}
	if err != nil {
		return wire.BackupTarget{}, err
	}
	var st savedTarget
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return wire.BackupTarget{}, fmt.Errorf("backup target of org %s in the store: %w", org, err)
	}
	t := wire.BackupTarget{Org: org, URL: st.URL, AccessKey: st.AccessKey}
	if st.Secret != "" {
		sealed, err := base64.StdEncoding.DecodeString(st.Secret)
		if err != nil {
			return wire.BackupTarget{}, fmt.Errorf("backup target of org %s: sealed secret key: %w", org, err)
		}
		plain, err := b.key.Open(sealed, targetAD(org))
		if err != nil {
			return wire.BackupTarget{}, fmt.Errorf("backup target of org %s: the secret key does not open with this host's master key: %w", org, err)
		}
		t.SecretKey = string(plain)
	}
	return t, nil
}

// setTarget records a target, sealing its secret key.
func (b *backupSettings) setTarget(ctx context.Context, t wire.BackupTarget) error {
	if t.Org == "" {
		return fmt.Errorf("backup target: name the organization: %w", engine.ErrInvalid)
	}
	if !strings.HasPrefix(t.URL, "file:///") && !strings.HasPrefix(t.URL, "s3://") {
		return fmt.Errorf("backup target %q: use file:///absolute/dir or s3://bucket/prefix?endpoint=host:port: %w", t.URL, engine.ErrInvalid)
	}
	st := savedTarget{URL: t.URL, AccessKey: t.AccessKey}
	if t.SecretKey != "" {
		st.Secret = base64.StdEncoding.EncodeToString(b.key.Seal([]byte(t.SecretKey), targetAD(t.Org)))
	}
	v, err := json.Marshal(st) //nolint:gosec // AccessKey is the key ID, not a secret; SecretKey is sealed into Secret
	if err != nil {
		return err
	}
	return b.store.SetSetting(ctx, targetKey(t.Org), string(v))
}

func passwordAD(org string) []byte { return []byte("backup-password:" + org) }

func passwordPath(dataDir, org string) string {
	return filepath.Join(keysDir(dataDir), "backup-"+org+".sealed")
}

// password returns the organization's repository password, generating and
// sealing it on first use (DATA_DIR/keys/backup-<org>.sealed).
func (b *backupSettings) password(org string) ([]byte, error) {
	pw, _, err := b.passwordCreated(org)
	return pw, err
}

// passwordCreated is password, also saying whether this call created it.
func (b *backupSettings) passwordCreated(org string) ([]byte, bool, error) {
	path := passwordPath(b.dataDir, org)
	sealed, err := os.ReadFile(path)
	if err == nil {
		plain, err := b.key.Open(sealed, passwordAD(org))
		if err != nil {
			return nil, false, fmt.Errorf("backup password of org %s (%s) does not open with this host's master key: %w", org, path, err)
		}
		return plain, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read the backup password of org %s: %w", org, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, false, err
	}
	plain := []byte(hex.EncodeToString(raw[:]))
	if err := os.MkdirAll(keysDir(b.dataDir), 0o700); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", keysDir(b.dataDir), err)
	}
	// Of two first uses at once, one password wins and both use it.
	if err := fsutil.CreateFile(path, b.key.Seal(plain, passwordAD(org)), 0o600); errors.Is(err, fs.ErrExist) {
		return b.passwordCreated(org)
	} else if err != nil {
		return nil, false, fmt.Errorf("save the backup password of org %s: %w", org, err)
	}
	return plain, true, nil
}

// dropPassword deletes a password that never opened a repository (the
// target holds one another host created), so importing that host's
// password is not refused.
func (b *backupSettings) dropPassword(org string) {
	_ = os.Remove(passwordPath(b.dataDir, org))
}

// ErrKeyDiffers: an imported password differs from the one this host holds.
var ErrKeyDiffers = errors.New("a different backup password is already set")

// importPassword records an exported password for org, so a new host opens
// the repository the old one wrote. A different password this host holds
// is kept unless replace: it may be the only key to snapshots already taken.
func (b *backupSettings) importPassword(org string, plain []byte, replace bool) error {
	path := passwordPath(b.dataDir, org)
	if _, err := os.Stat(path); err == nil && !replace {
		have, err := b.password(org)
		if err != nil {
			return err
		}
		if !bytes.Equal(have, plain) {
			return fmt.Errorf("org %s: %w; it may be the only key to this host's snapshots: export it first, then import with --replace: %w",
				org, ErrKeyDiffers, engine.ErrInvalid)
		}
		return nil
	}
	if err := os.MkdirAll(keysDir(b.dataDir), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", keysDir(b.dataDir), err)
	}
	return fsutil.WriteFile(path, b.key.Seal(plain, passwordAD(org)), 0o600)
}

// backupAdmin implements api.BackupAdmin.
type backupAdmin struct {
	settings *backupSettings
	store    *store.SQLite
	now      func() time.Time
	// onTarget forgets an organization's open repository when its target changes.
	onTarget func(org string)
}

func (a *backupAdmin) BackupTarget(ctx context.Context, org string) (wire.BackupTarget, error) {
	t, err := a.settings.target(ctx, org)
	t.SecretKey = ""
	return t, err
}

func (a *backupAdmin) SetBackupTarget(ctx context.Context, t wire.BackupTarget) error {
	if err := a.settings.setTarget(ctx, t); err != nil {
		return err
	}
	if a.onTarget != nil {
		a.onTarget(t.Org)
	}
	return nil
}

func (a *backupAdmin) BackupKey(ctx context.Context, org string) (wire.BackupKey, error) {
	t, err := a.settings.target(ctx, org)
	if err != nil {
		return wire.BackupKey{}, err
	}
	pw, err := a.settings.password(org)
	if err != nil {
		return wire.BackupKey{}, err
	}
	return wire.BackupKey{Org: org, Target: t.URL, Password: string(pw)}, nil
}

func (a *backupAdmin) ImportBackupKey(_ context.Context, org string, k wire.BackupKeyImport) error {
	if err := a.settings.importPassword(org, []byte(k.Password), k.Replace); err != nil {
		return err
	}
	if a.onTarget != nil {
		a.onTarget(org)
	}
	return nil
}

// SystemBackup copies the store (consistently, while the daemon runs) and
// the sealed keys into dir. The master key is not copied: it opens both,
// so it is kept apart from them.
func (a *backupAdmin) SystemBackup(ctx context.Context, dir string) (wire.SystemBackup, error) {
	if dir == "" {
		dir = filepath.Join(a.settings.dataDir, "backups", "system", a.now().UTC().Format("20060102T150405Z"))
	}
	if !filepath.IsAbs(dir) {
		return wire.SystemBackup{}, fmt.Errorf("system backup: %s is not an absolute path: %w", dir, engine.ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return wire.SystemBackup{}, fmt.Errorf("system backup: %w", err)
	}
	out := wire.SystemBackup{Dir: dir}
	db := filepath.Join(dir, "state.db")
	if err := a.store.CopyTo(ctx, db); err != nil {
		return out, err
	}
	out.Files = append(out.Files, db)
	keys := keysDir(a.settings.dataDir)
	err := filepath.WalkDir(keys, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == keys {
			return filepath.SkipDir
		}
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(keys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, "keys", rel)
		if err := copyFile(p, dst); err != nil {
			return err
		}
		out.Files = append(out.Files, dst)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("system backup: copy %s: %w", keys, err)
	}
	return out, nil
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	b, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	return fsutil.WriteFile(dst, b, 0o600)
}

// backupEvents is the sink of every backup event: errors go to the daemon
// log, and to alert (the alert evaluator), when set, for events that reach
// no engine sink (the scheduler's missed backups).
func backupEvents(log *slog.Logger, alert engine.Emitter) engine.Emitter {
	return func(ev engine.Event) {
		switch ev.Kind {
		case engine.EventError:
			log.Error("backup alert", "instance", ev.Instance, "service", ev.Service, "err", ev.Error)
			if alert != nil {
				alert(ev) // the scheduler's own (missed backups) reach no engine sink
			}
		case engine.EventFailed:
			log.Warn("backup operation failed", "instance", ev.Instance, "err", ev.Error)
		case engine.EventDone:
			log.Info("backup operation done", "instance", ev.Instance, "msg", ev.Message)
		}
	}
}

// scheduler runs due backups and drills, a few at a time, and raises an
// error event for each backup missed (no success within twice its
// interval), once per missed streak.
type scheduler struct {
	engine *engine.Engine
	log    *slog.Logger
	now    func() time.Time
	tick   time.Duration
	sem    chan struct{}
	emit   engine.Emitter

	mu      sync.Mutex
	running map[string]bool
	alerted map[string]bool
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	done    chan struct{}
}

func newScheduler(e *engine.Engine, cfg BackupConfig, log *slog.Logger, now func() time.Time, emit engine.Emitter) *scheduler {
	n := cfg.Concurrency
	if n <= 0 {
		n = 2
	}
	return &scheduler{engine: e, log: log, now: now, emit: emit, tick: orDuration(cfg.Tick, 30*time.Second),
		sem: make(chan struct{}, n), running: map[string]bool{}, alerted: map[string]bool{}, done: make(chan struct{})}
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// start runs a first pass at once, so a job missed while the daemon was
// down runs now, then one every tick.
func (s *scheduler) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.tick)
		defer t.Stop()
		for {
			s.pass(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// stop cancels running jobs and waits for them.
func (s *scheduler) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.wg.Wait()
}

func (s *scheduler) pass(ctx context.Context) {
	jobs, err := s.engine.DueBackups(ctx, s.now())
	if err != nil {
		if !errors.Is(err, engine.ErrBackupsOff) && ctx.Err() == nil {
			s.log.Warn("cannot look for due backups", "err", err)
		}
		return
	}
	for _, j := range jobs {
		s.mu.Lock()
		busy := s.running[j.Key()]
		s.running[j.Key()] = true
		s.mu.Unlock()
		if busy {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.running, j.Key())
				s.mu.Unlock()
			}()
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-s.sem }()
			s.log.Info("scheduled backup job", "job", j.Job, "instance", j.Instance, "service", j.Service, "due", j.Due)
			if err := s.engine.RunScheduled(ctx, j); err != nil && ctx.Err() == nil {
				s.log.Warn("scheduled backup job failed", "job", j.Job, "instance", j.Instance, "service", j.Service, "err", err)
			}
		}()
	}
	s.watch(ctx)
}

// watch raises an error event for each newly missed backup.
func (s *scheduler) watch(ctx context.Context) {
	missed, err := s.engine.MissedBackups(ctx)
	if err != nil {
		return
	}
	now := map[string]bool{}
	for _, m := range missed {
		k := m.Instance + "\x00" + m.Service
		now[k] = true
		if s.alerted[k] {
			continue
		}
		s.alerted[k] = true
		last := "never"
		if !m.LastSuccess.IsZero() {
			last = m.LastSuccess.UTC().Format(time.RFC3339)
		}
		s.emit(engine.Event{Time: s.now(), Kind: engine.EventError, Instance: m.Instance, Service: m.Service,
			Error: fmt.Sprintf("backup of %s of %s missed: no success within twice its schedule (last success: %s); `quai backup ls %s` shows the runs",
				m.Service, m.Instance, last, m.Instance)})
	}
	for k := range s.alerted {
		if !now[k] {
			delete(s.alerted, k)
		}
	}
}

// backupOptions wires the engine's backups to the store and the event sink.
func (d *Daemon) backupOptions() *engine.BackupOptions {
	o := &engine.BackupOptions{
		Store: d.store,
		// These events reach engine.Options.Events (d.observe) too.
		Events:        backupEvents(d.log.With("component", "backup"), nil),
		DrillSchedule: d.cfg.Backup.DrillSchedule,
	}
	d.wireRepos(o)
	return o
}

func (d *Daemon) backupAdmin() *backupAdmin {
	return &backupAdmin{settings: d.backups, store: d.store, now: d.cfg.Now, onTarget: d.repos.forget}
}

// backupAges answers the promotion rule backup_max_age from the backup
// history: an instance was backed up as of the oldest of its services'
// newest completed backups (a safety snapshot counts: it is a backup like
// any other), so every service with backups must be recent.
type backupAges struct{ st store.BackupStore }

// LastBackup implements engine.BackupChecker; zero when the instance has
// no completed backup.
func (a backupAges) LastBackup(ctx context.Context, instance string) (time.Time, error) {
	runs, err := a.st.BackupRuns(ctx, instance, 0)
	if err != nil {
		return time.Time{}, err
	}
	newest := map[string]time.Time{}
	for _, r := range runs {
		if r.Status == store.RunDone && r.Started.After(newest[r.Service]) {
			newest[r.Service] = r.Started
		}
	}
	var oldest time.Time
	for _, t := range newest {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, nil
}
