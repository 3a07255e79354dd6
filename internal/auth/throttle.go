package auth

import (
	"sync"
	"time"
)

// Throttle slows password guessing: after each failed login, the user's
// name and the source address each wait twice as long as before (from
// Base up to Max) before another attempt is even checked. A success
// clears the user's record (not the address's: one known password must
// not unlock guessing others from the same place).
type Throttle struct {
	Base time.Duration
	Max  time.Duration
	Now  func() time.Time

	mu    sync.Mutex
	state map[string]*throttleState
}

type throttleState struct {
	failures int
	until    time.Time
	last     time.Time
}

// NewThrottle returns a throttle with a 1 s first delay doubling up to 15 min.
func NewThrottle() *Throttle {
	return &Throttle{Base: time.Second, Max: 15 * time.Minute, Now: time.Now}
}

// Wait returns how long the keys must still wait before an attempt (0: go).
func (t *Throttle) Wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	var wait time.Duration
	for _, k := range keys {
		if s := t.state[k]; s != nil && s.until.After(now) {
			wait = max(wait, s.until.Sub(now))
		}
	}
	return wait
}

// Fail records a failed attempt for each key.
func (t *Throttle) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == nil {
		t.state = map[string]*throttleState{}
	}
	now := t.Now()
	t.gc(now)
	for _, k := range keys {
		s := t.state[k]
		if s == nil {
			s = &throttleState{}
			t.state[k] = s
		}
		s.failures++
		d := t.Base << min(s.failures-1, 30)
		if d > t.Max || d <= 0 {
			d = t.Max
		}
		s.until, s.last = now.Add(d), now
	}
}

// Succeed clears the record of key.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.state, key)
}

// gc forgets keys idle for a day, so addresses do not pile up.
func (t *Throttle) gc(now time.Time) {
	if len(t.state) < 4096 {
		return
	}
	for k, s := range t.state {
		if now.Sub(s.last) > 24*time.Hour {
			delete(t.state, k)
		}
	}
}
