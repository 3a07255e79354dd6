package stack

import "testing"

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
