package secrets

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/quai-dev/quai/internal/secrets/sops"
)

// ErrNoSecret: a sealed file holds no secret of that name.
var ErrNoSecret = errors.New("no such secret")

// nameRe is the shape of a secret's name: a Compose secret name, which is
// also a plain YAML key.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$`)

// CheckName says whether name can name a sealed secret.
func CheckName(name string) error {
	if !nameRe.MatchString(name) || name == "sops" {
		return fmt.Errorf("%w secret name %q: use letters, digits, '_', '.' and '-' (not \"sops\"), e.g. db_password", ErrInvalid, name)
	}
	return nil
}

// ProjectFile is the project-relative path of env's sealed file: org's own
// (orgs/<org>/secrets/<env>.yaml), or the project's base file
// (secrets/<env>.yaml) when org is "".
func ProjectFile(org, env string) string {
	if org == "" {
		return path.Join("secrets", env+".yaml")
	}
	return path.Join("orgs", org, "secrets", env+".yaml")
}

// FileChange is a change to one sealed project file, made by the daemon,
// which holds the keys: the client sends the file's bytes and gets the new
// ones back; no value ever travels the other way.
type FileChange struct {
	// Org is the org of a per-org file; "" means the base file.
	Org string
	Env string
	// Sealed is the file's current content; empty: the file is new.
	Sealed []byte
	// SealFor are the orgs a new base file is sealed for (one at least).
	SealFor []string
	// Recipients are more recipients of a new file (a .sops.yaml rule's).
	Recipients []string
	// Set adds or replaces values; Delete removes names (each must exist).
	Set    map[string]string
	Delete []string
	// Rotate gives the file a new data key and seals it for the current
	// generation of the keys of its orgs, plus AddOrgs, minus RemoveOrgs
	// (base file only); NewKey first makes a new generation of each.
	Rotate     bool
	AddOrgs    []string
	RemoveOrgs []string
	NewKey     bool
}

// Recipient is a recipient of a sealed file and, when it is one of this
// host's keys, which.
type Recipient struct {
	Recipient string   `json:"recipient"`
	Key       *KeyInfo `json:"key,omitempty"`
}

// FileResult is a sealed file after a FileChange.
type FileResult struct {
	// File is the project-relative path the change was for.
	File   string
	Sealed []byte
	// Recipients are those the file is sealed for (for .sops.yaml).
	Recipients []Recipient
	// Names are the file's secret names after the change, in file order.
	Names []string
	// Created are keys the change created: the user must export them.
	Created []KeyInfo
}

// RecipientStrings returns the recipients as age public keys.
func (f FileResult) RecipientStrings() []string {
	out := make([]string, len(f.Recipients))
	for i, r := range f.Recipients {
		out[i] = r.Recipient
	}
	return out
}

func (c FileChange) check() error {
	if err := CheckScope(scopeOrg(c.Org), c.Env); err != nil {
		return err
	}
	for _, o := range slices.Concat(c.SealFor, c.AddOrgs, c.RemoveOrgs) {
		if err := CheckScope(o, c.Env); err != nil {
			return err
		}
	}
	if c.Org != "" && len(c.AddOrgs)+len(c.RemoveOrgs) > 0 {
		return fmt.Errorf("%w: --add-org and --remove-org change who may open the base file %s; %s is sealed for %s only",
			ErrInvalid, ProjectFile("", c.Env), ProjectFile(c.Org, c.Env), c.Org)
	}
	for name, v := range c.Set {
		if err := CheckName(name); err != nil {
			return err
		}
		if v == "" {
			return fmt.Errorf("%w: the value of %s is empty; a sealed secret needs a value", ErrInvalid, name)
		}
	}
	for _, name := range c.Delete {
		if err := CheckName(name); err != nil {
			return err
		}
	}
	return nil
}

// scopeOrg stands in a valid org for the base file, so CheckScope checks env.
func scopeOrg(org string) string {
	if org == "" {
		return "default"
	}
	return org
}

// Change applies c and returns the file's new sealed content. A new file
// is sealed for the current key of (org, env) — of each org of SealFor for
// the base file — created when there is none (FileResult.Created). An
// existing file is opened with whichever of this host's keys it lists.
func (r *Keyring) Change(c FileChange) (FileResult, error) {
	if err := c.check(); err != nil {
		return FileResult{}, err
	}
	res := FileResult{File: ProjectFile(c.Org, c.Env)}
	doc, err := r.openOrNew(c, &res)
	if err != nil {
		return FileResult{}, err
	}
	for _, name := range slices.Sorted(maps.Keys(c.Set)) {
		doc.Set(name, c.Set[name])
	}
	for _, name := range c.Delete {
		if !doc.Delete(name) {
			return FileResult{}, fmt.Errorf("%w %s in %s; it holds: %s", ErrNoSecret, name, res.File, strings.Join(doc.Names(), ", "))
		}
	}
	if c.Rotate {
		if err := r.rotate(c, doc, &res); err != nil {
			return FileResult{}, err
		}
	}
	out, err := doc.Encrypt()
	if err != nil {
		return FileResult{}, fmt.Errorf("seal %s: %w", res.File, err)
	}
	res.Sealed = out
	res.Names = doc.Names()
	res.Recipients, err = r.describe(doc.Recipients())
	return res, err
}

