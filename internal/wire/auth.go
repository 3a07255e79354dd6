package wire

import "time"

// LoginRequest is the body of POST /api/v1/login: a user's name and
// password exchanged for a token (what `quai login` and the dashboard do).
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	// TokenName names the token in `quai token ls` (e.g. "cli on laptop").
	TokenName string `json:"token_name,omitempty"`
	// TTL is the token's lifetime; zero means the daemon's default.
	TTL time.Duration `json:"ttl,omitempty"`
}

// LoginResponse hands out a token; its secret is shown this once.
type LoginResponse struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// WhoAmI is the answer of GET /api/v1/whoami: who the request's
// credentials belong to and what they may do.
type WhoAmI struct {
	User      string `json:"user"`
	TokenName string `json:"token_name,omitempty"`
	// Grants are the user's roles, e.g. "admin acme", "member acme/*/dev".
	Grants []string `json:"grants,omitempty"`
	// Local is true on the unix socket: root on the host, every right.
	Local bool `json:"local,omitempty"`
}
