package stack

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/quai-dev/quai/internal/goldentest"
)

// TestSealedSecrets pins how sealed (external) secrets, their generation
// and secret_env reach the model: a secret a service receives only as an
// environment value stays declared, and an unused one is dropped with its
// generation.
func TestSealedSecrets(t *testing.T) {
	m, err := Load(context.Background(), Options{Dir: "testdata/sealed", Env: "prod", Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(struct {
		Secrets  []Secret
		Services map[string][]string
		Env      map[string]map[string]string
	}{m.Secrets, map[string][]string{"api": m.Service("api").SecretNames(), "db": m.Service("db").SecretNames()},
		map[string]map[string]string{"api": m.Service("api").SecretEnv, "db": m.Service("db").SecretEnv}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	goldentest.Check(t, "testdata/sealed/model.golden", append(b, '\n'))
	if got := m.Service("api").SecretNames(); !slices.Equal(got, []string{"api_token", "db_password", "signing_key"}) {
		t.Errorf("api receives %v", got)
	}
	if m.Secret("unused") != nil {
		t.Errorf("an unused secret stays in the model: %+v", m.Secret("unused"))
	}
}
