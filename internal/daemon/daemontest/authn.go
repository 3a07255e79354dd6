package daemontest

import (
	"context"
	"fmt"
	"net/http"

	"github.com/quai-dev/quai/internal/api"
)

// TokenAuthn is an api.Authenticator for tests of the network API that
// accepts one bearer token, until tests use real users and tokens.
type TokenAuthn struct{ Token string }

// Authenticate accepts a request carrying "Authorization: Bearer Token".
func (a TokenAuthn) Authenticate(r *http.Request) (context.Context, error) {
	if a.Token == "" || r.Header.Get("Authorization") != "Bearer "+a.Token {
		return nil, fmt.Errorf("%w: no valid token", api.ErrUnauthenticated)
	}
	return r.Context(), nil
}
