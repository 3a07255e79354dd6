package alert

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// Signal is a condition a rule saw: an event (a crash, a failed backup) or
// a level that holds at a poll (a replica unhealthy, a disk full).
type Signal struct {
	Instance string
	Org      string
	Rule     Rule
	// Subject is what within the instance it is about: a service, a
	// replica, a host name; "" for the instance as a whole.
	Subject string
	Summary string
	Detail  string
}

// key names the alert a signal raises.
func (s Signal) key() string {
	k := s.Instance + "/" + string(s.Rule)
	if s.Subject != "" {
		k += "/" + s.Subject
	}
	return k
}

// historyMax bounds the resolved alerts kept.
const historyMax = 500

// Manager holds the alerts' state and decides what to notify and when. It
// is pure bookkeeping driven by explicit times, so that firing, grouping,
// repeats, silences and resolution are tested with a fake clock; the
// Evaluator drives it with real time and delivers what Due returns.
type Manager struct {
	base  Config
	cfgOf func(instance string) Config

	mu      sync.Mutex
	active  map[string]*wire.Alert
	pending map[string]time.Time // level conditions not held For yet, since
	// resolved are resolved alerts whose notice is not sent yet.
	resolved []wire.Alert
	history  []wire.Alert
	silences []wire.AlertSilence
	restarts map[string][]time.Time // by instance/replica, within the restart window
	seq      int
	// changed is called (without mu) when something worth persisting changed.
	changed func()
}

// NewManager returns a manager with base as every instance's
// configuration unless cfgOf (which may be nil) says otherwise.
func NewManager(base Config, cfgOf func(instance string) Config) *Manager {
	if cfgOf == nil {
		cfgOf = func(string) Config { return base }
	}
	return &Manager{base: base, cfgOf: cfgOf, active: map[string]*wire.Alert{}, pending: map[string]time.Time{}, restarts: map[string][]time.Time{}}
}

// Fire raises the alert of an event signal (or refreshes it when it is
// active): a crash, a failed deploy or backup. It reports whether a new
// alert fired.
func (m *Manager) Fire(now time.Time, s Signal) bool {
	m.mu.Lock()
	fired := m.fire(now, s)
	m.mu.Unlock()
	m.notifyChanged(fired)
	return fired
}

func (m *Manager) fire(now time.Time, s Signal) bool {
	rc := m.cfgOf(s.Instance).Rule(s.Rule)
	if !rc.Enabled {
		return false
	}
	k := s.key()
	delete(m.pending, k)
	if a, ok := m.active[k]; ok {
		if s.Detail != "" && s.Detail == a.Detail && now.Sub(a.Updated) < time.Second {
			// The same event through two sinks (a backup error reaches
			// the engine's observer and the backup sink): counted once.
			return false
		}
		a.Updated, a.Count = now, a.Count+1
		if s.Summary != "" {
			a.Summary = s.Summary
		}
		if s.Detail != "" {
			a.Detail = s.Detail
		}
		return false
	}
	m.active[k] = &wire.Alert{ID: k, Instance: s.Instance, Org: s.Org, Rule: string(s.Rule), Subject: s.Subject,
		Severity: cmp.Or(rc.Severity, SeverityWarning), Status: wire.AlertFiring, Summary: s.Summary, Detail: s.Detail,
		Started: now, Updated: now, Count: 1}
	return true
}

// Hold reports a level condition that holds now: it fires once it has held
// for its rule's For.
func (m *Manager) Hold(now time.Time, s Signal) bool {
	m.mu.Lock()
	fired := false
	k := s.key()
	rc := m.cfgOf(s.Instance).Rule(s.Rule)
	switch {
	case !rc.Enabled:
	case m.active[k] != nil:
		m.active[k].Updated = now
		if s.Summary != "" {
			m.active[k].Summary = s.Summary
		}
	default:
		since, ok := m.pending[k]
		if !ok {
			since, m.pending[k] = now, now
		}
		if now.Sub(since) >= rc.For {
			fired = m.fire(now, s)
			m.active[k].Started = since
		}
	}
	m.mu.Unlock()
	m.notifyChanged(fired)
	return fired
}

// Resolve ends the alert of instance, rule and subject, if any: its
// resolution is notified (when its firing was). It reports whether an
// alert resolved.
func (m *Manager) Resolve(now time.Time, instance string, rule Rule, subject string) bool {
	m.mu.Lock()
	ok := m.resolve(now, Signal{Instance: instance, Rule: rule, Subject: subject}.key())
	m.mu.Unlock()
	m.notifyChanged(ok)
	return ok
}

func (m *Manager) resolve(now time.Time, k string) bool {
	delete(m.pending, k)
	a, ok := m.active[k]
	if !ok {
		return false
	}
	delete(m.active, k)
	a.Status, a.Resolved = wire.AlertResolved, now
	if !a.Notified.IsZero() {
		m.resolved = append(m.resolved, *a)
	}
	m.history = append(m.history, *a)
	if n := len(m.history) - historyMax; n > 0 {
		m.history = slices.Delete(m.history, 0, n)
	}
	return true
}

