package access

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParsePrefixList: every accepted entry is a masked prefix that parses
// back to itself, contains its own address, and is never IPv4-mapped.
func FuzzParsePrefixList(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:10.0.0.0/104", "::ffff:1.2.3.4", " 10.1.2.3 ", "fe80::1%eth0", "10.0.0.1/8", "", "1.2.3.4/33", "::/0", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrefixList(strings.Split(s, ","))
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("%q gave %v", s, p)
			}
			back, err := netip.ParsePrefix(p.String())
			if err != nil || back != p {
				t.Fatalf("%v does not round-trip: %v %v", p, back, err)
			}
			if !p.Contains(p.Addr()) {
				t.Fatalf("%v does not contain its address", p)
			}
		}
	})
}

// FuzzParseUsers: an accepted file has unique, non-empty names without
// spaces, and hashes Verify can take without panicking.
func FuzzParseUsers(f *testing.F) {
	for _, s := range []string{
		"alice:$2b$10$abcdefghijklmnopqrstuu0123456789012345678901234567890\n",
		"# c\n\nbob:$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		"alice:secret", ":x", "a:b:c", "a\x00b:$2b$", "x:$argon2id$v=19$m=999999999,t=1,p=1$AA$AA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		users, err := ParseUsers(s)
		if err != nil {
			if strings.Contains(err.Error(), "$") && strings.Contains(s, "$") && !strings.Contains(err.Error(), "user \"") {
				// Errors name line numbers and users, never a hash or password.
				t.Fatalf("error shows file content: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, u := range users {
			if u.Name == "" || seen[u.Name] || strings.ContainsAny(u.Name, " \t\r\n") {
				t.Fatalf("bad user %q", u.Name)
			}
			seen[u.Name] = true
			if strings.HasPrefix(u.Hash, "$argon2id$") {
				// Bounded parameters only: verifying must stay cheap enough.
				a, err := parseArgon2id(u.Hash)
				if err != nil || a.memory > maxArgonMemoryKiB || a.time > maxArgonTime {
					t.Fatalf("accepted argon2id %q: %v", u.Hash, err)
				}
				if a.memory <= 1<<10 {
					_ = Verify(u.Hash, "password")
				}
			}
		}
	})
}
