package stack

import (
	"strings"

	"github.com/quai-dev/quai/internal/registry"
)

// Registry is x-quai.registry: where `up` pushes the images it builds, so
// a release pins repo@sha256:digest references that any runtime can pull.
// Environment and organization overlays may set or change it.
type Registry struct {
	// URL is host[:port][/prefix], without a scheme; a service's image
	// goes to <URL>/<project>-<service>.
	URL string `json:"url"`
	// Insecure allows a registry without a certificate the engine trusts
	// (or without TLS). It is passed to no engine: the Docker Engine and
	// containerd decide that from their own configuration; it documents
	// the choice and lint reports it.
	Insecure bool `json:"insecure,omitempty"`
	// Pos is where url was written.
	Pos Position `json:"-"`
}

// Host is the registry's host[:port].
func (r *Registry) Host() string {
	host, _, _ := strings.Cut(r.URL, "/")
	return host
}

var registryKeys = []string{"insecure", "url"}

// registry checks x-quai.registry; it returns nil when unset or invalid.
func (c *checker) registry(path string, v any) *Registry {
	m, ok := c.mapping(path, v)
	if !ok {
		return nil
	}
	c.keys(path, m, registryKeys, nil)
	r := &Registry{Pos: c.idx.lookup(path + ".url")}
	valid := true
	if in, ok := m["insecure"]; ok {
		b, isBool := in.(bool)
		if !isBool {
			c.errf(path+".insecure", "write true or false", "must be a boolean, got %s", describe(in))
			valid = false
		}
		r.Insecure = b
	}
	u, ok := m["url"]
	if !ok {
		c.errf(path, "e.g. registry: { url: registry.example.com/team }", "the registry needs a url")
		return nil
	}
	s, ok := c.str(path+".url", u)
	if !ok {
		return nil
	}
	// ParseURL's message says what is wrong and how to write it.
	if _, _, err := registry.ParseURL(s); err != nil {
		c.errf(path+".url", "", "%s", strings.TrimPrefix(err.Error(), registry.ErrReference.Error()+": "))
		return nil
	}
	r.URL = strings.TrimSuffix(s, "/")
	if !valid {
		return nil
	}
	return r
}
