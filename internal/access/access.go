// Package access parses the values of quai's per-route access rules that
// both the stack loader (validation, with file:line:col errors) and the
// proxy (enforcement) read: CIDR lists of client addresses and basic-auth
// users files with bcrypt or argon2id hashes, and checks passwords against
// those hashes. It is a leaf: it imports the standard library and
// golang.org/x/crypto only, so the CLI can link it without daemon code.
package access

import (
	"bufio"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ParsePrefixList parses CIDR prefixes and single addresses ("10.0.0.0/8",
// "2001:db8::/32", "192.0.2.7"), masking host bits; entries are trimmed of
// spaces and an empty list gives nil. An IPv4-mapped IPv6 address counts
// as IPv4.
func ParsePrefixList(list []string) ([]netip.Prefix, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("an entry is empty; write an address or a CIDR prefix, e.g. 10.0.0.0/8")
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("%q: zoned addresses cannot be matched; remove %%zone", s)
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix (e.g. 10.0.0.0/8)", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix (e.g. 10.0.0.0/8 or 2001:db8::/32)", s)
	}
	a := p.Addr()
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix shorter than /96 mixes families", s)
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}

// User is one entry of a basic-auth users file.
type User struct {
	Name string
	// Hash is a bcrypt ("$2a$", "$2b$", "$2y$") or argon2id PHC
	// ("$argon2id$v=19$m=…,t=…,p=…$salt$hash") string.
	Hash string
}

// Bounds of a users file, so that a hostile secret cannot make the proxy
// spend unbounded memory or CPU.
const (
	maxUsers          = 10000
	maxUserLine       = 1024
	maxArgonMemoryKiB = 256 << 10 // 256 MiB
	maxArgonTime      = 16
	maxArgonThreads   = 16
)

// ErrUsers is returned by ParseUsers for a users file it cannot use.
var ErrUsers = errors.New("invalid users file")

// ParseUsers parses a users file: one "name:hash" a line, blank lines and
// lines starting with # ignored, names unique and without ':' or control
// characters. A line that is not a bcrypt or argon2id hash is an error
// naming its line number (never its content: it may be a password).
func ParseUsers(s string) ([]User, error) {
	var out []User
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 256), maxUserLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		hash = strings.TrimSpace(hash)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%w: line %d is not name:hash", ErrUsers, n)
		case !validUserName(name):
			return nil, fmt.Errorf("%w: line %d: the user name holds control characters or spaces", ErrUsers, n)
		case seen[name]:
			return nil, fmt.Errorf("%w: line %d: user %q is listed twice", ErrUsers, n, name)
		}
		if err := checkHash(hash); err != nil {
			return nil, fmt.Errorf("%w: line %d (user %q): %w", ErrUsers, n, name, err)
		}
		seen[name] = true
		out = append(out, User{Name: name, Hash: hash})
		if len(out) > maxUsers {
			return nil, fmt.Errorf("%w: more than %d users", ErrUsers, maxUsers)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrUsers, n+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no user; add lines of name:hash (make a hash with `htpasswd -nbB name password` or `quai secrets hash`)", ErrUsers)
	}
	return out, nil
}

func validUserName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// checkHash accepts the hash formats verify knows, with bounded costs.
func checkHash(h string) error {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		cost, err := bcrypt.Cost([]byte(h))
		if err != nil {
			return fmt.Errorf("not a valid bcrypt hash: %w", err)
		}
		if cost > 15 {
			return fmt.Errorf("bcrypt cost %d is above 15: every login would take seconds", cost)
		}
		return nil
	case strings.HasPrefix(h, "$argon2id$"):
		_, err := parseArgon2id(h)
		return err
	}
	return errors.New("the hash is neither bcrypt ($2b$…) nor argon2id ($argon2id$…); passwords are never stored in clear")
}

type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgon2id reads a PHC string: $argon2id$v=19$m=65536,t=3,p=4$salt$key
// with unpadded standard base64.
func parseArgon2id(h string) (argonHash, error) {
	var a argonHash
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return a, errors.New("not an argon2id hash of the form $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return a, fmt.Errorf("argon2id parameter %q is not a number", kv)
		}
		switch k {
		case "m":
			a.memory = uint32(n)
		case "t":
			a.time = uint32(n)
		case "p":
			if n > 255 {
				return a, errors.New("argon2id parallelism is above 255")
			}
			a.threads = uint8(n)
		default:
			return a, fmt.Errorf("unknown argon2id parameter %q", k)
		}
	}
	switch {
	case a.memory < 8 || a.memory > maxArgonMemoryKiB:
		return a, fmt.Errorf("argon2id memory m=%d KiB is not between 8 and %d", a.memory, maxArgonMemoryKiB)
	case a.time < 1 || a.time > maxArgonTime:
		return a, fmt.Errorf("argon2id time t=%d is not between 1 and %d", a.time, maxArgonTime)
	case a.threads < 1 || a.threads > maxArgonThreads:
		return a, fmt.Errorf("argon2id parallelism p=%d is not between 1 and %d", a.threads, maxArgonThreads)
	}
	var err error
	if a.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(a.salt) < 8 {
		return a, errors.New("argon2id salt is not base64 of at least 8 bytes")
	}
	if a.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(a.key) < 16 || len(a.key) > 64 {
		return a, errors.New("argon2id hash is not base64 of 16 to 64 bytes")
	}
	return a, nil
}

// Verify checks password against a hash checkHash accepted.
func Verify(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		a, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		key := argon2.IDKey([]byte(password), a.salt, a.time, a.memory, a.threads, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(key, a.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// LocalAddress says why a forward-auth authenticator at a is refused
// whatever the stack's services (this host, link-local, multicast), or ""
// when it is not: the stack loader refuses such a URL when it loads, and the
// proxy every such address it would dial. allowLoopback (tests only) lets
// loopback through.
func LocalAddress(a netip.Addr, allowLoopback bool) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback() && !allowLoopback:
		return "this host (a loopback address)"
	case a.IsUnspecified():
		return "this host (the unspecified address)"
	case a.IsLinkLocalUnicast():
		return "a link-local address (cloud metadata, neighbours)"
	case a.IsMulticast():
		return "a multicast address"
	}
	return ""
}
