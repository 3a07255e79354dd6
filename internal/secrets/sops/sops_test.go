package sops

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sealed returns a file with the given values sealed for id.
func sealed(t testing.TB, id *age.X25519Identity, kv ...string) []byte {
	t.Helper()
	d, err := New([]string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Set(kv[i], kv[i+1])
	}
	out, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sealPlain seals a plaintext YAML document as it is (nested maps, lists,
// every scalar type, comments), the way `sops -e` does.
func sealPlain(t testing.TB, id *age.X25519Identity, plain string) []byte {
	t.Helper()
	d, err := New([]string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	if d.branches, err = parseYAML([]byte(plain)); err != nil {
		t.Fatal(err)
	}
	out, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTripKeepsNamesOrderAndValues(t *testing.T) {
	id := newIdentity(t)
	values := []string{
		"db_password", "s3cr3t with spaces and: colons # not a comment",
		"api_token", "line one\nline two\n",
		"empty", "",
		"unicode", "pässwörd ✓",
		"number_like", "0123",
		"bool_like", "true",
	}
	data := sealed(t, id, values...)
	for i := 1; i < len(values); i += 2 {
		if v := values[i]; len(v) > 4 && bytes.Contains(data, []byte(v)) {
			t.Fatalf("plaintext %q appears in the sealed file:\n%s", v, data)
		}
	}
	d, err := Decrypt(data, id)
	if err != nil {
		t.Fatalf("Decrypt: %v\n%s", err, data)
	}
	var names []string
	for i := 0; i+1 < len(values); i += 2 {
		names = append(names, values[i])
		got, ok := d.Get(values[i])
		if !ok || got != values[i+1] {
			t.Errorf("Get(%q) = %q, %v; want %q", values[i], got, ok, values[i+1])
		}
	}
	if got := d.Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %v; want %v", got, names)
	}
	if got := d.Recipients(); !slices.Equal(got, []string{id.Recipient().String()}) {
		t.Errorf("Recipients() = %v", got)
	}
	if _, ok := d.Get("missing"); ok {
		t.Error("Get of a missing name reported ok")
	}
}

func TestSetDeleteAndReseal(t *testing.T) {
	id := newIdentity(t)
	d, err := Decrypt(sealed(t, id, "a", "1", "b", "2", "c", "3"), id)
	if err != nil {
		t.Fatal(err)
	}
	d.Set("b", "two")
	d.Set("d", "4")
	if !d.Delete("a") || d.Delete("a") {
		t.Fatal("Delete reported wrongly")
	}
	out, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Decrypt(out, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.Names(); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("Names() = %v", got)
	}
	for name, want := range map[string]string{"b": "two", "c": "3", "d": "4"} {
		if got, _ := d2.Get(name); got != want {
			t.Errorf("Get(%q) = %q; want %q", name, got, want)
		}
	}
}

var encLine = regexp.MustCompile(`(?m)^(\w+): (ENC\[[^\]]*\])$`)

// sealedValues maps top-level names to their sealed text.
func sealedValues(data []byte) map[string]string {
	out := map[string]string{}
	for _, m := range encLine.FindAllSubmatch(data, -1) {
		out[string(m[1])] = string(m[2])
	}
	return out
}

func TestResealKeepsUnchangedValuesByteForByte(t *testing.T) {
	id := newIdentity(t)
	first := sealed(t, id, "a", "alpha", "b", "beta")
	d, err := Decrypt(first, id)
	if err != nil {
		t.Fatal(err)
	}
	d.Set("b", "BETA")
	second, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	before, after := sealedValues(first), sealedValues(second)
	if before["a"] == "" || before["a"] != after["a"] {
		t.Errorf("unchanged value a was sealed anew: %q -> %q", before["a"], after["a"])
	}
	if before["b"] == after["b"] {
		t.Error("changed value b kept its old sealed text")
	}
}

func TestRotateDataKeySealsEverythingAnew(t *testing.T) {
	id := newIdentity(t)
	first := sealed(t, id, "a", "alpha", "b", "beta")
	d, err := Decrypt(first, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	second, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	before, after := sealedValues(first), sealedValues(second)
	for _, k := range []string{"a", "b"} {
		if before[k] == after[k] {
			t.Errorf("%s kept its sealed text across a data key rotation", k)
		}
	}
	if encs(first)[0] == encs(second)[0] {
		t.Error("the sealed data key did not change")
	}
	d2, err := Decrypt(second, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := d2.Get("b"); got != "beta" {
		t.Errorf("after rotation b = %q", got)
	}
}

var encBlock = regexp.MustCompile(`-----BEGIN AGE ENCRYPTED FILE-----[^-]*-----END AGE ENCRYPTED FILE-----`)

func encs(data []byte) []string {
	var out []string
	for _, m := range encBlock.FindAll(data, -1) {
		out = append(out, string(m))
	}
	return out
}

func TestSetRecipientsAddsAndRemovesWhoCanOpen(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	d, err := Decrypt(sealed(t, alice, "k", "v"), alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetRecipients([]string{alice.Recipient().String(), bob.Recipient().String()}); err != nil {
		t.Fatal(err)
	}
	both, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*age.X25519Identity{alice, bob} {
		if _, err := Decrypt(both, id); err != nil {
			t.Errorf("a recipient cannot open the file: %v", err)
		}
	}
	if err := d.SetRecipients([]string{bob.Recipient().String()}); err != nil {
		t.Fatal(err)
	}
	// Removing a recipient is only safe with a new data key: the old one
	// is in the removed recipient's hands (or history).
	if err := d.RotateDataKey(); err != nil {
		t.Fatal(err)
	}
	bobOnly, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decrypt(bobOnly, alice); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("removed recipient: err = %v; want ErrNoIdentity", err)
	}
	if _, err := Decrypt(bobOnly, bob); err != nil {
		t.Errorf("remaining recipient: %v", err)
	}
	if err := d.SetRecipients(nil); err == nil {
		t.Error("SetRecipients(nil) succeeded; a file needs a recipient")
	}
	if err := d.SetRecipients([]string{"age1notarecipient"}); err == nil {
		t.Error("SetRecipients accepted an invalid recipient")
	}
}

func TestWrongIdentityNamesTheRecipients(t *testing.T) {
	owner, stranger := newIdentity(t), newIdentity(t)
	data := sealed(t, owner, "k", "v")
	for name, ids := range map[string][]age.Identity{"wrong key": {stranger}, "no key": nil} {
		_, err := Decrypt(data, ids...)
		if !errors.Is(err, ErrNoIdentity) {
			t.Fatalf("%s: err = %v; want ErrNoIdentity", name, err)
		}
		if !strings.Contains(err.Error(), owner.Recipient().String()) {
			t.Errorf("%s: error does not name the recipient: %v", name, err)
		}
	}
	// Any of several identities may open it.
	if _, err := Decrypt(data, stranger, owner); err != nil {
		t.Errorf("with the owner among the identities: %v", err)
	}
}

// TestEveryTamperingIsErrMAC edits a sealed file the ways a hand edit, a bad
// merge or an attacker without the data key could.
func TestEveryTamperingIsErrMAC(t *testing.T) {
	id := newIdentity(t)
	data := string(sealed(t, id, "db_password", "hunter2", "api_token", "abc123", "third", "x"))
	vals := sealedValues([]byte(data))
	macRE := regexp.MustCompile(`(?m)^(\s+mac: )(.*)$`)
	lmRE := regexp.MustCompile(`(?m)^(\s+lastmodified: )"?([^"\n]*)"?$`)
	flipData := func(enc string) string {
		m := encRE.FindStringSubmatch(enc)
		raw, _ := base64.StdEncoding.DecodeString(m[1])
		raw[0] ^= 1
		return strings.Replace(enc, m[1], base64.StdEncoding.EncodeToString(raw), 1)
	}
	lm := lmRE.FindStringSubmatch(data)[2]
	lmTime, err := time.Parse(time.RFC3339, lm)
	if err != nil {
		t.Fatal(err)
	}
	otherMAC := macRE.FindStringSubmatch(string(sealed(t, id, "db_password", "other")))[2]
	cases := map[string]string{
		"value bit flipped":   strings.Replace(data, vals["db_password"], flipData(vals["db_password"]), 1),
		"values swapped":      strings.NewReplacer(vals["db_password"], vals["api_token"], vals["api_token"], vals["db_password"]).Replace(data),
		"key renamed":         strings.Replace(data, "db_password:", "db_passwd:", 1),
		"value emptied":       strings.Replace(data, vals["third"], `""`, 1),
		"value in clear":      strings.Replace(data, vals["third"], "plain", 1),
		"value removed":       strings.Replace(data, "third: "+vals["third"]+"\n", "", 1),
		"value added":         strings.Replace(data, "\nsops:", "\nextra: "+vals["third"]+"\nsops:", 1),
		"keys reordered":      strings.Replace(data, "db_password: "+vals["db_password"]+"\napi_token: "+vals["api_token"], "api_token: "+vals["api_token"]+"\ndb_password: "+vals["db_password"], 1),
		"mac bit flipped":     macRE.ReplaceAllStringFunc(data, func(s string) string { m := macRE.FindStringSubmatch(s); return m[1] + flipData(m[2]) }),
		"mac from other file": macRE.ReplaceAllString(data, "${1}"+otherMAC),
		"mac removed":         macRE.ReplaceAllString(data, "${1}\"\""),
		"lastmodified moved":  lmRE.ReplaceAllString(data, "${1}"+lmTime.Add(time.Second).Format(time.RFC3339)),
		"lastmodified junk":   lmRE.ReplaceAllString(data, "${1}yesterday"),
	}
	for name, tampered := range cases {
		t.Run(name, func(t *testing.T) {
			if tampered == data {
				t.Fatal("the edit did not change the file")
			}
			_, err := Decrypt([]byte(tampered), id)
			if !errors.Is(err, ErrMAC) {
				t.Fatalf("err = %v; want ErrMAC\n%s", err, tampered)
			}
			for _, secret := range []string{"hunter2", "abc123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains a secret value: %v", err)
				}
			}
		})
	}
}

func TestNestedValuesOfEveryType(t *testing.T) {
	id := newIdentity(t)
	plain := `# head comment
str: hello
int: 42
float: 1.5
bool: true
nothing: null
nested:
  inner: value # inline comment
  list:
    - one
    - 2
    - key: in a list
public_unencrypted: visible
`
	data := sealPlain(t, id, plain)
	if !bytes.Contains(data, []byte("public_unencrypted: visible")) {
		t.Errorf("the _unencrypted value was sealed:\n%s", data)
	}
	for _, typ := range []string{"type:str", "type:int", "type:float", "type:bool", "type:comment"} {
		if !bytes.Contains(data, []byte(typ)) {
			t.Errorf("no %s value in:\n%s", typ, data)
		}
	}
	if bytes.Contains(data, []byte("head comment")) || bytes.Contains(data, []byte("in a list")) {
		t.Errorf("a comment or nested value is in clear:\n%s", data)
	}
	d, err := Decrypt(data, id)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := map[string]string{"str": "hello", "int": "42", "float": "1.5", "bool": "true", "nothing": "", "public_unencrypted": "visible"}
	for k, v := range want {
		if got, ok := d.Get(k); !ok || got != v {
			t.Errorf("Get(%q) = %q, %v; want %q", k, got, ok, v)
		}
	}
	if _, ok := d.Get("nested"); ok {
		t.Error("Get of a mapping reported ok")
	}
	plainOut, err := emitYAML(d.branches)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"# head comment", "# inline comment", "key: in a list", "- 2"} {
		if !bytes.Contains(plainOut, []byte(s)) {
			t.Errorf("opened document lacks %q:\n%s", s, plainOut)
		}
	}
	// A nested value is bound to its path and covered by the MAC.
	inner := regexp.MustCompile(`inner: (ENC\[[^\]]*\])`).FindSubmatch(data)[1]
	str := sealedValues(data)["str"]
	swapped := strings.NewReplacer(string(inner), str, str, string(inner)).Replace(string(data))
	if _, err := Decrypt([]byte(swapped), id); !errors.Is(err, ErrMAC) {
		t.Errorf("nested value swapped with a top-level one: err = %v; want ErrMAC", err)
	}
}

func TestEncryptRefusesNamesThatWouldStayInClear(t *testing.T) {
	id := newIdentity(t)
	for _, name := range []string{"token_unencrypted", "sops"} {
		d, err := New([]string{id.Recipient().String()})
		if err != nil {
			t.Fatal(err)
		}
		d.Set(name, "secret")
		if _, err := d.Encrypt(); !errors.Is(err, ErrFormat) {
			t.Errorf("Set(%q): Encrypt err = %v; want ErrFormat", name, err)
		}
	}
}

func TestNotSOPSAndMalformed(t *testing.T) {
	id := newIdentity(t)
	cases := map[string]struct {
		data string
		want error
	}{
		"plain yaml":        {"a: b\n", ErrNotSOPS},
		"empty":             {"", ErrNotSOPS},
		"not yaml":          {"a: [\n", ErrFormat},
		"sops not a map":    {"a: b\nsops: 3\n", ErrFormat},
		"top-level list":    {"- a\n- b\n", ErrFormat},
		"duplicate keys":    {"a: 1\na: 2\n", ErrFormat},
		"key groups":        {"a: b\nsops:\n    key_groups:\n        - age: []\n    lastmodified: \"2024-01-01T00:00:00Z\"\n", ErrFormat},
		"no age recipients": {"a: b\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: x\n", ErrNoIdentity},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decrypt([]byte(c.data), id); !errors.Is(err, c.want) {
				t.Errorf("err = %v; want %v", err, c.want)
			}
		})
	}
}

