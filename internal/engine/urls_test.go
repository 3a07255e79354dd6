package engine

import (
	"slices"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

func TestURLsCarryTheProxyPort(t *testing.T) {
	m := &stack.Model{
		Identity: stack.Identity{Org: "acme", Project: "shop", Env: "dev"},
		Routes: []stack.Route{
			{Service: "web", TLS: stack.TLSOff},
			{Host: "api.example.com", Path: "/api", Service: "api", TLS: stack.TLSAuto},
		},
	}
	tests := []struct {
		name        string
		http, https int
		want        []string
	}{
		{"default ports are left out", 80, 443, []string{"http://shop.dev.localhost/", "https://api.example.com/api"}},
		{"unknown ports are left out", 0, 0, []string{"http://shop.dev.localhost/", "https://api.example.com/api"}},
		{"other ports are shown", 8080, 8443, []string{"http://shop.dev.localhost:8080/", "https://api.example.com:8443/api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := urls(m, "{project}.{env}.localhost", tt.http, tt.https)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("urls = %q, want %q", got, tt.want)
			}
		})
	}
}
