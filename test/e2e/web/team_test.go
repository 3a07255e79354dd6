package webe2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

// principal is who a test token belongs to: a role on one organization.
type principal struct {
	user, role, org string
}

// teamAPI stands in, for these tests only, for the users, tokens and
// roles that are built beside the dashboard (issue 13, branch h/auth): it
// authenticates bearer tokens to principals and enforces the role rules
// the dashboard tests need — a reader changes nothing (403), an instance
// of another organization does not exist for the caller (404, left out
// of lists) — then forwards the request to the real daemon's API over its
// unix socket. When users and roles land, the tests switch to tokens made
// with `quai token create` and the daemon's own RemoteHandler.
type teamAPI struct {
	tokens map[string]principal
	socket *client.Client
	proxy  *httputil.ReverseProxy

	mu   sync.Mutex
	orgs map[string]string // instance → org
}

func newTeamAPI(socket string, tokens map[string]principal) *teamAPI {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = wire.SocketHost
			pr.Out.Host = wire.SocketHost
			pr.Out.Header.Del("Authorization")
		},
		Transport:     tr,
		FlushInterval: -1,
	}
	return &teamAPI{tokens: tokens, socket: client.New(socket), proxy: p, orgs: map[string]string{}}
}

// local is the API as the host's administrator (what the socket serves).
func (a *teamAPI) local() http.Handler { return a.proxy }

func (a *teamAPI) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.ErrorDetail{Code: code, Message: msg}})
}

func (a *teamAPI) orgOf(ctx context.Context, instance string) (string, bool) {
	a.mu.Lock()
	org, ok := a.orgs[instance]
	a.mu.Unlock()
	if ok {
		return org, true
	}
	st, err := a.socket.Status(ctx, instance)
	if err != nil {
		return "", false
	}
	a.mu.Lock()
	a.orgs[instance] = st.Identity.Org
	a.mu.Unlock()
	return st.Identity.Org, true
}

func (a *teamAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p, ok := a.tokens[tok]
	if !ok {
		a.fail(w, http.StatusUnauthorized, wire.CodeUnauthenticated, "not authenticated")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, wire.Prefix)
	if path == "/whoami" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(wire.WhoAmI{User: p.user, Grants: []string{p.role + " " + p.org}})
		return
	}
	instance := r.URL.Query().Get("instance")
	if rest, ok := strings.CutPrefix(path, "/instances/"); ok {
		instance, _, _ = strings.Cut(rest, "/")
		instance, _ = url.PathUnescape(instance)
	}
	if instance != "" {
		if org, ok := a.orgOf(r.Context(), instance); !ok || org != p.org {
			a.fail(w, http.StatusNotFound, wire.CodeNotFound, "no instance "+instance)
			return
		}
	}
	if r.Method != http.MethodGet && p.role == "reader" {
		a.fail(w, http.StatusForbidden, wire.CodeForbidden, p.user+" is a reader of "+p.org+" and may not change its instances")
		return
	}
	if r.Method == http.MethodGet && path == "/instances" {
		a.filterList(w, r, p)
		return
	}
	a.proxy.ServeHTTP(w, r)
}

// filterList answers GET /instances with the caller's organization's only.
func (a *teamAPI) filterList(w http.ResponseWriter, r *http.Request, p principal) {
	rec := &recorder{header: http.Header{}}
	a.proxy.ServeHTTP(rec, r)
	var list []wire.Instance
	if rec.status >= 300 || json.Unmarshal(rec.body.Bytes(), &list) != nil {
		w.WriteHeader(rec.status)
		_, _ = io.Copy(w, &rec.body)
		return
	}
	out := []wire.Instance{}
	for _, in := range list {
		if in.Identity.Org == p.org {
			out = append(out, in)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
