package alert

import (
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                { return c.t }
func (c *clock) add(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

func newTestManager() (*Manager, *clock) {
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	return NewManager(DefaultConfig(), nil), c
}

func crash(inst, replica string) Signal {
	return Signal{Instance: inst, Rule: RuleCrash, Subject: replica, Summary: "replica " + replica + " exited"}
}

func statuses(notes []wire.AlertNotification) []string {
	var out []string
	for _, n := range notes {
		for _, a := range n.Alerts {
			s := n.Instance + " " + a.ID + " " + a.Status
			if a.Repeat {
				s += " repeat"
			}
			out = append(out, s)
		}
	}
	return out
}

func equal(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
}

func TestFireOnceGroupRepeatResolve(t *testing.T) {
	m, c := newTestManager()
	if !m.Fire(c.now(), crash("shop", "web-1")) {
		t.Fatal("a new crash did not fire")
	}
	equal(t, "before the group wait", statuses(m.Due(c.now())))
	c.add(100 * time.Millisecond)
	if m.Fire(c.now(), crash("shop", "web-1")) {
		t.Error("the same crash fired twice while active")
	}
	m.Fire(c.now(), crash("shop", "web-2"))
	m.Fire(c.now(), crash("blog", "web-1"))
	c.add(450 * time.Millisecond)
	notes := m.Due(c.now())
	// shop's first alert is due, so its second goes in the same
	// notification; blog's waits its own group wait.
	equal(t, "grouped per instance", statuses(notes),
		"shop shop/crash/web-1 firing", "shop shop/crash/web-2 firing")
	if len(notes) != 1 || notes[0].Alerts[0].Count != 2 {
		t.Errorf("want one notification for shop with web-1 seen twice, got %+v", notes)
	}
	c.add(200 * time.Millisecond)
	equal(t, "blog after its wait", statuses(m.Due(c.now())), "blog blog/crash/web-1 firing")
	equal(t, "nothing twice", statuses(m.Due(c.add(time.Minute))))
	equal(t, "repeat after 4h", statuses(m.Due(c.add(4*time.Hour))),
		"blog blog/crash/web-1 firing repeat", "shop shop/crash/web-1 firing repeat", "shop shop/crash/web-2 firing repeat")
	m.Resolve(c.now(), "shop", RuleCrash, "web-1")
	equal(t, "resolve notice", statuses(m.Due(c.now())), "shop shop/crash/web-1 resolved")
	l := m.List(c.now(), true)
	if len(l.Active) != 2 || len(l.History) != 1 || l.History[0].Notifications != 2 {
		t.Errorf("list: %+v", l)
	}
}

func TestResolvedBeforeNotifiedIsQuiet(t *testing.T) {
	m, c := newTestManager()
	m.Fire(c.now(), crash("shop", "web-1"))
	m.Resolve(c.add(100*time.Millisecond), "shop", RuleCrash, "web-1")
	equal(t, "nothing went out, nothing to resolve", statuses(m.Due(c.add(time.Second))))
}

func TestCrashResolvesAfterQuietPeriod(t *testing.T) {
	m, c := newTestManager()
	m.Fire(c.now(), crash("shop", "web-1"))
	m.Due(c.add(time.Second))
	c.add(9 * time.Minute)
	m.Fire(c.now(), crash("shop", "web-1")) // crashed again: the quiet period starts over
	m.Tick(c.add(5 * time.Minute))
	equal(t, "still active", statuses(m.Due(c.now())))
	m.Tick(c.add(5 * time.Minute))
	equal(t, "resolved after 10 quiet minutes", statuses(m.Due(c.now())), "shop shop/crash/web-1 resolved")
}

func TestRestartLoop(t *testing.T) {
	m, c := newTestManager()
	s := Signal{Instance: "shop", Subject: "web-1"}
	m.Restarted(c.now(), s, 1)
	m.Restarted(c.add(4*time.Minute), s, 1)
	if got := m.List(c.now(), false).Active; len(got) != 0 {
		t.Fatalf("2 restarts fired: %+v", got)
	}
	// The first restart leaves the 10-minute window: still 2.
	if m.Restarted(c.add(7*time.Minute), s, 1) {
		t.Fatal("3 restarts over 11 minutes fired")
	}
	if !m.Restarted(c.add(time.Minute), s, 1) {
		t.Fatal("3 restarts within 10 minutes did not fire")
	}
	equal(t, "fired", statuses(m.Due(c.add(time.Second))), "shop shop/restart_loop/web-1 firing")
	m.Tick(c.add(time.Minute))
	equal(t, "still looping", statuses(m.Due(c.now())))
	// The restart at minute 4 leaves the window: 2 left.
	m.Tick(c.add(time.Minute))
	equal(t, "window below threshold", statuses(m.Due(c.now())), "shop shop/restart_loop/web-1 resolved")
}

func TestHoldForAndSync(t *testing.T) {
	m, c := newTestManager()
	sig := Signal{Instance: "shop", Rule: RuleUnhealthy, Subject: "web-1", Summary: "unhealthy"}
	m.Sync(c.now(), []Rule{RuleUnhealthy}, nil, []Signal{sig})
	m.Sync(c.add(time.Minute), []Rule{RuleUnhealthy}, nil, []Signal{sig})
	equal(t, "not for 2 minutes yet", statuses(m.Due(c.add(time.Second))))
	m.Sync(c.add(time.Minute), []Rule{RuleUnhealthy}, nil, []Signal{sig})
	equal(t, "fires after 2 minutes", statuses(m.Due(c.add(time.Second))), "shop shop/unhealthy/web-1 firing")
	if a := m.List(c.now(), false).Active[0]; !a.Started.Equal(c.now().Add(-2*time.Minute - 2*time.Second)) {
		t.Errorf("started %v: want when the condition was first seen", a.Started)
	}
	m.Sync(c.add(time.Minute), []Rule{RuleUnhealthy}, nil, nil)
	equal(t, "resolved when it no longer holds", statuses(m.Due(c.now())), "shop shop/unhealthy/web-1 resolved")
	// A condition that stops holding before For never fires.
	m.Sync(c.now(), []Rule{RuleUnhealthy}, nil, []Signal{sig})
	m.Sync(c.add(time.Minute), []Rule{RuleUnhealthy}, nil, nil)
	m.Sync(c.add(90*time.Second), []Rule{RuleUnhealthy}, nil, []Signal{sig})
	equal(t, "pending started over", statuses(m.Due(c.add(time.Second))))
}

func TestSilence(t *testing.T) {
	m, c := newTestManager()
	m.Silence(c.now(), "shop", "", 2*time.Hour, "maintenance")
	m.Silence(c.now(), "blog", string(RuleDeployFailed), time.Hour, "")
	m.Fire(c.now(), crash("shop", "web-1"))
	m.Fire(c.now(), crash("blog", "web-1"))
	m.Fire(c.now(), Signal{Instance: "blog", Rule: RuleDeployFailed, Summary: "deploy failed"})
	equal(t, "only blog's crash", statuses(m.Due(c.add(time.Second))), "blog blog/crash/web-1 firing")
	if l := m.List(c.now(), false); len(l.Silences) != 2 || !l.Active[1].Silenced && !l.Active[2].Silenced {
		t.Errorf("list: %+v", l)
	}
	equal(t, "blog's deploy once its silence ends", statuses(m.Due(c.add(time.Hour))), "blog blog/deploy_failed firing")
	equal(t, "shop once its silence ends", statuses(m.Due(c.add(time.Hour))), "shop shop/crash/web-1 firing")
	// A resolution while silenced goes unannounced.
	m.Silence(c.now(), "shop", "", time.Hour, "")
	m.Resolve(c.now(), "shop", RuleCrash, "web-1")
	equal(t, "silenced resolution", statuses(m.Due(c.add(time.Second))))
}

func TestStackOverrides(t *testing.T) {
	off := false
	overrides := &stack.Alerts{Repeat: time.Hour, Rules: map[string]stack.AlertRule{
		"crash":        {Enabled: &off},
		"restart_loop": {Threshold: 2, Window: time.Minute},
	}}
	base := DefaultConfig()
	m := NewManager(base, func(inst string) Config {
		if inst == "shop" {
			return base.With(overrides)
		}
		return base
	})
	c := &clock{t: time.Unix(0, 0)}
	if m.Fire(c.now(), crash("shop", "web-1")) {
		t.Error("crash is off for shop but fired")
	}
	if !m.Fire(c.now(), crash("blog", "web-1")) {
		t.Error("crash fired not for blog")
	}
	s := Signal{Instance: "shop", Subject: "web-1"}
	m.Restarted(c.now(), s, 1)
	if !m.Restarted(c.add(time.Second), s, 1) {
		t.Error("shop's restart loop threshold of 2 did not apply")
	}
	m.Due(c.add(time.Second))
	equal(t, "shop repeats hourly", statuses(m.Due(c.add(time.Hour))), "shop shop/restart_loop/web-1 firing repeat")
}

func TestClassifyBackupError(t *testing.T) {
	for msg, want := range map[string]Rule{
		"backup of db of shop missed: no success within twice its schedule": RuleBackupMissed,
		"backup of db of shop failed: pg_dump: connection refused":          RuleBackupFailed,
		"verify of snapshot 1a2b (db of shop) failed: checksum":             RuleBackupVerify,
		"drill of shop failed: health check":                                RuleBackupVerify,
		"restore of db failed":                                              RuleBackupFailed,
	} {
		if got := classifyBackupError(msg); got != want {
			t.Errorf("%q: %s, want %s", msg, got, want)
		}
	}
}

func TestSameEventTwiceCountsOnce(t *testing.T) {
	m, c := newTestManager()
	s := Signal{Instance: "shop", Rule: RuleBackupFailed, Subject: "db", Summary: "backup of db of shop failed", Detail: "backup of db of shop failed: disk full"}
	m.Fire(c.now(), s)
	m.Fire(c.add(time.Millisecond), s)
	m.Fire(c.add(time.Hour), s)
	if a := m.List(c.now(), false).Active; len(a) != 1 || a[0].Count != 2 {
		t.Errorf("active %+v: want one alert seen twice", a)
	}
}
