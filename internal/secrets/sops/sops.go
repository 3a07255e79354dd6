// Package sops reads and writes SOPS files (the format of getsops/sops
// v3.13.3) sealed for age recipients, and the .sops.yaml creation rules that
// say who a file is sealed for. Files it writes open with the real `sops -d`
// and files sops writes open here, so developers may use either tool.
//
// Every value is sealed with AES-256-GCM under a random 32-byte data key,
// with the value's key path as associated data; the data key is sealed for
// each age recipient; a MAC (SHA-512 of the plaintext values, sealed with the
// data key and the lastmodified time) detects any edit made without the data
// key. Keys stay in clear.
//
// It imports nothing of quai: the keyring, the engine and the CLI build on
// it. It must never log or return a secret value in an error.
package sops

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
)

// Errors, wrapped with %w; each message says what to do.
var (
	// ErrNotSOPS: the data has no sops metadata.
	ErrNotSOPS = errors.New("not a SOPS file (no sops metadata): seal it with `quai secrets set` or `sops -e -i`")
	// ErrMAC: a value, the MAC or lastmodified changed without the data key.
	// The callers, who know the file, say how to repair it.
	ErrMAC = errors.New("SOPS file fails its integrity check (MAC mismatch)")
	// ErrNoIdentity: none of the given age identities opens the data key.
	ErrNoIdentity = errors.New("no available age identity opens this SOPS file")
	// ErrFormat: the data is not a SOPS file quai can read or write.
	ErrFormat = errors.New("malformed SOPS file")
)

// Doc is an opened (decrypted) SOPS document: the plaintext tree, the data
// key and the metadata. Its zero value is not usable; get one from New or
// Decrypt. A Doc is not safe for concurrent use.
type Doc struct {
	branches []branch // plaintext; the first document holds the names
	key      []byte
	cipher   *valueCipher
	md       metadata
	// set are the names given values through Set: Encrypt refuses to leave
	// any of them in clear.
	set map[string]bool
}

// New returns an empty document sealed for recipients, with a fresh data
// key.
func New(recipients []string) (*Doc, error) {
	d := &Doc{
		branches: []branch{{}},
		md:       metadata{version: formatVersion, rules: rules{UnencryptedSuffix: defaultUnencryptedSuffix}},
		set:      map[string]bool{},
	}
	if err := d.RotateDataKey(); err != nil {
		return nil, err
	}
	if err := d.SetRecipients(recipients); err != nil {
		return nil, err
	}
	return d, nil
}

