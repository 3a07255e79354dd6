package api

import (
	"net/http"
	"strconv"

	"github.com/quai-dev/quai/internal/wire"
)

// refuseBrowser returns the error for a request a browser sent, nil for
// any other. A browser page can reach the daemon only through a local
// forwarder, and every browser request gives itself away by Origin or
// Sec-Fetch-Site.
func refuseBrowser(r *http.Request) *Error {
	var why string
	switch {
	case r.Header.Get("Origin") != "":
		why = "it carries an Origin header"
	case r.Header.Get("Sec-Fetch-Site") != "":
		why = "it carries a Sec-Fetch-Site header"
	default:
		return nil
	}
	return &Error{Status: http.StatusForbidden, Code: wire.CodeForbidden,
		Message: "requests from a browser are refused on the daemon socket: " + why,
		Hint:    "use the quai CLI or the client library"}
}

// SocketOnly serves h on the daemon's unix socket: a request whose Host is
// not wire.SocketHost was not sent by a quai client but forwarded from
// elsewhere (a local TCP forwarder reached by a web page, DNS rebinding
// included), and is refused.
func SocketOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != wire.SocketHost {
			host := r.Host
			if len(host) > 64 {
				host = host[:64] + "..."
			}
			writeError(w, &Error{Status: http.StatusForbidden, Code: wire.CodeForbidden,
				Message: "requests forwarded to the daemon socket are refused: the Host is " + strconv.Quote(host) + ", not " + wire.SocketHost,
				Hint:    "use the quai CLI or the client library, which send Host: " + wire.SocketHost})
			return
		}
		h.ServeHTTP(w, r)
	})
}
