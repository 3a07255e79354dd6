package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

// TestUpRefusesHostPaths: a model sent straight to the API (not loaded by
// quai) that names a host file outside its project is refused before a
// release is recorded, so the daemon never reads the file.
func TestUpRefusesHostPaths(t *testing.T) {
	h := newHarness(t)
	for name, mod := range map[string]func(*stack.Model){
		"secret file": func(m *stack.Model) {
			m.Files = []string{"compose.yaml"}
			m.Secrets = []stack.Secret{{Name: "shadow", File: "../../../../../../etc/shadow"}}
			m.Services[0].Secrets = []string{"shadow"}
		},
		"tls key": func(m *stack.Model) {
			m.Files = []string{"compose.yaml"}
			m.Routes[0].TLS, m.Routes[0].CertFile, m.Routes[0].KeyFile = stack.TLSCustom, "/etc/hostname", "/etc/shadow"
		},
		"project dir /etc": func(m *stack.Model) {
			m.Dir, m.Files = "/etc", []string{"passwd"}
			m.Secrets = []stack.Secret{{Name: "shadow", File: "shadow"}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			var ev events
			_, err := h.eng.Up(context.Background(), UpRequest{Model: h.appModel("v1", mod)}, ev.emit)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, stack.ErrOutsideProject) {
				t.Fatalf("up: %v, want ErrInvalid and ErrOutsideProject", err)
			}
			if kinds := ev.kinds(); len(kinds) != 0 {
				t.Errorf("events %v: a refusal before the operation starts emits none", kinds)
			}
			if rs, err := h.store.Releases(context.Background(), appID.Name()); err != nil || len(rs) != 0 {
				t.Errorf("releases %v (%v), want none", rs, err)
			}
		})
	}
}

// TestUpRefusesTooManyReplicas: a model sent straight to the API is held to
// the loader's limits too; replicas: 1000000 used to start filling the disk.
func TestUpRefusesTooManyReplicas(t *testing.T) {
	h := newHarness(t)
	var ev events
	_, err := h.eng.Up(context.Background(), UpRequest{Model: h.appModel("v1", func(m *stack.Model) {
		m.Services[0].Replicas = 1_000_000
	})}, ev.emit)
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, stack.ErrOverLimit) || !strings.Contains(err.Error(), "QUAI_MAX_REPLICAS") {
		t.Fatalf("up: %v, want ErrInvalid and ErrOverLimit naming QUAI_MAX_REPLICAS", err)
	}
	if rs, err := h.store.Releases(context.Background(), appID.Name()); err != nil || len(rs) != 0 {
		t.Errorf("releases %v (%v), want none", rs, err)
	}
}