// Decrypt opens a SOPS file (YAML, or JSON, which the YAML parser reads too)
// with any of the identities and verifies its MAC. Errors wrap ErrNotSOPS,
// ErrFormat, ErrNoIdentity or ErrMAC; they never contain a value.
func Decrypt(data []byte, ids ...age.Identity) (*Doc, error) {
	branches, md, err := load(data)
	if err != nil {
		return nil, err
	}
	key, err := unwrapKey(md.age, ids)
	if err != nil {
		return nil, err
	}
	c, err := newValueCipher(key)
	if err != nil {
		return nil, err
	}
	mac, err := openTree(branches, &md.rules, c)
	if _, ok := errors.AsType[*valueError](err); ok {
		return nil, fmt.Errorf("%w: %w", ErrMAC, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	ad, err := lastModifiedAD(md.lastModified)
	if err != nil {
		return nil, fmt.Errorf("%w: lastmodified %q is not an RFC 3339 time", ErrMAC, md.lastModified)
	}
	stored, err := c.open(md.mac, ad)
	if err != nil || md.mac == "" {
		return nil, fmt.Errorf("%w: the MAC does not open with the data key and lastmodified", ErrMAC)
	}
	if stored != mac {
		return nil, fmt.Errorf("%w: the values do not match the MAC", ErrMAC)
	}
	return &Doc{branches: branches, key: key, cipher: c, md: md, set: map[string]bool{}}, nil
}

// DecryptFile is Decrypt of the file at path, with errors that name it.
func DecryptFile(path string, ids ...age.Identity) (*Doc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Decrypt(data, ids...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func load(data []byte) ([]branch, metadata, error) {
	branches, err := parseYAML(data)
	if err != nil {
		return nil, metadata{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if len(branches) == 0 {
		return nil, metadata{}, ErrNotSOPS
	}
	md, err := extractMetadata(branches)
	return branches, md, err
}

// Meta is what a SOPS file says about itself, readable without any key.
type Meta struct {
	Names        []string  // top-level keys, file order (keys are in clear in SOPS)
	Recipients   []string  // age recipients the data key is sealed for
	LastModified time.Time // when the file was last sealed
	Version      string    // the sops format version that wrote it
}

// Inspect reads a SOPS file's names and metadata without opening it.
func Inspect(data []byte) (Meta, error) {
	branches, md, err := load(data)
	if err != nil {
		return Meta{}, err
	}
	m := Meta{Names: names(branches[0]), Version: md.version}
	for _, k := range md.age {
		m.Recipients = append(m.Recipients, k.recipient)
	}
	if t, err := time.Parse(time.RFC3339, md.lastModified); err == nil {
		m.LastModified = t
	}
	return m, nil
}

func names(b branch) []string {
	var out []string
	for _, it := range b {
		if k, ok := it.key.(string); ok {
			out = append(out, k)
		}
	}
	return out
}

// Names returns the top-level keys in file order.
func (d *Doc) Names() []string { return names(d.branches[0]) }

func (d *Doc) find(name string) int {
	return slices.IndexFunc(d.branches[0], func(it item) bool { return it.key == name })
}

// Get returns the top-level value name as text (numbers and booleans as YAML
// writes them). It reports false when there is no such name or its value is
// a mapping or a sequence.
func (d *Doc) Get(name string) (string, bool) {
	i := d.find(name)
	if i < 0 {
		return "", false
	}
	switch v := d.branches[0][i].value.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case []byte:
		return string(v), true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return v.Format(time.RFC3339Nano), true
	}
	return "", false
}

// Set adds or replaces the top-level string value name. A replaced value
// keeps its place and its comments; a new one goes last.
func (d *Doc) Set(name, value string) {
	d.set[name] = true
	if i := d.find(name); i >= 0 {
		d.branches[0][i].value = value
		return
	}
	d.branches[0] = append(d.branches[0], item{key: name, value: value})
}

// Delete removes the top-level name and reports whether it was there.
func (d *Doc) Delete(name string) bool {
	i := d.find(name)
	if i < 0 {
		return false
	}
	d.branches[0] = slices.Delete(d.branches[0], i, i+1)
	delete(d.set, name)
	return true
}

// Recipients returns the age recipients the data key is sealed for.
func (d *Doc) Recipients() []string {
	out := make([]string, 0, len(d.md.age))
	for _, k := range d.md.age {
		out = append(out, k.recipient)
	}
	return out
}

// SetRecipients seals the data key for exactly these age recipients (order
// kept, duplicates dropped). Recipients already there keep their sealed key.
func (d *Doc) SetRecipients(recipients []string) error {
	var next []ageKey
	for _, r := range recipients {
		r = strings.TrimSpace(r)
		if r == "" || slices.ContainsFunc(next, func(k ageKey) bool { return k.recipient == r }) {
			continue
		}
		if i := slices.IndexFunc(d.md.age, func(k ageKey) bool { return k.recipient == r }); i >= 0 && d.md.age[i].enc != "" {
			next = append(next, d.md.age[i])
			continue
		}
		enc, err := wrapKey(d.key, r)
		if err != nil {
			return fmt.Errorf("%w: recipient %q: %w", ErrFormat, short(r), err)
		}
		next = append(next, ageKey{recipient: r, enc: enc})
	}
	if len(next) == 0 {
		return fmt.Errorf("%w: no age recipient given; a file must be sealed for at least one (age1…)", ErrFormat)
	}
	d.md.age = next
	return nil
}

// RotateDataKey replaces the data key with a fresh one and seals it for the
// same recipients (what `sops rotate` does). Values are sealed anew on the
// next Encrypt.
func (d *Doc) RotateDataKey() error {
	if len(d.md.foreign) > 0 {
		return fmt.Errorf("%w: the file is also sealed for non-age keys (%s) quai cannot seal a new data key for; rotate it with `sops rotate -i`", ErrFormat, foreignNames(d.md.foreign))
	}
	key := make([]byte, dataKeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	c, err := newValueCipher(key)
	if err != nil {
		return err
	}
	recipients := d.Recipients()
	d.key, d.cipher = key, c
	d.md.age = nil
	if len(recipients) == 0 {
		return nil
	}
	return d.SetRecipients(recipients)
}

func foreignNames(b branch) string {
	var out []string
	for _, it := range b {
		out = append(out, it.key.(string))
	}
	return strings.Join(out, ", ")
}

// Encrypt seals the document and returns it as SOPS YAML (which the real
// `sops -d` opens). Values left unchanged since Decrypt keep their sealed
// text, so a diff shows only what changed.
func (d *Doc) Encrypt() ([]byte, error) {
	if len(d.md.age) == 0 {
		return nil, fmt.Errorf("%w: no age recipient; a file must be sealed for at least one", ErrFormat)
	}
	for name := range d.set {
		if name == metadataKey {
			return nil, fmt.Errorf("%w: %q is the name sops keeps its metadata under; choose another name", ErrFormat, name)
		}
		if !d.md.rules.sealed([]string{name}, nil, false) {
			return nil, fmt.Errorf("%w: %q would be stored in clear by the file's rule (%s); choose another name", ErrFormat, name, &d.md.rules)
		}
	}
	sealed := cloneBranches(d.branches)
	mac, err := sealTree(sealed, &d.md.rules, d.cipher)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	encMAC, err := d.cipher.seal(mac, now)
	if err != nil {
		return nil, err
	}
	d.md.lastModified, d.md.mac = now, encMAC
	d.md.version = formatVersion
	meta := d.md.toBranch()
	for i := range sealed {
		sealed[i] = append(sealed[i], item{key: metadataKey, value: meta})
	}
	return emitYAML(sealed)
}

func cloneBranches(bs []branch) []branch {
	out := make([]branch, len(bs))
	for i, b := range bs {
		out[i] = cloneValue(b).(branch)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case branch:
		out := make(branch, len(v))
		for i, it := range v {
			out[i] = item{key: it.key, value: cloneValue(it.value)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}
