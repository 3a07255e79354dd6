package wire

import "time"

// MetricsTop is `quai top`: the live figures of every service, from the
// daemon's last samples (GET /metrics/top).
type MetricsTop struct {
	Time time.Time `json:"time"`
	// Window is the time the request rates and percentiles cover.
	Window time.Duration `json:"window"`
	Rows   []TopRow      `json:"rows"`
	Host   HostMetrics   `json:"host"`
	// History says whether the daemon keeps metrics history.
	History bool `json:"history"`
}

// TopRow is one service of one instance in MetricsTop.
type TopRow struct {
	Instance string `json:"instance"`
	Service  string `json:"service"`
	State    string `json:"state"`
	Desired  int    `json:"desired"`
	Ready    int    `json:"ready"`
	// Routed services have request figures; the others report zeros.
	Routed         bool    `json:"routed"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	// Errors5xx is the 5xx responses over Window.
	Errors5xx   int64   `json:"errors_5xx"`
	P95Millis   float64 `json:"p95_ms"`
	CPUPercent  float64 `json:"cpu_percent"`
	MemoryBytes int64   `json:"memory_bytes"`
	// Restarts is the restarts of the service's replicas since they were
	// created.
	Restarts int `json:"restarts"`
}

// HostMetrics are the host's figures in MetricsTop.
type HostMetrics struct {
	CPUPercent  float64 `json:"cpu_percent"`
	MemoryUsed  uint64  `json:"memory_used"`
	MemoryTotal uint64  `json:"memory_total"`
	Load1       float64 `json:"load1"`
	// DiskPath is the fullest file system of quai's directories.
	DiskPath      string  `json:"disk_path,omitempty"`
	DiskUsedRatio float64 `json:"disk_used_ratio"`
}

// MetricsSeries is `quai metrics INSTANCE [SERVICE]`: the history of an
// instance's series (GET /metrics/series?instance=&service=&since=&points=).
type MetricsSeries struct {
	Instance string    `json:"instance"`
	Service  string    `json:"service,omitempty"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// Step is the time each point covers.
	Step   time.Duration `json:"step"`
	Series []Series      `json:"series"`
}

// Series is one metric of MetricsSeries. Points hold what a reader
// plots: per second rates for counting metrics (Rate true: requests,
// 5xx, restarts...), averages for levels (CPU, memory, p95); Min and Max
// are the extremes of the samples within the step (for rates, of the
// per-sample counts).
type Series struct {
	Name   string            `json:"name"`
	Unit   string            `json:"unit,omitempty"`
	Rate   bool              `json:"rate,omitempty"`
	Labels map[string]string `json:"labels"`
	Points []Point           `json:"points"`
}

// Point is one step of a Series.
type Point struct {
	T   time.Time `json:"t"`
	V   float64   `json:"v"`
	Min float64   `json:"min"`
	Max float64   `json:"max"`
}
