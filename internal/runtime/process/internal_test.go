package process

import (
	"os"
	"os/user"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/stack"
)

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in      string
		want    restartPolicy
		wantErr string
	}{
		{"", restartPolicy{Mode: restartOnFailure}, ""},
		{"no", restartPolicy{Mode: restartNo}, ""},
		{"always", restartPolicy{Mode: restartAlways}, ""},
		{"unless-stopped", restartPolicy{Mode: restartUnlessStopped}, ""},
		{"on-failure", restartPolicy{Mode: restartOnFailure}, ""},
		{"on-failure:5", restartPolicy{Mode: restartOnFailure, MaxRetries: 5}, ""},
		{"on-failure:x", restartPolicy{}, "non-negative integer"},
		{"always:3", restartPolicy{}, "takes no argument"},
		{"sometimes", restartPolicy{}, "unknown restart policy"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseRestart(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseRestart(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		name           string
		p              restartPolicy
		code, restarts int
		want           bool
	}{
		{"no never", restartPolicy{Mode: restartNo}, 1, 0, false},
		{"always after success", restartPolicy{Mode: restartAlways}, 0, 9, true},
		{"unless-stopped after failure", restartPolicy{Mode: restartUnlessStopped}, 2, 0, true},
		{"on-failure after success", restartPolicy{Mode: restartOnFailure}, 0, 0, false},
		{"on-failure after failure", restartPolicy{Mode: restartOnFailure}, 1, 100, true},
		{"on-failure after a signal", restartPolicy{Mode: restartOnFailure}, 128 + 9, 0, true},
		{"on-failure:2 under the limit", restartPolicy{Mode: restartOnFailure, MaxRetries: 2}, 1, 1, true},
		{"on-failure:2 at the limit", restartPolicy{Mode: restartOnFailure, MaxRetries: 2}, 1, 2, false},
	}
	for _, tc := range tests {
		if got := tc.p.shouldRestart(tc.code, tc.restarts); got != tc.want {
			t.Errorf("%s: shouldRestart = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNextBackoff(t *testing.T) {
	minD, maxD := 100*time.Millisecond, time.Second
	var got []time.Duration
	var d time.Duration
	for range 6 {
		d = nextBackoff(d, minD, maxD, time.Millisecond)
		got = append(got, d)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("backoff sequence = %v, want %v (doubling, capped)", got, want)
	}
	if d := nextBackoff(time.Second, minD, maxD, stableRun); d != minD {
		t.Errorf("after a stable run backoff = %s, want %s", d, minD)
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses, as a process may set.
	line := "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 3 0 987654 1000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{State: 'S', Pgrp: 4242, UTime: 25, STime: 7, StartTime: 987654, RSSPages: 321}
	if st != want {
		t.Errorf("parseProcStat = %+v, want %+v", st, want)
	}
	if _, err := parseProcStat([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
	self, err := readProcStat(os.Getpid())
	if err != nil || !alive(os.Getpid(), self.StartTime) {
		t.Fatalf("this process is not alive by its own stat: %+v, %v", self, err)
	}
	if alive(os.Getpid(), self.StartTime+1) {
		t.Error("a pid with another start time counts as alive: a recycled pid would be mistaken")
	}
}

func TestRewritePath(t *testing.T) {
	remap := map[string]string{"/data": "/q/vol/data", "/data/cache": "/q/tmp/cache", "/run/secrets/key": "/q/secrets/key", "/": "/nope"}
	tests := map[string]string{
		"/data":              "/q/vol/data",
		"/data/uploads":      "/q/vol/data/uploads",
		"/data/cache/x":      "/q/tmp/cache/x",
		"/database":          "/database",
		"/run/secrets/key":   "/q/secrets/key",
		"postgres://db:5432": "postgres://db:5432",
		"/etc/passwd":        "/etc/passwd",
	}
	for in, want := range tests {
		if got := rewritePath(in, remap); got != want {
			t.Errorf("rewritePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDBKind(t *testing.T) {
	tests := map[string]string{
		"postgres":                            kindPostgres,
		"postgres:16.4-alpine":                kindPostgres,
		"docker.io/library/postgres:15":       kindPostgres,
		"postgres@sha256:abc":                 kindPostgres,
		"registry:5000/mirror/mariadb:11":     kindMySQL,
		"mysql:8":                             kindMySQL,
		"redis:7-alpine":                      kindRedis,
		"bitnami/postgresql":                  "",
		"nginx:1.27":                          "",
		"ghcr.io/acme/postgres-backup:latest": "",
	}
	for img, want := range tests {
		if got := dbKind(&stack.Service{Image: img}); got != want {
			t.Errorf("dbKind(%q) = %q, want %q", img, got, want)
		}
	}
	withCmd := &stack.Service{Image: "postgres:16", Process: &stack.Process{Command: []string{"./my-pg"}}}
	if got := dbKind(withCmd); got != "" {
		t.Errorf("a postgres service with its own process command is %q, want an app", got)
	}
}

func TestCommandArgv(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"./server"}, []string{"./server"}},
		{[]string{"go", "run", "."}, []string{"go", "run", "."}},
		{[]string{"python app.py --port $PORT"}, []string{"/bin/sh", "-c", "python app.py --port $PORT"}},
	}
	for _, tc := range tests {
		if got := commandArgv(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("commandArgv(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"db_password": "DB_PASSWORD", "api-key.v2": "API_KEY_V2", "/var/lib/data": "VAR_LIB_DATA"} {
		if got := envName(in); got != want {
			t.Errorf("envName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppUser(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil || nobody.Uid != "65534" || os.Geteuid() != 0 {
		t.Skip("needs a root daemon and the nobody user as uid 65534")
	}
	for _, tc := range []struct {
		user     string
		uid, gid uint32
		home     string
		err      string
	}{
		{user: "nobody", uid: 65534, gid: 65534, home: nobody.HomeDir},
		{user: "65534", uid: 65534, gid: 65534, home: nobody.HomeDir},
		{user: "nobody:0", uid: 65534, gid: 0, home: nobody.HomeDir},
		{user: "65534:nogroup", uid: 65534, gid: 65534, home: nobody.HomeDir},
		{user: "4242", uid: 4242, gid: 4242, home: "/"},
		{user: "no-such-user", err: `user "no-such-user" does not exist`},
		{user: "nobody:no-such-group", err: `group "no-such-group" does not exist`},
	} {
		t.Run(tc.user, func(t *testing.T) {
			c, err := appUser(&stack.Service{Name: "web", User: tc.user})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "service web") {
					t.Fatalf("appUser(%q) = %+v, %v; want an error saying %q", tc.user, c, err, tc.err)
				}
				return
			}
			if err != nil || c.UID != tc.uid || c.GID != tc.gid || c.Home != tc.home {
				t.Fatalf("appUser(%q) = %+v, %v; want uid %d gid %d home %s", tc.user, c, err, tc.uid, tc.gid, tc.home)
			}
		})
	}
}

// TestCPUUnderOnePercent: an app using 0.4 % of a CPU gets a tick every
// 2.5 s; sampled every second it must read 0.4 %, not 0 most of the time.
func TestCPUUnderOnePercent(t *testing.T) {
	w := &watcher{}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var readings []float64
	for i := range 30 {
		ticks := uint64(i * 2 / 5) // 0.4 ticks a second: 0.4 % of a CPU
		w.addCPU(ticks, start.Add(time.Duration(i)*time.Second))
		if i >= 10 {
			readings = append(readings, w.cpuPct)
		}
	}
	for _, pct := range readings {
		if pct < 0.3 || pct > 0.5 {
			t.Fatalf("readings %v: want about 0.4 %% once the window is full", readings)
		}
	}
	if len(w.cpu) > 12 {
		t.Errorf("%d samples kept; the window should hold about 10", len(w.cpu))
	}
}
