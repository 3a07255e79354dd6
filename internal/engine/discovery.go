package engine

import (
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/stack"
)

// On runtimes without per-instance networks (the process runtime) a
// service is not reachable as "db:5432": each replica listens on a port the
// runtime assigns. The engine provides discovery instead: <SERVICE>_HOST and
// <SERVICE>_PORT for every service, and "name:port" references in
// environment values rewritten to the address where that service listens.

// hostPortRef finds "name:port" in an environment value. The name must not
// be preceded by a character that could belong to a host name, so that
// "pw@db:5432" matches "db" but "10.0.0.1:80" names no service.
var hostPortRef = regexp.MustCompile(`(^|[^A-Za-z0-9_.-])([A-Za-z0-9_.-]+):([0-9]+)`)

// effectiveEnv is the service's environment as the process runtime sees it:
// Compose environment, overridden by x-quai.process.env.
func effectiveEnv(s *stack.Service) map[string]string {
	env := make(map[string]string, len(s.Environment))
	maps.Copy(env, s.Environment)
	if s.Process != nil {
		maps.Copy(env, s.Process.Env)
	}
	return env
}

// envRefs lists the other services whose address s's environment mentions.
func envRefs(m *stack.Model, s *stack.Service) []string {
	names := make(map[string]bool, len(m.Services))
	for _, o := range m.Services {
		names[o.Name] = true
	}
	found := map[string]bool{}
	for _, v := range effectiveEnv(s) {
		for _, sm := range hostPortRef.FindAllStringSubmatch(v, -1) {
			if n := sm[2]; names[n] && n != s.Name {
				found[n] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(found))
}

// rewriteRefs replaces "name:port" references to known services by their
// addresses.
func rewriteRefs(v string, addrs map[string]string) string {
	return hostPortRef.ReplaceAllStringFunc(v, func(match string) string {
		sm := hostPortRef.FindStringSubmatch(match)
		addr, ok := addrs[sm[2]]
		if !ok || addr == "" {
			return match
		}
		return sm[1] + addr
	})
}

// envName turns a service name into an environment variable prefix.
func envName(service string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(service) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// discoveryEnv is what the engine adds to s's environment given the
// addresses (host:port) of the services that have one: <NAME>_HOST and
// <NAME>_PORT for each, unless s sets them itself, and every value of s's
// environment that references a service, rewritten.
func discoveryEnv(s *stack.Service, addrs map[string]string) map[string]string {
	own := effectiveEnv(s)
	out := map[string]string{}
	for name, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		p := envName(name)
		if _, set := own[p+"_HOST"]; !set {
			out[p+"_HOST"] = host
		}
		if _, set := own[p+"_PORT"]; !set {
			out[p+"_PORT"] = port
		}
	}
	for k, v := range own {
		if nv := rewriteRefs(v, addrs); nv != v {
			out[k] = nv
		}
	}
	return out
}
