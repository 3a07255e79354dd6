package sops

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/quai-dev/quai/internal/secrets/sops/sopstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata with the real sops CLI")

// goldens are files the real sops wrote from testdata/<input>, each under
// the rule of goldenConfig matching its name; <name>.decrypted is what
// `sops decrypt` printed for it.
var goldens = []struct{ name, input string }{
	{"sops-default.yaml", "plain.yaml"},
	{"sops-default.json", "plain.json"},
	{"sops-encrypted-regex.yaml", "plain.yaml"},
	{"sops-mac-only-encrypted.yaml", "plain.yaml"},
}

const goldenConfig = `creation_rules:
  - path_regex: ^sops-encrypted-regex\.yaml$
    encrypted_regex: ^(str|inner|list)$
    age: %[1]s
  - path_regex: ^sops-mac-only-encrypted\.yaml$
    encrypted_regex: ^(str|inner|list)$
    mac_only_encrypted: true
    age: %[1]s
  - age: %[1]s
`

// goldenKey is the test-only age identity the golden files are sealed for.
const goldenKey = "testdata/age-key.txt"

func readGoldenKey(t testing.TB) age.Identity {
	t.Helper()
	data, err := os.ReadFile(goldenKey)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

func regenerateGoldens(t *testing.T) {
	dir := t.TempDir()
	if _, err := os.Stat(goldenKey); errors.Is(err, os.ErrNotExist) {
		k := sopstest.Keygen(t, dir)
		if err := os.Rename(k.File, goldenKey); err != nil {
			t.Fatal(err)
		}
	}
	key, err := filepath.Abs(goldenKey)
	if err != nil {
		t.Fatal(err)
	}
	recipient := readGoldenKey(t).(*age.X25519Identity).Recipient().String()
	if err := os.WriteFile(filepath.Join(dir, ".sops.yaml"), fmt.Appendf(nil, goldenConfig, recipient), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		plain, err := os.ReadFile(filepath.Join("testdata", g.input))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, g.name), plain, 0o600); err != nil {
			t.Fatal(err)
		}
		sealed := sopstest.Run(t, dir, "", "encrypt", g.name)
		if err := os.WriteFile(filepath.Join("testdata", g.name), []byte(sealed), 0o644); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(g.name, ".yaml") {
			continue
		}
		golden, err := filepath.Abs(filepath.Join("testdata", g.name))
		if err != nil {
			t.Fatal(err)
		}
		opened := sopstest.Run(t, dir, key, "decrypt", golden)
		if err := os.WriteFile(golden+".decrypted", []byte(opened), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGoldenFilesFromRealSopsOpen(t *testing.T) {
	if *update {
		regenerateGoldens(t)
	}
	id := readGoldenKey(t)
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", g.name))
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decrypt(data, id)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"str": "hello", "int": "42", "float": "1.5", "bool": "true", "nothing": "", "public_unencrypted": "visible"}
			for k, v := range want {
				if got, ok := d.Get(k); !ok || got != v {
					t.Errorf("Get(%q) = %q, %v; want %q", k, got, ok, v)
				}
			}
			if strings.HasSuffix(g.name, ".yaml") {
				decrypted, err := os.ReadFile(filepath.Join("testdata", g.name+".decrypted"))
				if err != nil {
					t.Fatal(err)
				}
				got, err := emitYAML(d.branches)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, decrypted) {
					t.Errorf("opened document differs from what sops decrypt printed:\n--- quai\n%s\n--- sops\n%s", got, decrypted)
				}
			}
			// sops's MAC is checked: flipping one sealed byte of a value is
			// ErrMAC. (A comment that does not open is kept as it is, as
			// sops does: comments are outside the MAC.)
			i := bytes.Index(data, []byte(`str": "ENC[AES256_GCM,data:`))
			if i < 0 {
				i = bytes.Index(data, []byte("str: ENC[AES256_GCM,data:"))
			}
			i += bytes.Index(data[i:], []byte("data:")) + len("data:")
			tampered := slices.Clone(data)
			tampered[i] ^= 'A' ^ 'B'
			if tampered[i] == data[i] || bytes.Equal(tampered, data) {
				tampered[i] = 'A'
			}
			if _, err := Decrypt(tampered, id); !errors.Is(err, ErrMAC) {
				t.Errorf("tampered golden: err = %v; want ErrMAC", err)
			}
			// What quai seals again keeps the file's rules and opens.
			out, err := d.Encrypt()
			if err != nil {
				t.Fatal(err)
			}
			d2, err := Decrypt(out, id)
			if err != nil {
				t.Fatalf("resealed: %v\n%s", err, out)
			}
			if !slices.Equal(d2.Names(), d.Names()) || d2.md.rules.MACOnlyEncrypted != d.md.rules.MACOnlyEncrypted || d2.md.rules.EncryptedRegex != d.md.rules.EncryptedRegex {
				t.Errorf("resealing changed names or rules: %v %+v -> %v %+v", d.Names(), d.md.rules, d2.Names(), d2.md.rules)
			}
		})
	}
}

