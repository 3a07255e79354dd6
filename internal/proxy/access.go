package proxy

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

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
	// authCacheSize bounds the remembered successful logins per route.
	authCacheSize = 1024
)

var errUsers = errors.New("invalid users file")

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
			return nil, fmt.Errorf("%w: line %d is not name:hash", errUsers, n)
		case !validUserName(name):
			return nil, fmt.Errorf("%w: line %d: the user name holds control characters or spaces", errUsers, n)
		case seen[name]:
			return nil, fmt.Errorf("%w: line %d: user %q is listed twice", errUsers, n, name)
		}
		if err := checkHash(hash); err != nil {
			return nil, fmt.Errorf("%w: line %d (user %q): %w", errUsers, n, name, err)
		}
		seen[name] = true
		out = append(out, User{Name: name, Hash: hash})
		if len(out) > maxUsers {
			return nil, fmt.Errorf("%w: more than %d users", errUsers, maxUsers)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", errUsers, n+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no user; add lines of name:hash (make a hash with `htpasswd -nbB name password` or `quai secrets hash`)", errUsers)
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

// verifyPassword checks password against a hash checkHash accepted.
func verifyPassword(hash, password string) bool {
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

// dummyHash is checked for unknown users, so that a missing user costs
// the same time as a wrong password (no user enumeration by timing).
var dummyHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("quai-no-such-user"), bcrypt.DefaultCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// basicAuth is a route's compiled BasicAuth. Verifying a bcrypt or argon2
// hash takes tens of milliseconds by design, so successful logins are
// remembered by a hash of user and password (never the password), as
// Caddy does; failures are not, so guessing stays slow.
type basicAuth struct {
	realm string
	users map[string]string

	mu    sync.Mutex
	cache map[[32]byte]struct{}
}

func newBasicAuth(b *BasicAuth) (*basicAuth, error) {
	users, err := ParseUsers(b.Users)
	if err != nil {
		return nil, err
	}
	a := &basicAuth{realm: b.Realm, users: make(map[string]string, len(users)), cache: make(map[[32]byte]struct{})}
	if a.realm == "" {
		a.realm = "quai"
	}
	for _, u := range users {
		a.users[u.Name] = u.Hash
	}
	return a, nil
}

// check returns the user r authenticates as, and whether it does.
func (a *basicAuth) check(r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	hash, known := a.users[user]
	key := sha256.Sum256([]byte(user + "\x00" + pass + "\x00" + hash))
	if known {
		a.mu.Lock()
		_, hit := a.cache[key]
		a.mu.Unlock()
		if hit {
			return user, true
		}
	} else {
		hash = dummyHash
	}
	if !verifyPassword(hash, pass) || !known {
		return "", false
	}
	a.mu.Lock()
	if len(a.cache) >= authCacheSize {
		for k := range a.cache { // drop an arbitrary entry: map order is random
			delete(a.cache, k)
			break
		}
	}
	a.cache[key] = struct{}{}
	a.mu.Unlock()
	return user, true
}
