package proxy

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"
)

// rateLimiter is a token bucket per client address: an IPv4 address, or an
// IPv6 /64 (one host usually holds a whole /64). Its memory is bounded:
// each shard keeps at most rateShardCap buckets; a bucket that has refilled
// completely is the same as none and is dropped when the shard is full,
// and when no bucket has, the least recently seen of a few sampled ones
// goes.
type rateLimiter struct {
	rate   float64 // tokens per second
	burst  float64
	seed   maphash.Seed
	shards [rateShards]rateShard
}

const (
	rateShards   = 16
	rateShardCap = 4096 // 64 Ki clients per route
	rateEvictTry = 8
)

type rateShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	swept   time.Time
	_       [16]byte // keep shards off each other's cache lines
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rl *RateLimit) *rateLimiter {
	rate, burst := rateParams(rl)
	l := &rateLimiter{rate: rate, burst: burst, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = make(map[netip.Addr]*bucket)
	}
	return l
}

// same reports whether l enforces rl, so a new table keeps l's buckets.
func (l *rateLimiter) same(rl *RateLimit) bool {
	rate, burst := rateParams(rl)
	return l.rate == rate && l.burst == burst
}

// rateParams is rl's refill rate and bucket size; without a burst, one
// second's worth of requests (at least one).
func rateParams(rl *RateLimit) (rate, burst float64) {
	burst = float64(rl.Burst)
	if burst < 1 {
		burst = math.Max(1, math.Ceil(rl.PerSecond))
	}
	return rl.PerSecond, burst
}

// rateKey groups addresses the way clients hold them.
func rateKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// allow takes a token for a; when none is left it returns false and the
// whole seconds until one is.
func (l *rateLimiter) allow(a netip.Addr, now time.Time) (bool, int) {
	key := rateKey(a)
	b := key.As16()
	s := &l.shards[maphash.Bytes(l.seed, b[:])%rateShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	bk := s.buckets[key]
	if bk == nil {
		if len(s.buckets) >= rateShardCap {
			l.evict(s, now)
		}
		bk = &bucket{tokens: l.burst, last: now}
		s.buckets[key] = bk
	} else if d := now.Sub(bk.last); d > 0 {
		bk.tokens = math.Min(l.burst, bk.tokens+d.Seconds()*l.rate)
		bk.last = now
	}
	if bk.tokens >= 1 {
		bk.tokens--
		return true, 0
	}
	wait := math.Ceil((1 - bk.tokens) / l.rate)
	return false, int(math.Max(1, wait))
}

// evict makes room in a full shard: every bucket that has refilled goes
// (it holds no state a fresh one would not), at most once per refill time;
// otherwise the least
// recently used of rateEvictTry sampled buckets (map order is random).
func (l *rateLimiter) evict(s *rateShard, now time.Time) {
	// A full sweep at most once per refill time keeps a flood of new
	// clients from making every insert a scan of the shard.
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	if now.Sub(s.swept) >= min(full, time.Minute) {
		s.swept = now
		for k, bk := range s.buckets {
			if now.Sub(bk.last) >= full {
				delete(s.buckets, k)
			}
		}
		if len(s.buckets) < rateShardCap {
			return
		}
	}
	var oldest netip.Addr
	var at time.Time
	n := 0
	for k, bk := range s.buckets {
		if n == 0 || bk.last.Before(at) {
			oldest, at = k, bk.last
		}
		if n++; n == rateEvictTry {
			break
		}
	}
	delete(s.buckets, oldest)
}

// size is the number of buckets held, for tests.
func (l *rateLimiter) size() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].buckets)
		l.shards[i].mu.Unlock()
	}
	return n
}
