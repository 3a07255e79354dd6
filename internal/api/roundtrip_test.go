package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// TestModelRoundTrip sends every fixture's model through the wire form the
// CLI uses and checks that what the daemon decodes is what was loaded: the
// JSON form, the merged Compose document (which the model's JSON leaves
// out) and the service hashes the engine compares. Key positions are not
// carried: they only serve diagnostics, which the CLI prints before sending.
func TestModelRoundTrip(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/stacks/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		// dev always loads; other environments where the fixture declares them.
		envs := []string{"dev"}
		overlays, _ := filepath.Glob(filepath.Join(dir, "envs", "*.yaml"))
		for _, o := range overlays {
			if env := strings.TrimSuffix(filepath.Base(o), ".yaml"); env != "dev" {
				envs = append(envs, env)
			}
		}
		for _, env := range envs {
			t.Run(filepath.Base(dir)+"/"+env, func(t *testing.T) {
				m, err := stack.Load(context.Background(), stack.Options{Dir: dir, Env: env})
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				payload, err := wire.NewModelPayload(m, m.Resolved)
				if err != nil {
					t.Fatal(err)
				}
				body, err := json.Marshal(wire.UpRequest{ModelPayload: payload})
				if err != nil {
					t.Fatal(err)
				}
				var req wire.UpRequest
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&req); err != nil {
					t.Fatal(err)
				}
				got, err := api.DecodeModel(req.ModelPayload)
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Resolved) == 0 || !bytes.Equal(req.Resolved, m.Resolved) {
					t.Errorf("resolved document: %d bytes sent, %d received", len(m.Resolved), len(req.Resolved))
				}
				a, _ := json.Marshal(m)
				b, _ := json.Marshal(got)
				if !bytes.Equal(a, b) {
					t.Errorf("model JSON changed in transit:\nsent %s\ngot  %s", a, b)
				}
				for i, s := range m.Services {
					if got.Services[i].Hash != s.Hash || got.Services[i].Hash == "" {
						t.Errorf("service %s hash %q, received %q", s.Name, s.Hash, got.Services[i].Hash)
					}
				}
			})
		}
	}
}
