package engine

import (
	"slices"
	"testing"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// TestBuildRoutesForwardAuthService: a forward-auth URL naming a service of
// the stack reaches the proxy with that service's replica addresses as its
// targets; a URL naming anything else carries none, so the proxy resolves
// and checks it.
func TestBuildRoutesForwardAuthService(t *testing.T) {
	m := &stack.Model{
		Services: []*stack.Service{{Name: "web"}, {Name: "oauth2-proxy"}},
		Routes: []stack.Route{
			{Host: "a.example.com", Service: "web", Rules: &stack.RouteRules{ForwardAuth: &stack.RouteForwardAuth{URL: "http://oauth2-proxy:4180/oauth2/auth"}}},
			{Host: "b.example.com", Service: "web", Rules: &stack.RouteRules{ForwardAuth: &stack.RouteForwardAuth{URL: "https://auth.example.net/check"}}},
		},
	}
	handles := map[string][]runtime.Handle{
		"web":          {{Address: "127.0.0.1:5001"}},
		"oauth2-proxy": {{Address: "127.0.0.1:5103"}, {Address: "127.0.0.1:5102"}, {Address: ""}},
	}
	routes := buildRoutes(m, handles, "")
	if got, want := routes[0].Rules.ForwardAuth.Targets, []string{"127.0.0.1:5102", "127.0.0.1:5103"}; !slices.Equal(got, want) {
		t.Errorf("targets of the stack's authenticator: %v, want %v", got, want)
	}
	if got := routes[1].Rules.ForwardAuth.Targets; got != nil {
		t.Errorf("targets of another machine's authenticator: %v, want none", got)
	}
	if got := routes[0].Targets; !slices.Equal(got, []string{"127.0.0.1:5001"}) {
		t.Errorf("route targets %v", got)
	}
}
