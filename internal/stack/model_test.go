package stack

import (
	"strings"
	"testing"
)

func TestIdentityOrgOrDefault(t *testing.T) {
	tests := []struct {
		id              Identity
		org, name, slug string
	}{
		{Identity{Project: "shop", Env: "prod"}, DefaultOrg, "shop-prod", "default-shop-prod"},
		{Identity{Org: DefaultOrg, Project: "shop", Env: "prod"}, DefaultOrg, "shop-prod", "default-shop-prod"},
		{Identity{Org: "acme", Project: "shop", Env: "prod"}, "acme", "acme/shop-prod", "acme-shop-prod"},
	}
	for _, tt := range tests {
		if got := tt.id.OrgOrDefault(); got != tt.org {
			t.Errorf("%#v.OrgOrDefault() = %q, want %q", tt.id, got, tt.org)
		}
		if got := tt.id.Name(); got != tt.name {
			t.Errorf("%#v.Name() = %q, want %q", tt.id, got, tt.name)
		}
		if got := tt.id.Slug(); got != tt.slug {
			t.Errorf("%#v.Slug() = %q, want %q", tt.id, got, tt.slug)
		}
	}
}

// TestMetricsNotScraped: a metrics port other than the one a replica's
// address reaches is never scraped (on the process and Docker runtimes it
// would name a port of the host), and says which port is.
func TestMetricsNotScraped(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  Service
		want string
	}{
		{"no metrics", Service{Ports: []Port{{Target: 80}}}, ""},
		{"path only", Service{Ports: []Port{{Target: 80}}, Metrics: &MetricsEndpoint{Path: "/metrics"}}, ""},
		{"the served port", Service{Ports: []Port{{Target: 80}}, Metrics: &MetricsEndpoint{Port: 80, Path: "/metrics"}}, ""},
		{"expose only", Service{Expose: []int{3000}, Metrics: &MetricsEndpoint{Port: 3000, Path: "/m"}}, ""},
		{"another port", Service{Ports: []Port{{Target: 80}}, Metrics: &MetricsEndpoint{Port: 5432, Path: "/metrics"}}, "metrics port 5432 is not scraped"},
		{"udp first", Service{Ports: []Port{{Target: 53, Protocol: "udp"}, {Target: 8080}}, Metrics: &MetricsEndpoint{Port: 53, Path: "/metrics"}}, "container port 8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.svc.MetricsNotScraped()
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("MetricsNotScraped() = %q, want %q", got, tc.want)
			}
		})
	}
}
