package registrytest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestStart proves the harness's registry is the real thing: TLS with the
// run's CA, and basic auth that refuses a wrong password.
func TestStart(t *testing.T) {
	r := Start(t, Options{NoDockerTrust: true})
	for _, tc := range []struct {
		name, user, pass string
		want             int
	}{
		{"right password", r.User, r.Password, http.StatusOK},
		{"wrong password", r.User, r.Password + "x", http.StatusUnauthorized},
		{"no credentials", "", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://"+r.Host+"/v2/", nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := r.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET /v2/: %s, want %d", resp.Status, tc.want)
			}
		})
	}
	if resp, err := http.Get("https://" + r.Host + "/v2/"); err == nil {
		_ = resp.Body.Close()
		t.Error("a client without the run's CA trusted the registry's certificate")
	}
	b, err := os.ReadFile(filepath.Join(r.DockerConfig, "config.json"))
	if err != nil || len(b) == 0 {
		t.Errorf("docker config: %v", err)
	}
}
