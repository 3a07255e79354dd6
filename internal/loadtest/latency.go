package loadtest

import (
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latency summarises the latencies of a run's answered requests.
type Latency struct {
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
	// Samples is how many latencies the figures come from: every answered
	// request.
	Samples int64 `json:"samples"`
	// Exact says the percentiles are exact (nearest rank over every
	// sample, all of them kept). A run past MaxSamples latencies keeps
	// counting every sample in a histogram whose buckets are 1/512 of
	// their value wide, so a percentile is within 0.2 % of the exact one;
	// min, mean and max are exact either way.
	Exact bool `json:"exact"`
}

// spillChunk is how many samples a client keeps before asking for more of
// the run's sample budget, or, once it is spent, adds to the histogram.
const spillChunk = 4096

// samples is the latency record of a whole run: each client appends to a
// slice of its own while the budget lasts, then moves its samples into a
// shared histogram a chunk at a time. A capped reservoir was the other way
// to bound memory; it drops samples at random, so its tail percentiles
// (p99 of a long run) and the rare slow requests they come from are the
// least reliable figures, the ones a load test is for. The histogram loses
// no sample, only resolution, and by a known bound.
type samples struct {
	// all: keep every sample (a run bounded by fewer requests than the
	// budget); else budget is what is left to share.
	all    bool
	budget atomic.Int64
	mu     sync.Mutex
	hist   *histogram // nil until the budget is spent
}

func newSamples(max int, all bool) *samples {
	s := &samples{all: all}
	s.budget.Store(int64(max))
	return s
}

// recorder is one client's share of the record; only its client touches it.
type recorder struct {
	run      *samples
	kept     []int64
	reserved int
	spilled  bool
	n        int64
	sum      float64
	min, max int64
}

func (r *recorder) add(d time.Duration) {
	v := int64(d)
	if r.n == 0 || v < r.min {
		r.min = v
	}
	if v > r.max {
		r.max = v
	}
	r.n++
	r.sum += float64(v)
	if len(r.kept) == r.reserved {
		r.grow()
	}
	r.kept = append(r.kept, v)
}

// grow reserves another chunk of the budget or, when it is spent, moves the
// kept samples to the histogram and reuses their space.
func (r *recorder) grow() {
	if r.run.all {
		r.reserved += spillChunk
		return
	}
	if !r.spilled {
		// Take a chunk, or what is left of the budget.
		left := r.run.budget.Add(-spillChunk)
		if got := spillChunk + int(min(left, 0)); got > 0 {
			r.reserved += got
			return
		}
		r.spilled = true
	}
	r.run.spill(r.kept)
	r.kept = r.kept[:0]
	r.reserved = spillChunk
}

func (s *samples) spill(v []int64) {
	if len(v) == 0 {
		return
	}
	s.mu.Lock()
	if s.hist == nil {
		s.hist = &histogram{}
	}
	for _, x := range v {
		s.hist.add(x)
	}
	s.mu.Unlock()
}

// summarize computes the run's latency figures from every client's record.
func summarize(recs []*recorder) Latency {
	var l Latency
	var sum float64
	var total int
	var spilled bool
	run := (*samples)(nil)
	for _, r := range recs {
		if r.n == 0 {
			continue
		}
		if l.Samples == 0 || time.Duration(r.min) < l.Min {
			l.Min = time.Duration(r.min)
		}
		l.Max = max(l.Max, time.Duration(r.max))
		l.Samples += r.n
		sum += r.sum
		total += len(r.kept)
		spilled = spilled || r.spilled
		run = r.run
	}
	if l.Samples == 0 {
		l.Exact = true
		return l
	}
	l.Mean = time.Duration(math.Round(sum / float64(l.Samples)))
	if run != nil && run.hist != nil {
		spilled = true
	}
	if !spilled {
		all := make([]int64, 0, total)
		for _, r := range recs {
			all = append(all, r.kept...)
		}
		slices.Sort(all)
		rank := func(p float64) time.Duration { return time.Duration(all[nearestRank(p, int64(len(all)))]) }
		l.P50, l.P90, l.P99, l.Exact = rank(50), rank(90), rank(99), true
		return l
	}
	for _, r := range recs {
		run.spill(r.kept)
		r.kept = r.kept[:0]
	}
	h := run.hist
	q := func(p float64) time.Duration {
		return min(max(time.Duration(h.quantile(nearestRank(p, h.n))), l.Min), l.Max)
	}
	l.P50, l.P90, l.P99 = q(50), q(90), q(99)
	return l
}

// nearestRank is the index, in n sorted samples, of the p-th percentile:
// the smallest sample with at least p % of them at or below it.
func nearestRank(p float64, n int64) int64 {
	i := int64(math.Ceil(p/100*float64(n))) - 1
	return min(max(i, 0), n-1)
}

// histogram is a log-linear histogram of non-negative int64 values (HDR
// histogram's layout): values below 1024 have a bucket each; above, each
// power of two is split in 512 buckets, so a bucket is at most 1/512 of its
// values wide. 28,672 buckets, 224 KiB, cover every int64.
type histogram struct {
	counts [55 * 512]uint64
	n      int64
}

func (h *histogram) add(v int64) {
	h.counts[bucketOf(v)]++
	h.n++
}

func bucketOf(v int64) int {
	if v < 1024 {
		return int(max(v, 0))
	}
	b := bits.Len64(uint64(v)) - 10
	return b*512 + int(v>>b)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) int64 {
	if i < 1024 {
		return int64(i)
	}
	b := i/512 - 1
	sub := int64(i - b*512)
	return sub<<b + (int64(1)<<b)/2
}

// quantile is the value of the sample of rank k (0-based) in sorted order.
func (h *histogram) quantile(k int64) int64 {
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > uint64(k) {
			return bucketValue(i)
		}
	}
	return 0
}
