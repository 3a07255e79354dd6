package render

import (
	"bytes"
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/quai-dev/quai/internal/stack"
)

// composeDoc is the part of a Compose file the tests look at.
type composeDoc struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Image  string            `yaml:"image"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"services"`
}

func TestComposeHandModel(t *testing.T) {
	m := handModel(t)
	out, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	var doc composeDoc
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("rendered compose file does not parse: %v\n%s", err, out)
	}
	if doc.Name != "acme-shop-prod" {
		t.Errorf("project name %q, want the instance slug acme-shop-prod", doc.Name)
	}
	api := doc.Services["api"]
	want := map[string]string{
		"team":          "core", // the stack's own label survives
		LabelOrg:        "acme",
		LabelProject:    "shop",
		LabelEnv:        "prod",
		LabelQInstance:  "acme-shop-prod",
		LabelService:    "api",
		LabelConfigHash: "a1b2c3",
	}
	for k, v := range want {
		if api.Labels[k] != v {
			t.Errorf("api label %s = %q, want %q", k, api.Labels[k], v)
		}
	}
	if doc.Services["db"].Labels[LabelService] != "db" {
		t.Errorf("db labels %v", doc.Services["db"].Labels)
	}
	if !bytes.Contains(out, []byte("x-quai:")) {
		t.Error("extensions of the resolved document were dropped")
	}
	again, err := Compose(m)
	if err != nil || !bytes.Equal(out, again) {
		t.Errorf("second render differs (err %v)", err)
	}
}

func TestComposeListLabels(t *testing.T) {
	m := handModel(t)
	m.Resolved = []byte("services:\n  api:\n    image: x\n    labels: [\"a=1\", \"b=2\"]\n")
	out, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	var doc composeDoc
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if l := doc.Services["api"].Labels; l["a"] != "1" || l["b"] != "2" || l[LabelService] != "api" {
		t.Errorf("labels %v", l)
	}
}

func TestComposeEscapesDollars(t *testing.T) {
	m := handModel(t)
	m.Resolved = []byte("services:\n  api:\n    image: x\n    command: [sh, -c, 'exec app --port $PORT']\n    environment:\n      PRICE: 5$\n")
	out, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"exec app --port $$PORT", "PRICE: 5$$"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestComposeForDockerComposeV1(t *testing.T) {
	m := handModel(t)
	m.Resolved = []byte("name: x\nservices:\n  api:\n    image: x\n    depends_on:\n      db:\n        condition: service_healthy\n        required: true\n      cache:\n        condition: service_started\n        required: false\n  db:\n    image: y\n  cache:\n    image: z\n")
	out, err := ComposeWith(m, ComposeOptions{NoName: true})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("name: ")) || bytes.Contains(out, []byte("required: true")) || !bytes.Contains(out, []byte("required: false")) {
		t.Errorf("docker-compose 1.x rendering keeps the name or a default required, or drops required: false:\n%s", out)
	}
	if out, _ := Compose(m); !bytes.HasPrefix(out, []byte("name: ")) {
		t.Errorf("the default rendering lost the project name:\n%s", out)
	}
}

func TestComposeErrors(t *testing.T) {
	m := handModel(t)
	m.Resolved = nil
	if _, err := Compose(m); !errors.Is(err, ErrNoResolved) {
		t.Errorf("no resolved document: err %v, want ErrNoResolved", err)
	}
	m.Resolved = []byte("- a list\n")
	if _, err := Compose(m); !errors.Is(err, ErrInvalidModel) {
		t.Errorf("list document: err %v, want ErrInvalidModel", err)
	}
	if _, err := Compose((*stack.Model)(nil)); !errors.Is(err, ErrInvalidModel) {
		t.Errorf("nil model: err %v", err)
	}
}
