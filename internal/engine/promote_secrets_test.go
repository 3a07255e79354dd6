package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/stack"
)

// withGenerated gives the app a generated secret as APP_TOKEN.
func withGenerated(m *stack.Model) *stack.Model {
	m.Secrets = []stack.Secret{{Name: "token", External: true, Generate: &stack.Generate{Kind: stack.GenerateHex32}}}
	svc := m.Services[0]
	svc.SecretEnv = map[string]string{"APP_TOKEN": "token"}
	svc.Hash = serviceHash(svc)
	return m
}

// TestPromoteKeepsTheTargetsSecrets: a promotion runs staging's image with
// prod's own secrets (prod's generated value, not staging's), records
// prod's secret versions, and names the secret in its plan, never a value.
func TestPromoteKeepsTheTargetsSecrets(t *testing.T) {
	p := newPromoteHarness(t)
	ctx := context.Background()
	stg, err := p.eng.Up(ctx, UpRequest{Model: withGenerated(p.stagingModel("1"))}, nil)
	if err != nil {
		t.Fatalf("up staging: %v", err)
	}
	p.keepTags(stg.Images["app"])

	var ev events
	rel, err := p.eng.Promote(ctx, PromoteRequest{Model: withGenerated(p.prodModel("1", nil)), Source: p.staging.Name()}, ev.emit)
	if err != nil {
		t.Fatalf("promote: %v\n%v", err, ev.list)
	}
	if rel.Images["app"] != stg.Images["app"] {
		t.Errorf("prod pins %v, staging %v", rel.Images, stg.Images)
	}
	if rel.Secrets["token"] == "" || rel.Secrets["token"] == stg.Secrets["token"] {
		t.Errorf("prod's release records secret versions %v, staging's %v: want prod's own version of token", rel.Secrets, stg.Secrets)
	}
	stagingToken, prodToken := p.envOf(p.staging, "APP_TOKEN"), p.envOf(p.id, "APP_TOKEN")
	if len(prodToken) != 64 || prodToken == stagingToken {
		t.Errorf("prod's APP_TOKEN has %d characters and equals staging's: %v; want its own generated value", len(prodToken), prodToken == stagingToken)
	}
	for _, e := range ev.list {
		if e.Kind == EventPlan && !strings.Contains(e.Text, "  app: image sha256:"+shortID(stg.Images["app"])+" (new service); secrets +token\n") {
			t.Errorf("the plan does not name the secret:\n%s", e.Text)
		}
		for _, v := range []string{stagingToken, prodToken} {
			if strings.Contains(e.Text+e.Message+e.Error, v) {
				t.Errorf("an event holds a secret value: %+v", e)
			}
		}
	}
}

// envOf returns the value of an environment variable in the instance's one
// replica container.
func (p *promoteHarness) envOf(id stack.Identity, name string) string {
	p.t.Helper()
	hs, err := p.st.Handles(context.Background(), id.Name())
	if err != nil || len(hs) != 1 {
		p.t.Fatalf("handles of %s: %v %v", id.Name(), hs, err)
	}
	res, err := p.cli.ContainerInspect(context.Background(), hs[0].ID, client.ContainerInspectOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	i := slices.IndexFunc(res.Container.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
	if i < 0 {
		p.t.Fatalf("%s's container has no %s", id.Name(), name)
	}
	return strings.TrimPrefix(res.Container.Config.Env[i], name+"=")
}
