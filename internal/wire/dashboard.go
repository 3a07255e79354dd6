package wire

import "time"

// DashboardLink is the answer of POST /api/v1/dashboard/link (unix socket
// only): a one-time login link to the dashboard's loopback listener.
type DashboardLink struct {
	// URL opens a session as the host's administrator; it works once.
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}