// TestRealSopsOpensQuaiFiles: `sops decrypt` opens what quai seals, and
// prints the same document sops itself would.
func TestRealSopsOpensQuaiFiles(t *testing.T) {
	sopstest.SOPS(t)
	dir := t.TempDir()
	key := sopstest.Keygen(t, dir)

	// A whole document with every kind of value and comments.
	plain, err := os.ReadFile("testdata/plain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := New([]string{key.Recipient})
	if err != nil {
		t.Fatal(err)
	}
	if d.branches, err = parseYAML(plain); err != nil {
		t.Fatal(err)
	}
	sealed, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "doc.yaml")
	if err := os.WriteFile(path, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/sops-default.yaml.decrypted")
	if err != nil {
		t.Fatal(err)
	}
	if got := sopstest.Run(t, dir, key.File, "decrypt", path); got != string(want) {
		t.Errorf("sops decrypt of quai's file:\n%s\nwant:\n%s", got, want)
	}

	// Values set through the API, sealed for two recipients; the second
	// alone opens it.
	other := sopstest.Keygen(t, dir)
	values := map[string]string{
		"db_password": "hunter2: with a colon # and a hash",
		"multi":       "line one\nline two\n",
		"quoted":      `"quotes" and 'apostrophes'`,
		"numeric":     "00123",
	}
	d, err = New([]string{key.Recipient, other.Recipient})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		d.Set(k, values[k])
	}
	sealed, err = d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		if got := sopstest.Run(t, dir, other.File, "decrypt", "--extract", `["`+k+`"]`, path); got != v {
			t.Errorf("sops decrypt --extract %s = %q; want %q", k, got, v)
		}
	}

	// sops verifies quai's MAC: a value moved to another key is refused.
	vals := sealedValues(sealed)
	swapped := strings.NewReplacer(vals["multi"], vals["quoted"], vals["quoted"], vals["multi"]).Replace(string(sealed))
	if err := os.WriteFile(path, []byte(swapped), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sopstest.Try(t, dir, key.File, "decrypt", path); err == nil {
		t.Error("sops decrypt accepted quai's file with two values swapped")
	}
}

// TestQuaiOpensRealSopsFiles: quai opens what `sops encrypt` seals under a
// .sops.yaml quai wrote, and after sops updatekeys, rotate and set.
func TestQuaiOpensRealSopsFiles(t *testing.T) {
	sopstest.SOPS(t)
	dir := t.TempDir()
	alice, bob := sopstest.Keygen(t, dir), sopstest.Keygen(t, dir)
	cfgPath := filepath.Join(dir, ".sops.yaml")
	cfg, err := ReadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetRule(`^secrets/prod\.yaml$`, []string{alice.Recipient})
	if err := cfg.Write(cfgPath); err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile("testdata/plain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join("secrets", "prod.yaml")
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	sopstest.Run(t, dir, "", "encrypt", "-i", rel)

	open := func(step string, id age.Identity) *Doc {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decrypt(data, id)
		if err != nil {
			t.Fatalf("after %s: %v\n%s", step, err, data)
		}
		return d
	}
	d := open("sops encrypt", alice.Identity)
	want, err := os.ReadFile("testdata/sops-default.yaml.decrypted")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := emitYAML(d.branches); err != nil || !bytes.Equal(got, want) {
		t.Errorf("quai's opening of sops's file:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Decrypt(must(os.ReadFile(path)), bob.Identity); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("bob before updatekeys: err = %v; want ErrNoIdentity", err)
	}

	// A recipient added to .sops.yaml by quai reaches the file through sops
	// updatekeys.
	cfg.SetRule(`^secrets/prod\.yaml$`, []string{alice.Recipient, bob.Recipient})
	if err := cfg.Write(cfgPath); err != nil {
		t.Fatal(err)
	}
	sopstest.Run(t, dir, alice.File, "updatekeys", "-y", rel)
	open("sops updatekeys", bob.Identity)
	if m, err := Inspect(must(os.ReadFile(path))); err != nil || !slices.Equal(m.Recipients, []string{alice.Recipient, bob.Recipient}) {
		t.Errorf("Inspect after updatekeys = %v, %v", m.Recipients, err)
	}

	sopstest.Run(t, dir, bob.File, "rotate", "-i", rel)
	open("sops rotate", alice.Identity)

	sopstest.Run(t, dir, alice.File, "set", rel, `["str"]`, `"set by sops"`)
	d = open("sops set", bob.Identity)
	if got, _ := d.Get("str"); got != "set by sops" {
		t.Errorf("str after sops set = %q", got)
	}

	// And back: quai changes a value in sops's file, sops reads it.
	d.Set("str", "set by quai")
	out, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := sopstest.Run(t, dir, bob.File, "decrypt", "--extract", `["str"]`, rel); got != "set by quai" {
		t.Errorf("sops decrypt after quai's Set = %q", got)
	}
}

// TestSameSizeAsRealSops: ten secrets sealed by quai and by sops make files
// of the same size (the same format, byte for byte but for random bytes).
func TestSameSizeAsRealSops(t *testing.T) {
	sopstest.SOPS(t)
	dir := t.TempDir()
	key := sopstest.Keygen(t, dir)
	d, err := New([]string{key.Recipient})
	if err != nil {
		t.Fatal(err)
	}
	var plain strings.Builder
	for i := range 10 {
		name, value := fmt.Sprintf("secret_%02d", i), fmt.Sprintf("value-%02d-0123456789abcdef", i)
		d.Set(name, value)
		fmt.Fprintf(&plain, "%s: %s\n", name, value)
	}
	quai, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ten.yaml")
	if err := os.WriteFile(path, []byte(plain.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bySops := sopstest.Run(t, dir, "", "encrypt", "--age", key.Recipient, path)
	t.Logf("10 secrets: quai %d bytes, sops %d bytes (plaintext %d)", len(quai), len(bySops), plain.Len())
	if len(quai) != len(bySops) {
		t.Errorf("quai's file is %d bytes, sops's %d:\n%s\n---\n%s", len(quai), len(bySops), quai, bySops)
	}
}