func (r *Keyring) openOrNew(c FileChange, res *FileResult) (*sops.Doc, error) {
	if len(c.Sealed) > 0 {
		return r.openFile(res.File, c.Sealed)
	}
	if len(c.Delete) > 0 || c.Rotate {
		return nil, fmt.Errorf("%w in %s: the file does not exist; create it with `quai secrets set DIR --env %s NAME`", ErrNoSecret, res.File, c.Env)
	}
	orgs := c.SealFor
	if c.Org != "" {
		orgs = []string{c.Org}
	}
	if len(orgs) == 0 {
		return nil, fmt.Errorf("%w: a new %s must be sealed for one org at least", ErrInvalid, res.File)
	}
	var recips []string
	for _, o := range orgs {
		k, created, err := r.Ensure(o, c.Env)
		if err != nil {
			return nil, err
		}
		if created {
			res.Created = append(res.Created, k)
		}
		recips = append(recips, k.Recipient)
	}
	for _, rc := range c.Recipients {
		if !slices.Contains(recips, rc) {
			recips = append(recips, rc)
		}
	}
	doc, err := sops.New(recips)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", res.File, err)
	}
	return doc, nil
}

// openFile decrypts a project's sealed file with this host's keys that it
// lists, whatever their (org, env): the verbs that change a file act for
// whoever runs the daemon, unlike a deploy, which only ever uses the keys
// of its own (org, env).
func (r *Keyring) openFile(file string, data []byte) (*sops.Doc, error) {
	meta, err := sops.Inspect(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	ids, _, err := r.identitiesFor(meta.Recipients)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w opens %s: it is sealed for %s, none of them a key of this host; import the key with `quai secrets key import FILE`",
			ErrNoKey, file, strings.Join(meta.Recipients, ", "))
	}
	doc, err := sops.Decrypt(data, ids...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return doc, nil
}

// rotate re-seals doc for its orgs' current keys (± c.AddOrgs,
// c.RemoveOrgs) with a new data key. Recipients that are no key of this
// host (a developer's, a break-glass key) stay as they are.
func (r *Keyring) rotate(c FileChange, doc *sops.Doc, res *FileResult) error {
	all, err := r.Keys("", "")
	if err != nil {
		return err
	}
	var orgs, foreign []string
	for _, rc := range doc.Recipients() {
		i := slices.IndexFunc(all, func(k KeyInfo) bool { return k.Recipient == rc })
		switch {
		case i < 0 || all[i].Env != c.Env:
			foreign = append(foreign, rc)
		case !slices.Contains(orgs, all[i].Org):
			orgs = append(orgs, all[i].Org)
		}
	}
	for _, o := range c.RemoveOrgs {
		if !slices.Contains(orgs, o) {
			return fmt.Errorf("%w: %s is not sealed for %s; it is sealed for %s", ErrInvalid, res.File, o, strings.Join(orgs, ", "))
		}
		orgs = slices.DeleteFunc(orgs, func(s string) bool { return s == o })
	}
	for _, o := range c.AddOrgs {
		if !slices.Contains(orgs, o) {
			orgs = append(orgs, o)
		}
	}
	if c.Org != "" && !slices.Contains(orgs, c.Org) {
		orgs = append(orgs, c.Org)
	}
	if len(orgs) == 0 {
		return fmt.Errorf("%w: %s would be sealed for no org of this host; keep one (drop a --remove-org)", ErrInvalid, res.File)
	}
	recips := slices.Clone(foreign)
	for _, o := range orgs {
		var k KeyInfo
		created := false
		if c.NewKey {
			k, err = r.Rotate(o, c.Env)
			created = err == nil
		} else {
			k, created, err = r.Ensure(o, c.Env)
		}
		if err != nil {
			return err
		}
		if created {
			res.Created = append(res.Created, k)
		}
		recips = append(recips, k.Recipient)
	}
	if err := doc.SetRecipients(recips); err != nil {
		return fmt.Errorf("seal %s: %w", res.File, err)
	}
	if err := doc.RotateDataKey(); err != nil {
		return fmt.Errorf("seal %s: %w", res.File, err)
	}
	return nil
}

// describe maps recipients to this host's keys.
func (r *Keyring) describe(recips []string) ([]Recipient, error) {
	all, err := r.Keys("", "")
	if err != nil {
		return nil, err
	}
	out := make([]Recipient, len(recips))
	for i, rc := range recips {
		out[i].Recipient = rc
		if j := slices.IndexFunc(all, func(k KeyInfo) bool { return k.Recipient == rc }); j >= 0 {
			k := all[j]
			out[i].Key = &k
		}
	}
	return out, nil
}

// fileRecipients lists the recipients of a sealed file without opening it.
func fileRecipients(data []byte) ([]string, error) {
	meta, err := sops.Inspect(data)
	if err != nil {
		return nil, err
	}
	return meta.Recipients, nil
}
