package loadtest

import (
	"slices"
	"time"
)

// Report is what a run measured. Only the measured part counts: warm-up
// requests are in none of its figures.
type Report struct {
	URL      string   `json:"url"`
	Method   string   `json:"method"`
	Protocol Protocol `json:"protocol"`
	Clients  int      `json:"clients"`
	// Requests, Duration, Rate and WarmUp are what was asked.
	Requests int64         `json:"requests,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Rate     float64       `json:"rate,omitempty"`
	WarmUp   time.Duration `json:"warm_up_ns,omitempty"`
	// Elapsed runs from the start of the measured part to its last answer.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Interrupted says the run was stopped before its end (Ctrl-C); the
	// figures cover what was done until then.
	Interrupted bool `json:"interrupted,omitempty"`
	// Completed counts the requests answered, whatever their status;
	// Failed those that got no answer (see Errors).
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	// PerSecond is Completed over Elapsed.
	PerSecond float64 `json:"requests_per_second"`
	// Latency runs from sending a request (from when it was due, with a
	// Rate) to the last byte of its answer; connecting is not in it, except
	// with a Rate, where the time a request waited for its connection is
	// part of what its user would wait.
	Latency Latency `json:"latency"`
	// Connect is the time connections took to open (TLS included).
	Connect ConnectStats `json:"connect"`
	// Status counts answers by status code, in code order.
	Status []StatusCount `json:"status"`
	// Errors counts failed requests by kind, in ErrorKinds order.
	Errors []ErrorCount `json:"errors,omitempty"`
	// BytesSent and BytesReceived are HTTP/1.1's bytes as written and read
	// (request and status lines, headers, bodies, before TLS); with HTTP/2
	// they are the bytes on the connection (frames, TLS included).
	BytesSent     int64 `json:"bytes_sent"`
	BytesReceived int64 `json:"bytes_received"`
	// Instance is the target instance's own figures during the run, when
	// the target is a quai instance (see Watch).
	Instance *InstanceReport `json:"instance,omitempty"`
}

// StatusCount is how many answers had one status code.
type StatusCount struct {
	Code  int   `json:"code"`
	Count int64 `json:"count"`
}

// ErrorCount is how many requests failed one way, with the first such
// error as an example.
type ErrorCount struct {
	Kind    ErrorKind `json:"kind"`
	Count   int64     `json:"count"`
	Example string    `json:"example"`
}

// ConnectStats describe the connections a run opened.
type ConnectStats struct {
	Count int64         `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Class counts the answers whose status is in the class of class (2 for
// 2xx, 5 for 5xx).
func (r *Report) Class(class int) int64 {
	var n int64
	for _, s := range r.Status {
		if s.Code/100 == class {
			n += s.Count
		}
	}
	return n
}

// Count is how many answers had status code.
func (r *Report) Count(code int) int64 {
	i, ok := slices.BinarySearchFunc(r.Status, code, func(s StatusCount, c int) int { return s.Code - c })
	if !ok {
		return 0
	}
	return r.Status[i].Count
}

// ErrorsOf is how many requests failed with kind.
func (r *Report) ErrorsOf(kind ErrorKind) int64 {
	for _, e := range r.Errors {
		if e.Kind == kind {
			return e.Count
		}
	}
	return 0
}
