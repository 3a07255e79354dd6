package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxIdlePerTarget bounds the pooled keep-alive connections of one
	// target; it is above any sensible client concurrency on one host so
	// that a load of N connections never churns upstream connections.
	maxIdlePerTarget = 1024
	// idleTimeout closes upstream connections unused for this long, below
	// the keep-alive timeouts of common servers (nginx 75 s, Go unlimited).
	idleTimeout = 60 * time.Second
	// probeAfter is how long a connection may sit idle before it is checked
	// for a close from the upstream before reuse: a request written to a
	// connection the server has just closed fails, and only idempotent
	// requests can be retried.
	probeAfter = 100 * time.Millisecond
	// downFor keeps a target that refused a connection out of rotation for
	// a moment, so one dead replica does not cost every request a retry.
	downFor     = time.Second
	dialTimeout = 5 * time.Second
)

// target is one upstream address, shared by every route that names it so
// that in-flight counts and drains are per address.
type target struct {
	addr string
	// inflight counts requests being proxied and open tunnels; least-conn
	// balancing and Drain read it.
	inflight  atomic.Int64
	downUntil atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	idle    []*upConn
	all     upList // every open upstream connection, idle or busy
	tunnels map[*tunnel]struct{}
	retired bool // no route names it: connections are closed, not pooled
}

func newTarget(addr string) *target {
	return &target{addr: addr, tunnels: make(map[*tunnel]struct{})}
}

// available reports whether the target is not benched after a failed dial.
func (t *target) available() bool {
	d := t.downUntil.Load()
	return d == 0 || time.Now().UnixNano() >= d
}

func (t *target) markDown() { t.downUntil.Store(time.Now().Add(downFor).UnixNano()) }

func (t *target) markUp() {
	if t.downUntil.Load() != 0 {
		t.downUntil.Store(0)
	}
}

// upConn is a pooled HTTP/1.1 connection to a target.
type upConn struct {
	conn       net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	t          *target
	idleSince  time.Time
	prev, next *upConn
}

type upList struct{ head *upConn }

func (l *upList) add(c *upConn) {
	c.next = l.head
	if l.head != nil {
		l.head.prev = c
	}
	l.head = c
}

func (l *upList) remove(c *upConn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else if l.head == c {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
}

// getConn returns an idle connection, or dials one. reused says which, as
// a failure on a reused connection may just be a keep-alive race.
func (t *target) getConn(ctx context.Context, d *net.Dialer, fresh bool) (c *upConn, reused bool, err error) {
	for !fresh {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		c = t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		idle := time.Since(c.idleSince)
		if idle > idleTimeout || (idle > probeAfter && !alive(c)) {
			c.close()
			continue
		}
		return c, true, nil
	}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, false, err
	}
	c = &upConn{conn: nc, br: bufio.NewReaderSize(nc, 8<<10), bw: bufio.NewWriterSize(nc, 8<<10), t: t}
	// A retired target still serves this one request; putConn closes the
	// connection afterwards.
	t.mu.Lock()
	t.all.add(c)
	t.mu.Unlock()
	return c, false, nil
}

// putConn returns a connection whose last response was fully read.
func (t *target) putConn(c *upConn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	if t.retired || len(t.idle) >= maxIdlePerTarget {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle = append(t.idle, c)
	t.mu.Unlock()
}

func (c *upConn) close() {
	_ = c.conn.Close()
	t := c.t
	t.mu.Lock()
	t.all.remove(c)
	t.mu.Unlock()
}

// retire closes the idle connections of a target no route names any more;
// busy ones close when their request ends.
func (t *target) retire() {
	t.mu.Lock()
	t.retired = true
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

func (t *target) retiredNow() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.retired
}

func (t *target) unretire() {
	t.mu.Lock()
	t.retired = false
	t.mu.Unlock()
}

// cut closes every connection and tunnel of the target, aborting what is
// still in flight.
func (t *target) cut() {
	t.mu.Lock()
	var conns []net.Conn
	for c := t.all.head; c != nil; c = c.next {
		conns = append(conns, c.conn)
	}
	t.idle = nil
	tunnels := make([]*tunnel, 0, len(t.tunnels))
	for tn := range t.tunnels {
		tunnels = append(tunnels, tn)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	for _, tn := range tunnels {
		tn.close()
	}
}

func (t *target) addTunnel(tn *tunnel) {
	t.mu.Lock()
	t.tunnels[tn] = struct{}{}
	t.mu.Unlock()
}

func (t *target) removeTunnel(tn *tunnel) {
	t.mu.Lock()
	delete(t.tunnels, tn)
	t.mu.Unlock()
}

// tunnel is an upgraded connection pair (WebSocket).
type tunnel struct {
	client, upstream io.Closer
	once             sync.Once
}

func (tn *tunnel) close() {
	tn.once.Do(func() {
		_ = tn.client.Close()
		_ = tn.upstream.Close()
	})
}

// pick chooses a target for a request, skipping those already tried and,
// while others remain, those benched after a failed dial.
func (r *route) pick(tried []*target) *target {
	ts := r.targets
	n := len(ts)
	if n == 1 {
		if len(tried) > 0 {
			return nil
		}
		return ts[0]
	}
	start := int(r.rr.n.Add(1) % uint64(n))
	var best, fallback *target
	var bestLoad int64
	for i := 0; i < n; i++ {
		t := ts[(start+i)%n]
		if slices.Contains(tried, t) {
			continue
		}
		if !t.available() {
			if fallback == nil {
				fallback = t
			}
			continue
		}
		if r.Balance != LeastConn {
			return t
		}
		if load := t.inflight.Load(); best == nil || load < bestLoad {
			best, bestLoad = t, load
		}
	}
	if best != nil {
		return best
	}
	return fallback
}