// Sync reports the level conditions of rules that hold now, for the
// instances in scope (every instance when scope is nil): each is held
// (Hold), and the alerts and pending conditions of these rules and
// instances that are not among them resolve.
func (m *Manager) Sync(now time.Time, rules []Rule, scope func(instance string) bool, holding []Signal) {
	for _, s := range holding {
		m.Hold(now, s)
	}
	keep := map[string]bool{}
	for _, s := range holding {
		keep[s.key()] = true
	}
	m.mu.Lock()
	changed := false
	inRules := func(k string) bool {
		parts := strings.SplitN(k, "/", 3)
		return len(parts) >= 2 && slices.Contains(rules, Rule(parts[1])) && (scope == nil || scope(parts[0]))
	}
	for k := range m.pending {
		if !keep[k] && inRules(k) {
			delete(m.pending, k)
		}
	}
	for k := range m.active {
		if !keep[k] && inRules(k) {
			changed = m.resolve(now, k) || changed
		}
	}
	m.mu.Unlock()
	m.notifyChanged(changed)
}

// Restarted counts n restarts of a replica and fires restart_loop when
// its window holds Threshold of them.
func (m *Manager) Restarted(now time.Time, s Signal, n int) bool {
	s.Rule = RuleRestartLoop
	rc := m.cfgOf(s.Instance).Rule(RuleRestartLoop)
	m.mu.Lock()
	k := s.key()
	times := m.restarts[k]
	for range n {
		times = append(times, now)
	}
	times = slices.DeleteFunc(times, func(t time.Time) bool { return now.Sub(t) >= rc.Window })
	m.restarts[k] = times
	count := len(times)
	m.mu.Unlock()
	if !rc.Enabled || rc.Threshold <= 0 || float64(count) < rc.Threshold {
		return false
	}
	s.Summary = fmt.Sprintf("%s restarted %d times in %s", cmp.Or(s.Subject, s.Instance), count, rc.Window)
	return m.Fire(now, s)
}

// Tick resolves what time alone resolves: event alerts quiet for their
// rule's ResolveAfter, restart loops whose window no longer holds
// Threshold restarts.
func (m *Manager) Tick(now time.Time) {
	m.mu.Lock()
	changed := false
	for k, a := range m.active {
		rc := m.cfgOf(a.Instance).Rule(Rule(a.Rule))
		switch Rule(a.Rule) {
		case RuleRestartLoop:
			times := slices.DeleteFunc(m.restarts[k], func(t time.Time) bool { return now.Sub(t) >= rc.Window })
			m.restarts[k] = times
			if float64(len(times)) < rc.Threshold {
				changed = m.resolve(now, k) || changed
			}
		default:
			if rc.ResolveAfter > 0 && now.Sub(a.Updated) >= rc.ResolveAfter {
				changed = m.resolve(now, k) || changed
			}
		}
	}
	for k, times := range m.restarts {
		if len(times) == 0 || m.active[k] == nil && now.Sub(times[len(times)-1]) >= m.base.Rule(RuleRestartLoop).Window {
			delete(m.restarts, k)
		}
	}
	m.mu.Unlock()
	m.notifyChanged(changed)
}

// Due returns the notifications to send now, one per instance, and marks
// their alerts notified: new alerts once they waited GroupWait (so that
// alerts of an instance that fire together go out together), alerts still
// active every Repeat, and resolutions at once. Silenced alerts are left
// out, and so is the resolution of an alert whose firing never went out.
func (m *Manager) Due(now time.Time) []wire.AlertNotification {
	m.mu.Lock()
	byInst := map[string]*wire.AlertNotification{}
	add := func(a *wire.Alert, repeat bool) {
		n := byInst[a.Instance]
		if n == nil {
			n = &wire.AlertNotification{Version: 1, Instance: a.Instance, Org: a.Org, Status: wire.AlertResolved, Sent: now}
			byInst[a.Instance] = n
		}
		if a.Status == wire.AlertFiring {
			n.Status = wire.AlertFiring
		}
		n.Alerts = append(n.Alerts, wire.NotifiedAlert{ID: a.ID, Rule: a.Rule, Subject: a.Subject, Severity: a.Severity,
			Status: a.Status, Summary: a.Summary, Detail: a.Detail, Started: a.Started, Resolved: a.Resolved, Repeat: repeat, Count: a.Count})
	}
	// An instance with a new alert due waits for none of its others: they
	// all go in its notification.
	due := map[string]bool{}
	for _, a := range m.active {
		cfg := m.cfgOf(a.Instance)
		a.Silenced = m.silenced(now, a.Instance, a.Rule)
		if a.Silenced {
			continue
		}
		if a.Notified.IsZero() && now.Sub(a.Started) >= cfg.GroupWait {
			due[a.Instance] = true
		}
	}
	changed := false
	for _, k := range sortedKeys(m.active) {
		a := m.active[k]
		if a.Silenced {
			continue
		}
		cfg := m.cfgOf(a.Instance)
		switch {
		case a.Notified.IsZero() && due[a.Instance]:
			add(a, false)
		case !a.Notified.IsZero() && cfg.Repeat > 0 && now.Sub(a.Notified) >= cfg.Repeat:
			add(a, true)
		default:
			continue
		}
		a.Notified, a.Notifications, changed = now, a.Notifications+1, true
	}
	for i := range m.resolved {
		a := &m.resolved[i]
		if m.silenced(now, a.Instance, a.Rule) {
			continue
		}
		add(a, false)
	}
	if len(m.resolved) > 0 {
		m.resolved, changed = nil, true
	}
	out := make([]wire.AlertNotification, 0, len(byInst))
	for _, inst := range sortedKeys(byInst) {
		out = append(out, *byInst[inst])
	}
	m.mu.Unlock()
	m.notifyChanged(changed)
	return out
}

