package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/wire"
)

// ErrUnauthenticated is what an Authenticator returns for a request without
// valid credentials (none, unknown, expired or revoked): the API answers 401.
var ErrUnauthenticated = errors.New("not authenticated")

// Authenticator resolves who makes a request that came over the network
// (the TLS listener). The unix socket needs none: only root on the host
// reaches it, and it acts as the host's administrator.
type Authenticator interface {
	// Authenticate reads the request's credentials (Authorization: Bearer
	// <token>, or a session cookie) and returns the context the request
	// runs with, carrying who makes it, for the handlers' authorization. It
	// returns an error wrapping ErrUnauthenticated when the credentials are
	// missing or not valid; any other error is an internal failure.
	Authenticate(r *http.Request) (context.Context, error)
}

// Anonymous is the principal of a network request without a token (login
// and hook calls): it may do nothing but what those handlers check.
var Anonymous = &auth.Principal{User: "anonymous", Scope: auth.Scope{Actions: []string{"login", "hook"}}}

// unauthenticatedPaths are the endpoints the network listener serves
// without a token: logging in (it hands one out) and CI deploy hooks (the
// request is signed with the hook's own secret instead).
var unauthenticatedPaths = []string{
	"POST " + wire.Prefix + "/login",
	"POST " + wire.Prefix + "/hooks/",
}

// RemoteHandler serves the API to the network (the daemon's TLS listener):
// every request is authenticated first, and a request that is not gets 401
// before any handler runs. Without an Authenticator nothing is served.
func (s *Server) RemoteHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range unauthenticatedPaths {
			if matchesRoute(r, p) {
				// Not the socket's root: whoever this is proves itself in
				// the handler (a password, a hook's signature).
				s.mux.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), Anonymous)))
				return
			}
		}
		if s.authn == nil {
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: wire.CodeUnauthenticated,
				Message: "this daemon has no users yet",
				Hint:    "create one on the host with `quai user add`, then `quai login`"})
			return
		}
		ctx, err := s.authn.Authenticate(r)
		switch {
		case errors.Is(err, ErrUnauthenticated):
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: wire.CodeUnauthenticated,
				Message: err.Error(), Hint: "log in again with `quai login`, or pass a valid token"})
			return
		case err != nil:
			writeError(w, &Error{Status: http.StatusInternalServerError, Code: wire.CodeInternal, Message: err.Error()})
			return
		}
		if !s.routeKnown(r) {
			writeError(w, &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound,
				Message: "no such endpoint " + r.Method + " " + r.URL.Path})
			return
		}
		s.mux.ServeHTTP(w, r.WithContext(context.WithValue(ctx, remoteKey{}, true)))
	})
}

// matchesRoute reports whether r is "METHOD /prefix" (a trailing slash
// matches the subtree).
func matchesRoute(r *http.Request, route string) bool {
	method, path, _ := cutSpace(route)
	if r.Method != method {
		return false
	}
	if path[len(path)-1] == '/' {
		return len(r.URL.Path) > len(path) && r.URL.Path[:len(path)] == path
	}
	return r.URL.Path == path
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// routeKnown reports whether the mux has a handler for r other than the
// catch-all that answers 404 for unknown endpoints.
func (s *Server) routeKnown(r *http.Request) bool {
	_, pattern := s.mux.Handler(r)
	return pattern != "" && pattern != wire.Prefix+"/"
}
