package engine

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
)

func TestRedactModelHidesValuesKeepsKeys(t *testing.T) {
	const pw = "hunter2-secret"
	m := &stack.Model{Resolved: []byte("DB_PASSWORD: " + pw), Services: []*stack.Service{{
		Name:        "db",
		Environment: map[string]string{"DB_PASSWORD": pw, "PORT": "5432"},
		Build:       &stack.Build{Context: ".", Args: map[string]string{"NPM_TOKEN": "tok-123456"}},
		Command:     []string{"server", "--password=" + pw},
		Healthcheck: &stack.Healthcheck{Test: []string{"CMD-SHELL", "check -p " + pw}},
		Process:     &stack.Process{Command: []string{"run", pw}, Env: map[string]string{"X": "process-env-value"}},
	}}}
	before, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	r := redactModel(m)
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pw, "tok-123456", "process-env-value"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("redacted model holds %q: %s", secret, out)
		}
	}
	svc := r.Services[0]
	if svc.Environment["DB_PASSWORD"] != Redacted || svc.Environment["PORT"] != Redacted || svc.Build.Args["NPM_TOKEN"] != Redacted {
		t.Errorf("keys with redacted values expected: env %v, build args %v", svc.Environment, svc.Build.Args)
	}
	if !slices.Equal(svc.Command, []string{"server", "--password=" + Redacted}) || r.Resolved != nil {
		t.Errorf("command %q, resolved %q; want the password cut out and no document", svc.Command, r.Resolved)
	}
	after, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("redactModel changed the model it was given; rollback needs it whole")
	}
}
