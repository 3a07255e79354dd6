package auth

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	acmeDev := Target{Org: "acme", Project: "shop", Env: "dev"}
	acmeProd := Target{Org: "acme", Project: "shop", Env: "prod"}
	globex := Target{Org: "globex", Project: "shop", Env: "dev"}
	g := func(role Role, path string) Grant {
		gr, err := ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		gr.Role = role
		return gr
	}
	// The example: member of acme for dev and staging, reader for prod.
	dev := &Principal{User: "dev", Grants: []Grant{g(RoleMember, "acme:dev"), g(RoleMember, "acme:staging"), g(RoleReader, "acme:prod")}}
	tests := []struct {
		name string
		p    *Principal
		a    Action
		t    Target
		want Decision
	}{
		{"member deploys dev", dev, "up", acmeDev, Allowed},
		{"reader of prod cannot deploy it", dev, "up", acmeProd, Forbidden},
		{"reader of prod reads its logs", dev, "logs", acmeProd, Allowed},
		{"another org is invisible", dev, "status", globex, Invisible},
		{"member cannot remove", dev, "rm", acmeDev, Forbidden},
		{"narrowed grants see the org but cannot act on all of it", dev, "backups.settings", Target{Org: "acme"}, Forbidden},
		{"highest binding wins", &Principal{Grants: []Grant{g(RoleReader, "acme"), g(RoleAdmin, "acme/shop:dev")}}, "rm", acmeDev, Allowed},
		{"project narrowing", &Principal{Grants: []Grant{g(RoleAdmin, "acme/blog")}}, "status", acmeDev, Invisible},
		{"host actions need admin of *", &Principal{Grants: []Grant{g(RoleAdmin, "acme")}}, "prune", Target{}, Forbidden},
		{"admin of * is the host's admin", &Principal{Grants: []Grant{g(RoleAdmin, "*")}}, "prune", Target{}, Allowed},
		{"a narrowed token of admin of * is not", &Principal{Grants: []Grant{g(RoleAdmin, "*")}, Scope: Scope{Org: "acme"}}, "prune", Target{}, Forbidden},
		{"token scope hides other instances", &Principal{Grants: []Grant{g(RoleAdmin, "acme")}, Scope: Scope{Org: "acme", Project: "shop", Env: "prod"}}, "status", acmeDev, Invisible},
		{"deploy group allows up", &Principal{Grants: []Grant{g(RoleMember, "acme")}, Scope: Scope{Actions: []string{"deploy"}}}, "up", acmeDev, Allowed},
		{"deploy group forbids restart", &Principal{Grants: []Grant{g(RoleMember, "acme")}, Scope: Scope{Actions: []string{"deploy"}}}, "restart", acmeDev, Forbidden},
		{"no grant sees nothing", &Principal{}, "status", acmeDev, Invisible},
		{"the socket does everything", Root, "rm", globex, Allowed},
		{"unknown action", dev, "launch", acmeDev, Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Decide(tt.a, tt.t); got != tt.want {
				t.Errorf("Decide(%s, %s) = %d, want %d", tt.a, tt.t, got, tt.want)
			}
		})
	}
}

func TestParsePath(t *testing.T) {
	for in, want := range map[string]string{"acme": "acme", "acme/shop": "acme/shop", "acme:prod": "acme:prod", "acme/shop:dev": "acme/shop:dev", "*": "*"} {
		g, err := ParsePath(in)
		if err != nil || g.Path() != want {
			t.Errorf("ParsePath(%q) = %v %v", in, g, err)
		}
	}
	for _, bad := range []string{"", "/shop", "*/shop", "*:dev", "acme/sh/op", "ac:me:dev"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
}

func TestPasswordAndToken(t *testing.T) {
	p := Argon2Params{Memory: 1024, Time: 1, Threads: 1}
	h, err := HashPassword("correct horse", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") || !CheckPassword(h, "correct horse") || CheckPassword(h, "correct horsE") {
		t.Errorf("hash %s does not check", h)
	}
	if CheckPassword("$argon2id$garbage", "x") {
		t.Error("a malformed hash matched")
	}
	if _, err := HashPassword("short", p); err == nil {
		t.Error("a 5-character password was accepted")
	}
	tok, err := NewToken(KindPersonal)
	if err != nil || !LooksLikeToken(tok) || !strings.HasPrefix(tok, "quai_pat_") || len(HashToken(tok)) != 32 {
		t.Errorf("token %q", tok)
	}
	if tok2, _ := NewToken(KindPersonal); tok2 == tok {
		t.Error("two tokens are equal")
	}
}

func TestThrottleDoubles(t *testing.T) {
	now := time.Unix(1000, 0)
	th := &Throttle{Base: time.Second, Max: 8 * time.Second, Now: func() time.Time { return now }}
	var waits []time.Duration
	for range 5 {
		th.Fail("user:a", "addr:x")
		waits = append(waits, th.Wait("user:a"))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	if th.Wait("user:b", "addr:x") == 0 {
		t.Error("the address is not throttled for another user")
	}
	th.Succeed("user:a")
	if th.Wait("user:a") != 0 {
		t.Error("a success did not clear the user")
	}
	now = now.Add(9 * time.Second)
	if th.Wait("addr:x") != 0 {
		t.Error("the wait never ends")
	}
}

// TestDocsRolesTable keeps docs/teams.md's table equal to Rules.
func TestDocsRolesTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/teams.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), RolesTable()) {
		t.Errorf("docs/teams.md does not hold the roles table of auth.Rules; replace it with:\n%s", RolesTable())
	}
}