func TestJSONFilesOpen(t *testing.T) {
	id := newIdentity(t)
	d, err := Decrypt(sealed(t, id, "k", "v"), id)
	if err != nil {
		t.Fatal(err)
	}
	// A sops JSON file holds the same tree; JSON is YAML to the parser.
	var b strings.Builder
	b.WriteString("{\n")
	b.WriteString(`  "k": "` + sealedValues(must(d.Encrypt()))["k"] + `",` + "\n")
	b.WriteString(`  "sops": {"age": [{"recipient": "` + id.Recipient().String() + `", "enc": ` + jsonString(d.md.age[0].enc) + `}], "lastmodified": "` + d.md.lastModified + `", "mac": "` + d.md.mac + `", "unencrypted_suffix": "_unencrypted", "version": "3.13.3"}` + "\n}\n")
	d2, err := Decrypt([]byte(b.String()), id)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got, _ := d2.Get("k"); got != "v" {
		t.Errorf("k = %q", got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func TestInspectNeedsNoKey(t *testing.T) {
	alice, bob := newIdentity(t), newIdentity(t)
	d, err := New([]string{alice.Recipient().String(), bob.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	d.Set("b", "1")
	d.Set("a", "2")
	before := time.Now().Add(-time.Second)
	data, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Inspect(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Names, []string{"b", "a"}) {
		t.Errorf("Names = %v", m.Names)
	}
	if !slices.Equal(m.Recipients, []string{alice.Recipient().String(), bob.Recipient().String()}) {
		t.Errorf("Recipients = %v", m.Recipients)
	}
	if m.Version != formatVersion || m.LastModified.Before(before.Truncate(time.Second)) {
		t.Errorf("Version %q LastModified %v", m.Version, m.LastModified)
	}
	if _, err := Inspect([]byte("a: b\n")); !errors.Is(err, ErrNotSOPS) {
		t.Errorf("Inspect of plain YAML: %v", err)
	}
}

func TestDecryptFileNamesTheFile(t *testing.T) {
	owner, stranger := newIdentity(t), newIdentity(t)
	path := filepath.Join(t.TempDir(), "prod.yaml")
	if err := os.WriteFile(path, sealed(t, owner, "k", "v"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := DecryptFile(path, stranger)
	if !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v; want ErrNoIdentity naming %s", err, path)
	}
	d, err := DecryptFile(path, owner)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Get("k"); got != "v" {
		t.Errorf("k = %q", got)
	}
}

func FuzzDecrypt(f *testing.F) {
	// A fixed identity keeps the seeds meaningful across runs.
	id, err := age.ParseX25519Identity("AGE-SECRET-KEY-1T87YL8P4JVZL6Q6KDP5JZWSZ5ZQ7T28303XVAFNFM95ACKQXERYQD832H3")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed(f, id, "a", "b", "c", "d"))
	f.Add(sealPlain(f, id, "x:\n  - 1\n  - {y: z} # c\n# foot\n"))
	f.Add([]byte("a: &x [*x]\nsops: {}\n"))
	f.Add([]byte("a: b\nsops:\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:AA==,iv:,tag:AA==,type:str]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		d, err := Decrypt(data, id)
		if err == nil {
			// What opens must seal again and open to the same names.
			out, err := d.Encrypt()
			if err != nil {
				return
			}
			d2, err := Decrypt(out, id)
			if err != nil {
				t.Fatalf("resealed file does not open: %v", err)
			}
			if !slices.Equal(d.Names(), d2.Names()) {
				t.Fatalf("names changed: %v -> %v", d.Names(), d2.Names())
			}
		}
		_, _ = Inspect(data)
	})
}

func TestBytesAndTimeValuesOpen(t *testing.T) {
	c, err := newValueCipher(make([]byte, dataKeySize))
	if err != nil {
		t.Fatal(err)
	}
	// sops's binary store seals bytes; the type is outside the seal, so a
	// str value relabelled bytes opens as bytes.
	s, err := c.seal("raw\x00bytes", "data:")
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.open(strings.Replace(s, "type:str", "type:bytes", 1), "data:")
	if b, ok := v.([]byte); err != nil || !ok || string(b) != "raw\x00bytes" {
		t.Errorf("bytes opened as %#v, %v", v, err)
	}
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	s, err = c.seal(when, "when:")
	if err != nil || !strings.HasSuffix(s, "type:time]") {
		t.Fatalf("time sealed as %q, %v", s, err)
	}
	v, err = c.open(s, "when:")
	if tv, ok := v.(time.Time); err != nil || !ok || !tv.Equal(when) {
		t.Errorf("time opened as %#v, %v", v, err)
	}
	d := &Doc{branches: []branch{{{key: "when", value: when}, {key: "raw", value: []byte("x")}}}}
	for name, want := range map[string]string{"when": "2024-05-06T07:08:09Z", "raw": "x"} {
		if got, ok := d.Get(name); !ok || got != want {
			t.Errorf("Get(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, err := c.open(strings.Replace(s, "type:time", "type:nonsense", 1), "when:"); err == nil {
		t.Error("an unknown type opened")
	}
}

// BenchmarkDecrypt10 opens a file of ten secrets (the MAC check included).
func BenchmarkDecrypt10(b *testing.B) {
	id := newIdentity(b)
	var kv []string
	for i := range 10 {
		kv = append(kv, "secret_"+strconv.Itoa(i), "value-"+strconv.Itoa(i)+"-0123456789abcdef")
	}
	data := sealed(b, id, kv...)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decrypt(data, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncrypt10 seals a file of ten secrets for one recipient.
func BenchmarkEncrypt10(b *testing.B) {
	id := newIdentity(b)
	d, err := New([]string{id.Recipient().String()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		d.Set("secret_"+strconv.Itoa(i), "value-"+strconv.Itoa(i)+"-0123456789abcdef")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Encrypt(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRelabelledTypeIsErrMACWithoutTheValue(t *testing.T) {
	id := newIdentity(t)
	data := sealed(t, id, "token", "s3cretvalue")
	// The type is outside the seal; a value relabelled int opens as text
	// that is not a number, and the parse error must not quote it.
	for _, typ := range []string{"int", "float", "bool", "time"} {
		tampered := bytes.Replace(data, []byte("type:str]"), []byte("type:"+typ+"]"), 1)
		_, err := Decrypt(tampered, id)
		if !errors.Is(err, ErrMAC) {
			t.Errorf("%s: err = %v; want ErrMAC", typ, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cretvalue") {
			t.Errorf("%s: the error quotes the secret: %v", typ, err)
		}
	}
}

func TestOtherMasterKeysAreKeptUntilTheDataKeyChanges(t *testing.T) {
	id := newIdentity(t)
	data := sealed(t, id, "k", "v")
	pgp := "    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          enc: opaque\n          fp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n"
	withPGP := bytes.Replace(data, []byte("    lastmodified:"), []byte(pgp+"    lastmodified:"), 1)
	d, err := Decrypt(withPGP, id)
	if err != nil {
		t.Fatal(err)
	}
	d.Set("k", "v2")
	out, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(pgp)) {
		t.Errorf("the pgp key was not kept:\n%s", out)
	}
	if err := d.RotateDataKey(); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "pgp") {
		t.Errorf("RotateDataKey with a pgp key: err = %v; want ErrFormat naming pgp", err)
	}
}

func TestHybridPostQuantumRecipient(t *testing.T) {
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	d, err := New([]string{pq.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	d.Set("k", "v")
	data, err := d.Encrypt()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Decrypt(data, pq)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := d2.Get("k"); got != "v" {
		t.Errorf("k = %q", got)
	}
	_, err = Decrypt(data, newIdentity(t))
	if !errors.Is(err, ErrNoIdentity) || strings.Contains(err.Error(), pq.Recipient().String()) || !strings.Contains(err.Error(), pq.Recipient().String()[:40]) {
		t.Errorf("err = %v; want ErrNoIdentity naming the recipient abbreviated", err)
	}
}
