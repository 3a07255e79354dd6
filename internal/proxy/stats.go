package proxy

import (
	"sort"
	"sync/atomic"
	"time"
)

// Request statistics are kept per route (instance, host, path) in plain
// atomic counters: a request adds to four of them (status class, latency
// bucket, latency sum, bytes), which costs a few nanoseconds next to the
// microseconds of proxying it, and nothing is locked, allocated or
// formatted on the request path. Whoever wants figures (the metrics
// collector, at scrape or sampling time) calls Stats, which reads the
// counters; turning them into rates, percentiles and Prometheus series is
// not the proxy's business.
//
// A route's counters live as long as some route of that instance, host and
// path is in the table: table swaps (every deploy) keep them, so counters
// only grow and Prometheus sees no reset at a switchover.

// latencyBounds are the upper bounds of the latency histogram's buckets;
// a last, unbounded bucket follows them.
var latencyBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second,
}

// NumLatencyBuckets is the number of latency histogram buckets, the
// unbounded last one included.
const NumLatencyBuckets = len(latencyBounds) + 1

// LatencyBounds returns the upper bounds of the latency histogram's
// buckets, in order; RouteStats.Latency has one more, unbounded, bucket.
func LatencyBounds() []time.Duration { return latencyBounds[:] }

// routeStats are the counters of one route. Each group sits on its own
// cache lines so that counters bumped by every request do not share a line
// with the read-mostly route fields.
type routeStats struct {
	_ [64]byte
	// status counts responses by class: index 1 for 1xx ... 5 for 5xx, 0
	// for anything else.
	status   [6]atomic.Uint64
	latency  [NumLatencyBuckets]atomic.Uint64
	sumNanos atomic.Uint64
	bytesOut atomic.Uint64
	bytesIn  atomic.Uint64
	// upstreamErrors counts failed attempts to reach a target (refused
	// dials, connections that broke before a response); retries counts the
	// attempts beyond the first.
	upstreamErrors atomic.Uint64
	retries        atomic.Uint64
	_              [64]byte
}

// observe records one answered request.
func (s *routeStats) observe(status int, d time.Duration, in, out int64) {
	s.observeStatus(status)
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	s.latency[i].Add(1)
	if d > 0 {
		s.sumNanos.Add(uint64(d))
	}
	if out > 0 {
		s.bytesOut.Add(uint64(out))
	}
	if in > 0 {
		s.bytesIn.Add(uint64(in))
	}
}

// observeStatus records one answered request without a latency: an
// upgrade, whose tunnel lives on after the answer.
func (s *routeStats) observeStatus(status int) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	s.status[class].Add(1)
}

// attempts records the tries of one request beyond the first and the ones
// that failed to reach their target.
func (s *routeStats) attempts(retries, failed int) {
	if retries > 0 {
		s.retries.Add(uint64(retries))
	}
	if failed > 0 {
		s.upstreamErrors.Add(uint64(failed))
	}
}

// statsKey identifies a route's counters across table swaps.
type statsKey struct{ instance, host, path string }

// RouteStats are the cumulative request figures of one route since the
// proxy started (or since the route appeared).
type RouteStats struct {
	Instance string
	// Service is the Route's Service label.
	Service    string
	Host, Path string
	// Responses counts answered requests by status class: index 1 for 1xx
	// ... 5 for 5xx; index 0 counts any other status.
	Responses [6]uint64
	// Latency counts requests per latency bucket (LatencyBounds, then one
	// unbounded bucket); LatencySum is the sum of their latencies.
	Latency    [NumLatencyBuckets]uint64
	LatencySum time.Duration
	// BytesIn and BytesOut are request and response body bytes.
	BytesIn, BytesOut uint64
	// UpstreamErrors counts attempts that failed to reach a target;
	// Retries counts attempts beyond a request's first.
	UpstreamErrors, Retries uint64
	// InFlight is requests and tunnels open to the route's targets now.
	InFlight int64
	// Targets is the number of targets the route has now.
	Targets int
}

// Requests is the total of answered requests.
func (s *RouteStats) Requests() uint64 {
	var n uint64
	for _, c := range s.Responses {
		n += c
	}
	return n
}

// Stats reads the counters of every route in the table, sorted by
// instance, host and path. It never blocks requests. Without statistics
// (Config.NoStats) it returns nil.
func (p *Proxy) Stats() []RouteStats {
	if p.cfg.NoStats {
		return nil
	}
	t := p.table.Load()
	var out []RouteStats
	for inst, rts := range t.instances {
		for _, rt := range rts {
			s := rt.stats
			if s == nil {
				continue // a table built before install bound it
			}
			rs := RouteStats{
				Instance: inst, Service: rt.Service, Host: rt.Host, Path: rt.Path,
				LatencySum:     time.Duration(s.sumNanos.Load()),
				BytesIn:        s.bytesIn.Load(),
				BytesOut:       s.bytesOut.Load(),
				UpstreamErrors: s.upstreamErrors.Load(),
				Retries:        s.retries.Load(),
				Targets:        len(rt.targets),
			}
			for i := range s.status {
				rs.Responses[i] = s.status[i].Load()
			}
			for i := range s.latency {
				rs.Latency[i] = s.latency[i].Load()
			}
			for _, tg := range rt.targets {
				rs.InFlight += tg.inflight.Load()
			}
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		return a.Path < b.Path
	})
	return out
}

// OpenConns is the number of client connections open on the proxy's
// listeners now.
func (p *Proxy) OpenConns() int {
	p.conns.mu.Lock()
	defer p.conns.mu.Unlock()
	return p.conns.n
}

// Unrouted counts requests answered 404 because no route matched.
func (p *Proxy) Unrouted() uint64 { return p.unrouted.Load() }
