package proxy

import (
	"crypto/sha256"
	"net/http"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/quai-dev/quai/internal/access"
)

// authCacheSize bounds the remembered successful logins per route.
const authCacheSize = 1024

// dummyHash is checked for unknown users, so that a missing user costs
// the same time as a wrong password (no user enumeration by timing).
// Made on first use: a bcrypt hash costs tens of milliseconds.
var dummyHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("quai-no-such-user"), bcrypt.DefaultCost)
	if err != nil {
		panic(err) // only a too long password or a bad cost fail
	}
	return string(h)
})

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
	users, err := access.ParseUsers(b.Users)
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
		hash = dummyHash()
	}
	if !access.Verify(hash, pass) || !known {
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