// NextDue is the earliest time Due may have something to return after
// now, for the evaluator's timer; zero when nothing is pending.
func (m *Manager) NextDue(now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if len(m.resolved) > 0 {
		consider(now)
	}
	for _, a := range m.active {
		cfg := m.cfgOf(a.Instance)
		if a.Notified.IsZero() {
			consider(a.Started.Add(cfg.GroupWait))
		} else if cfg.Repeat > 0 {
			consider(a.Notified.Add(cfg.Repeat))
		}
	}
	return next
}

// Silence mutes the instance's alerts (of rule, when not empty) until
// now+d, and returns the silence.
func (m *Manager) Silence(now time.Time, instance, rule string, d time.Duration, comment string) wire.AlertSilence {
	m.mu.Lock()
	m.seq++
	s := wire.AlertSilence{ID: fmt.Sprintf("s%d-%d", now.Unix(), m.seq), Instance: instance, Rule: rule, Until: now.Add(d), Created: now, Comment: comment}
	m.silences = slices.DeleteFunc(m.silences, func(x wire.AlertSilence) bool { return !x.Until.After(now) })
	m.silences = append(m.silences, s)
	for _, a := range m.active {
		a.Silenced = m.silenced(now, a.Instance, a.Rule)
	}
	m.mu.Unlock()
	m.notifyChanged(true)
	return s
}

// Unsilence removes a silence by ID; it reports whether there was one.
func (m *Manager) Unsilence(id string) bool {
	m.mu.Lock()
	n := len(m.silences)
	m.silences = slices.DeleteFunc(m.silences, func(x wire.AlertSilence) bool { return x.ID == id })
	ok := len(m.silences) < n
	m.mu.Unlock()
	m.notifyChanged(ok)
	return ok
}

func (m *Manager) silenced(now time.Time, instance, rule string) bool {
	for _, s := range m.silences {
		if s.Instance == instance && (s.Rule == "" || s.Rule == rule) && s.Until.After(now) {
			return true
		}
	}
	return false
}

// List returns the active alerts (sorted by start), the silences in force
// and, with history, the resolved alerts, newest first.
func (m *Manager) List(now time.Time, history bool) wire.AlertList {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := wire.AlertList{Active: []wire.Alert{}}
	for _, a := range m.active {
		c := *a
		c.Silenced = m.silenced(now, a.Instance, a.Rule)
		out.Active = append(out.Active, c)
	}
	slices.SortFunc(out.Active, func(a, b wire.Alert) int {
		return cmp.Or(a.Started.Compare(b.Started), strings.Compare(a.ID, b.ID))
	})
	for _, s := range m.silences {
		if s.Until.After(now) {
			out.Silences = append(out.Silences, s)
		}
	}
	if history {
		out.History = slices.Clone(m.history)
		slices.Reverse(out.History)
	}
	return out
}

// ActiveFor returns the number of active alerts per instance.
func (m *Manager) ActiveFor() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for _, a := range m.active {
		out[a.Instance]++
	}
	return out
}

// snapshot is the part of the manager that survives a daemon restart.
type snapshot struct {
	Active   []wire.Alert        `json:"active"`
	History  []wire.Alert        `json:"history"`
	Silences []wire.AlertSilence `json:"silences"`
}

func (m *Manager) snapshot() snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := snapshot{History: slices.Clone(m.history), Silences: slices.Clone(m.silences)}
	for _, k := range sortedKeys(m.active) {
		s.Active = append(s.Active, *m.active[k])
	}
	return s
}

func (m *Manager) restore(s snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range s.Active {
		a := s.Active[i]
		m.active[a.ID] = &a
	}
	m.history, m.silences = s.History, s.Silences
}

func (m *Manager) notifyChanged(changed bool) {
	if changed && m.changed != nil {
		m.changed()
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
