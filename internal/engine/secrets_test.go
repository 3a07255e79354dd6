package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/store"
)

// sealedFiles stands in for the project's sealed files: the values they
// hold, or the error opening them gives (a MAC mismatch, no key).
type sealedFiles struct {
	mu     sync.Mutex
	values map[string]string
	err    error
	opened int
}

func (f *sealedFiles) Open(_, _, env string, names []string) (map[string]OpenedSecret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened++
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]OpenedSecret{}
	for _, n := range names {
		if v, ok := f.values[n]; ok {
			out[n] = OpenedSecret{Value: []byte(v), Source: "secrets/" + env + ".yaml"}
		}
	}
	return out, nil
}

func (f *sealedFiles) set(values map[string]string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values, f.err = maps.Clone(values), err
}

// withSealed gives web the sealed secret token as APP_TOKEN and the
// generated secret gen as a file.
func withSealed(m *stack.Model) {
	m.Secrets = []stack.Secret{
		{Name: "gen", External: true, Generate: &stack.Generate{Kind: stack.GeneratePassword, Length: 24}},
		{Name: "token", External: true},
	}
	web := m.Service("web")
	web.Secrets = []string{"gen"}
	web.SecretEnv = map[string]string{"APP_TOKEN": "token"}
}

// TestSealedSecretsLifecycle: sealed secrets are resolved before anything
// changes, delivered as a file and an environment variable, recorded by
// version (never value) in each release, replaced when their value
// changes, kept when it does not, and restored by rollback from the store
// even after the project's file changed. A secret that is missing or does
// not open fails the deploy with the instance, the key and the fix, and
// the running release keeps serving.
func TestSealedSecretsLifecycle(t *testing.T) {
	files := &sealedFiles{values: map[string]string{"token": "first-token-value"}}
	h := newHarnessWith(t, func(h *harness) { h.secrets = files })
	ctx := context.Background()
	name := appID.Name()

	r1 := h.up(t, "v1", withSealed)
	want1 := fingerprint([]byte("first-token-value"))
	got := h.mustGet(t, "/secret")
	tokenFP, genFP, _ := strings.Cut(got, " ")
	if tokenFP != want1 || genFP == fingerprint(nil) {
		t.Fatalf("GET /secret = %q, want token %s and a generated file", got, want1)
	}
	versionRe := regexp.MustCompile(`^[0-9a-f]{16}$`)
	if len(r1.Secrets) != 2 || !versionRe.MatchString(r1.Secrets["token"]) || !versionRe.MatchString(r1.Secrets["gen"]) {
		t.Fatalf("release 1 secrets = %v, want a version per name", r1.Secrets)
	}

	// Unchanged values: nothing to do, no release.
	if again := h.up(t, "v1", withSealed); again.Number != r1.Number {
		t.Fatalf("an up with the same secrets made release %d", again.Number)
	}

	// A new value of token replaces web; gen keeps its value and version.
	// The plan shown first is the one Up makes (same fingerprint).
	files.set(map[string]string{"token": "second-token-value"}, nil)
	p, err := h.eng.Plan(ctx, h.appModel("v1", withSealed), "")
	if err != nil {
		t.Fatal(err)
	}
	if web := p.Services[1]; web.Service != "web" || web.Action != ActionReplace {
		t.Fatalf("plan after a new token value:\n%s", p.Text)
	}
	var ev events
	r2, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("v1", withSealed), Fingerprint: p.Fingerprint()}, ev.emit)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Number != r1.Number+1 || r2.Secrets["token"] == r1.Secrets["token"] || r2.Secrets["gen"] != r1.Secrets["gen"] {
		t.Fatalf("release %d secrets = %v after release %d's %v: want a new token version, the same gen", r2.Number, r2.Secrets, r1.Number, r1.Secrets)
	}
	if got := h.mustGet(t, "/secret"); got != fingerprint([]byte("second-token-value"))+" "+genFP {
		t.Fatalf("after the new token: GET /secret = %q", got)
	}

	// Broken: a MAC mismatch, then a missing secret. Each fails before
	// anything changes: no release, release 2 keeps serving.
	broken := []struct {
		name  string
		err   error
		vals  map[string]string
		wants []string
	}{
		{"mac", fmt.Errorf("secrets/test.yaml: MAC mismatch: the file was changed without sops; restore it from Git"), nil,
			[]string{name, "secrets/test.yaml", "MAC mismatch", "restore it"}},
		{"missing", nil, map[string]string{},
			[]string{name, "secret token", "secrets/test.yaml", "quai secrets set " + h.projDir + " --env test token"}},
	}
	for _, b := range broken {
		files.set(b.vals, b.err)
		var ev events
		_, err := h.eng.Up(ctx, UpRequest{Model: h.appModel("v2", withSealed)}, ev.emit)
		if !errors.Is(err, ErrSecret) {
			t.Fatalf("%s: up = %v, want ErrSecret", b.name, err)
		}
		t.Logf("%s: refused: %v", b.name, err)
		for _, w := range b.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error does not say %q: %v", b.name, w, err)
			}
		}
		if kinds := ev.kinds(); len(kinds) != 0 {
			t.Errorf("%s: events %v: a refusal before the operation starts emits none", b.name, kinds)
		}
		if rels, _ := h.eng.Releases(ctx, name); len(rels) != 2 {
			t.Fatalf("%s: a refused deploy recorded a release: %d releases", b.name, len(rels))
		}
		if got := h.mustGet(t, "/"); got != "web v1" {
			t.Fatalf("%s: GET / = %q, want release 2 (web v1) still serving", b.name, got)
		}
	}

	// Rollback to release 1 restores its token from the store although the
	// project's file no longer holds it.
	files.set(map[string]string{"token": "third-token-value"}, nil)
	rb, err := h.eng.Rollback(ctx, name, r1.Number, ev.emit)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Secrets["token"] != r1.Secrets["token"] || rb.Secrets["gen"] != r1.Secrets["gen"] {
		t.Fatalf("rollback release secrets = %v, want release 1's %v", rb.Secrets, r1.Secrets)
	}
	if got := h.mustGet(t, "/secret"); got != want1+" "+genFP {
		t.Fatalf("after the rollback: GET /secret = %q, want release 1's token %s", got, want1)
	}
	rels, err := h.eng.Releases(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rels {
		for _, v := range []string{"first-token-value", "second-token-value", "third-token-value"} {
			if strings.Contains(fmt.Sprint(r.Model, r.Secrets), v) {
				t.Errorf("release %d shows a secret value", r.Number)
			}
		}
	}

	// Removing the instance keeps the generated value (its volumes may
	// hold data made with it); a purge drops it.
	if err := h.eng.Remove(ctx, name, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.LatestSecretVersion(ctx, name, "gen", store.SourceGenerated); err != nil {
		t.Fatalf("remove dropped the generated secret: %v", err)
	}
	files.set(map[string]string{"token": "first-token-value"}, nil)
	again := h.up(t, "v1", withSealed)
	if again.Secrets["gen"] != r1.Secrets["gen"] {
		t.Fatalf("a reinstall generated gen again: %s, was %s", again.Secrets["gen"], r1.Secrets["gen"])
	}
	if err := h.eng.Remove(ctx, name, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.LatestSecretVersion(ctx, name, "gen", store.SourceGenerated); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a purge: %v, want ErrNotFound", err)
	}
}

// TestGenerateSecret: each kind gives a value of its form, drawn from its
// alphabet, and two draws differ.
func TestGenerateSecret(t *testing.T) {
	for _, c := range []struct {
		g    stack.Generate
		want *regexp.Regexp
	}{
		{stack.Generate{Kind: stack.GeneratePassword, Length: 32}, regexp.MustCompile(`^[A-Za-z0-9]{32}$`)},
		{stack.Generate{Kind: stack.GenerateAlnum, Length: 40, Alphabet: "abc"}, regexp.MustCompile(`^[abc]{40}$`)},
		{stack.Generate{Kind: stack.GenerateHex32}, regexp.MustCompile(`^[0-9a-f]{64}$`)},
		{stack.Generate{Kind: stack.GenerateRSA}, regexp.MustCompile(`^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$`)},
	} {
		t.Run(c.g.Kind, func(t *testing.T) {
			a, err := generateSecret(&c.g)
			if err != nil {
				t.Fatal(err)
			}
			b, err := generateSecret(&c.g)
			if err != nil {
				t.Fatal(err)
			}
			if !c.want.Match(a) {
				t.Errorf("value of %d bytes does not match %s", len(a), c.want)
			}
			if string(a) == string(b) {
				t.Error("two generated values are equal")
			}
		})
	}
}

// TestVersionedHashIdempotent: a model that already carries folded hashes
// (a stored release sent back) folds to the same hashes for the same
// versions, and to the loader's hash again without sealed secrets.
func TestVersionedHashIdempotent(t *testing.T) {
	m := &stack.Model{Secrets: []stack.Secret{{Name: "token", External: true}},
		Services: []*stack.Service{{Name: "web", Hash: "0123456789ab", SecretEnv: map[string]string{"TOKEN": "token"}}}}
	m.SecretVersions = map[string]string{"token": "00112233aabbccdd"}
	once := versionedHash(m.Services[0], m)
	if once == "0123456789ab" || len(once) != versionedHashLen {
		t.Fatalf("folded hash %q", once)
	}
	folded := *m.Services[0]
	folded.Hash, folded.LoadHash = once, "0123456789ab"
	if twice := versionedHash(&folded, m); twice != once {
		t.Errorf("folding a folded service gives %s, want %s", twice, once)
	}
	m.SecretVersions = nil
	if h := versionedHash(&folded, m); h != "0123456789ab" {
		t.Errorf("without versions: %s, want the loader's hash", h)
	}
}
