package secrets

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/quai-dev/quai/internal/fsutil"
)

// Keyring errors, wrapped with %w.
var (
	// ErrNoKey: the keyring holds no key for what was asked.
	ErrNoKey = errors.New("no age key")
	// ErrKeyInUse: a key generation that a sealed file still lists cannot be retired.
	ErrKeyInUse = errors.New("age key still in use")
	// ErrPassphrase: an exported key bundle does not open with the passphrase given.
	ErrPassphrase = errors.New("wrong passphrase")
	// ErrInvalid: a request names an invalid org, env, generation or secret name.
	ErrInvalid = errors.New("invalid")
)

// KeyDirMode is the mode of DATA_DIR/keys and the directories in it; the
// key files have KeyFileMode.
const KeyDirMode os.FileMode = 0o700

// keyFileVersion is the format of the key files.
const keyFileVersion = 1

// scopeRe is the shape of an organization or environment name, as the stack
// loader accepts them; they become directory names under DATA_DIR/keys.
var scopeRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// KeyInfo describes one generation of an (org, env) key: public facts only.
type KeyInfo struct {
	Org        string    `json:"org"`
	Env        string    `json:"env"`
	Generation int       `json:"generation"`
	Recipient  string    `json:"recipient"`
	Created    time.Time `json:"created"`
	// Current: the newest generation, the one new seals use. Older ones are
	// kept so what they sealed still opens.
	Current bool `json:"current"`
}

// String names the key as the CLI shows it: org/env#generation.
func (k KeyInfo) String() string { return fmt.Sprintf("%s/%s#%d", k.Org, k.Env, k.Generation) }

// keyFile is a key on disk: its public facts in clear and the private
// identity sealed with the master key, bound to (org, env, generation).
type keyFile struct {
	Version    int       `json:"version"`
	Org        string    `json:"org"`
	Env        string    `json:"env"`
	Generation int       `json:"generation"`
	Recipient  string    `json:"recipient"`
	Created    time.Time `json:"created"`
	Sealed     []byte    `json:"sealed"`
}

// Keyring keeps the daemon's age identities, one per (org, env) and
// generation, in DATA_DIR/keys/<org>/<env>/<generation>.key, each sealed
// with the host's master key (files 0600 in directories 0700). Private keys
// live nowhere else: never in the store, never in clear on disk. A key is
// created on first use, and its creation logged with the advice to export
// it, since a lost data directory loses every value sealed only for it.
//
// It is safe for concurrent use; only one daemon uses a data directory.
type Keyring struct {
	dir    string
	master *Key
	log    *slog.Logger
	now    func() time.Time
	// workFactor is the scrypt work factor of passphrase exports; 0 means
	// age's default (2^18, about a second), which tests lower.
	workFactor int

	mu sync.Mutex
}

// NewKeyring returns the keyring kept in dir (DATA_DIR/keys), sealed with
// master. log (may be nil) receives key creations; now is the clock (nil:
// time.Now).
func NewKeyring(dir string, master *Key, log *slog.Logger, now func() time.Time) *Keyring {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Keyring{dir: dir, master: master, log: log, now: now}
}

// CheckScope says whether org and env can name a key.
func CheckScope(org, env string) error {
	if !scopeRe.MatchString(org) {
		return fmt.Errorf("%w organization %q: use lowercase letters, digits and dashes, e.g. acme", ErrInvalid, org)
	}
	if !scopeRe.MatchString(env) {
		return fmt.Errorf("%w environment %q: use lowercase letters, digits and dashes, e.g. prod", ErrInvalid, env)
	}
	return nil
}

// ExportAdvice is what the user is told when a key is created.
func ExportAdvice(k KeyInfo) string {
	return fmt.Sprintf("created the age key %s (%s): export it now with `quai secrets key export --org %s --env %s -o FILE` and keep the file apart from this host; "+
		"if the data directory is lost without that export, every value sealed only for this key is lost with it", k, k.Recipient, k.Org, k.Env)
}

func (r *Keyring) scopeDir(org, env string) string { return filepath.Join(r.dir, org, env) }

func (r *Keyring) keyPath(org, env string, gen int) string {
	return filepath.Join(r.scopeDir(org, env), strconv.Itoa(gen)+".key")
}

func keyAD(org, env string, gen int) []byte {
	return fmt.Appendf(nil, "quai age key\x00%s\x00%s\x00%d", org, env, gen)
}

// generations lists the key files of (org, env), newest first, without
// opening them. The caller holds r.mu.
func (r *Keyring) generations(org, env string) ([]keyFile, error) {
	dir := r.scopeDir(org, env)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys of %s/%s: %w", org, env, err)
	}
	var out []keyFile
	for _, e := range entries {
		num, ok := strings.CutSuffix(e.Name(), ".key")
		gen, err := strconv.Atoi(num)
		if !ok || err != nil || gen < 1 || e.IsDir() {
			continue
		}
		kf, err := r.readKeyFile(org, env, gen)
		if err != nil {
			return nil, err
		}
		out = append(out, kf)
	}
	slices.SortFunc(out, func(a, b keyFile) int { return b.Generation - a.Generation })
	return out, nil
}

func (r *Keyring) readKeyFile(org, env string, gen int) (keyFile, error) {
	path := r.keyPath(org, env, gen)
	b, err := os.ReadFile(path)
	if err != nil {
		return keyFile{}, fmt.Errorf("age key %s/%s#%d: %w", org, env, gen, err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil || kf.Version != keyFileVersion || kf.Org != org || kf.Env != env || kf.Generation != gen {
		return keyFile{}, fmt.Errorf("age key file %s is damaged or not where it belongs; restore the key with `quai secrets key import`", path)
	}
	return kf, nil
}

// open unseals a key file's identity and checks it is the recipient the
// file says.
func (r *Keyring) open(kf keyFile) (*age.X25519Identity, error) {
	path := r.keyPath(kf.Org, kf.Env, kf.Generation)
	plain, err := r.master.Open(kf.Sealed, keyAD(kf.Org, kf.Env, kf.Generation))
	if err != nil {
		return nil, fmt.Errorf("age key file %s: %w; it was sealed with another master key or altered: restore DATA_DIR/master.key, or the key with `quai secrets key import`", path, err)
	}
	id, err := age.ParseX25519Identity(string(plain))
	if err != nil || id.Recipient().String() != kf.Recipient {
		return nil, fmt.Errorf("age key file %s holds no identity of %s; restore the key with `quai secrets key import`", path, kf.Recipient)
	}
	return id, nil
}

func (kf keyFile) info(current bool) KeyInfo {
	return KeyInfo{Org: kf.Org, Env: kf.Env, Generation: kf.Generation, Recipient: kf.Recipient, Created: kf.Created, Current: current}
}

// store writes id as generation gen of (org, env); it fails with
// fs.ErrExist when that generation exists. The caller holds r.mu.
func (r *Keyring) store(org, env string, gen int, id *age.X25519Identity, created time.Time) (KeyInfo, error) {
	if err := os.MkdirAll(r.scopeDir(org, env), KeyDirMode); err != nil {
		return KeyInfo{}, fmt.Errorf("age key %s/%s: %w", org, env, err)
	}
	kf := keyFile{
		Version: keyFileVersion, Org: org, Env: env, Generation: gen,
		Recipient: id.Recipient().String(), Created: created.UTC().Truncate(time.Second),
		Sealed: r.master.Seal([]byte(id.String()), keyAD(org, env, gen)),
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return KeyInfo{}, err
	}
	if err := fsutil.CreateFile(r.keyPath(org, env, gen), append(b, '\n'), KeyFileMode); err != nil {
		return KeyInfo{}, fmt.Errorf("age key %s/%s#%d: %w", org, env, gen, err)
	}
	return kf.info(true), nil
}

// newGeneration creates the next generation of (org, env) and logs the
// advice to export it. The caller holds r.mu.
func (r *Keyring) newGeneration(org, env string) (KeyInfo, error) {
	gens, err := r.generations(org, env)
	if err != nil {
		return KeyInfo{}, err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return KeyInfo{}, fmt.Errorf("generate the age key of %s/%s: %w", org, env, err)
	}
	next := 1
	if len(gens) > 0 {
		next = gens[0].Generation + 1
	}
	k, err := r.store(org, env, next, id, r.now())
	if err != nil {
		return KeyInfo{}, err
	}
	r.log.Warn(ExportAdvice(k), "org", org, "env", env, "generation", k.Generation, "recipient", k.Recipient)
	return k, nil
}

// Ensure returns the current key of (org, env), creating its first
// generation when there is none; created says it did.
func (r *Keyring) Ensure(org, env string) (k KeyInfo, created bool, err error) {
	if err := CheckScope(org, env); err != nil {
		return KeyInfo{}, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	gens, err := r.generations(org, env)
	if err != nil {
		return KeyInfo{}, false, err
	}
	if len(gens) > 0 {
		return gens[0].info(true), false, nil
	}
	k, err = r.newGeneration(org, env)
	return k, err == nil, err
}

// Rotate makes a new generation of (org, env), which new seals use from
// now on; the older generations stay, so what they sealed still opens.
func (r *Keyring) Rotate(org, env string) (KeyInfo, error) {
	if err := CheckScope(org, env); err != nil {
		return KeyInfo{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.newGeneration(org, env)
}

// Keys lists the keys of (org, env), newest generation first; empty
// strings list every org, every env. Nothing is unsealed.
func (r *Keyring) Keys(org, env string) ([]KeyInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	scopes, err := r.scopes(org, env)
	if err != nil {
		return nil, err
	}
	var out []KeyInfo
	for _, s := range scopes {
		gens, err := r.generations(s[0], s[1])
		if err != nil {
			return nil, err
		}
		for i, kf := range gens {
			out = append(out, kf.info(i == 0))
		}
	}
	return out, nil
}

// scopes lists the (org, env) pairs with a key directory, sorted, limited to
// org and env when they are set. The caller holds r.mu.
func (r *Keyring) scopes(org, env string) ([][2]string, error) {
	orgs, err := subdirs(r.dir)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, o := range orgs {
		if org != "" && o != org {
			continue
		}
		envs, err := subdirs(filepath.Join(r.dir, o))
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			if env == "" || e == env {
				out = append(out, [2]string{o, e})
			}
		}
	}
	return out, nil
}

func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("age keys: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && scopeRe.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Identities returns every generation of (org, env)'s key, newest first,
// for decrypting: what an older generation sealed still opens. ErrNoKey
// when (org, env) has none.
func (r *Keyring) Identities(org, env string) ([]age.Identity, []KeyInfo, error) {
	if err := CheckScope(org, env); err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	gens, err := r.generations(org, env)
	if err != nil {
		return nil, nil, err
	}
	if len(gens) == 0 {
		return nil, nil, fmt.Errorf("%w for %s/%s on this host", ErrNoKey, org, env)
	}
	ids := make([]age.Identity, 0, len(gens))
	infos := make([]KeyInfo, 0, len(gens))
	for i, kf := range gens {
		id, err := r.open(kf)
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
		infos = append(infos, kf.info(i == 0))
	}
	return ids, infos, nil
}

// identitiesFor returns the identities of the keys, of any (org, env), whose
// recipients are listed, and those keys.
func (r *Keyring) identitiesFor(recipients []string) ([]age.Identity, []KeyInfo, error) {
	all, err := r.Keys("", "")
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []age.Identity
	var infos []KeyInfo
	for _, k := range all {
		if !slices.Contains(recipients, k.Recipient) {
			continue
		}
		kf, err := r.readKeyFile(k.Org, k.Env, k.Generation)
		if err != nil {
			return nil, nil, err
		}
		id, err := r.open(kf)
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
		infos = append(infos, k)
	}
	return ids, infos, nil
}

// Retire removes generation gen of (org, env) for good. It refuses the
// current generation (make a new one first: `quai secrets rotate --new-key`)
// and a generation that any of files (project-relative path → content)
// still lists as a recipient, naming them: what they seal would be lost.
func (r *Keyring) Retire(org, env string, gen int, files map[string][]byte) (KeyInfo, error) {
	if err := CheckScope(org, env); err != nil {
		return KeyInfo{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	gens, err := r.generations(org, env)
	if err != nil {
		return KeyInfo{}, err
	}
	i := slices.IndexFunc(gens, func(kf keyFile) bool { return kf.Generation == gen })
	if i < 0 {
		return KeyInfo{}, fmt.Errorf("%w %s/%s#%d: `quai secrets key ls` lists the keys", ErrNoKey, org, env, gen)
	}
	k := gens[i].info(i == 0)
	if i == 0 {
		return KeyInfo{}, fmt.Errorf("%w: %s is the current key of %s/%s; make a new generation first with `quai secrets rotate DIR --env %s --new-key`, which re-seals the file",
			ErrKeyInUse, k, org, env, env)
	}
	var users []string
	for _, path := range slices.Sorted(maps.Keys(files)) {
		recips, err := fileRecipients(files[path])
		if err != nil {
			return KeyInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		if slices.Contains(recips, k.Recipient) {
			users = append(users, path)
		}
	}
	if len(users) > 0 {
		return KeyInfo{}, fmt.Errorf("%w: %s is still a recipient of %s; re-seal them with `quai secrets rotate DIR --env %s` (add --org O for orgs/O/...) first",
			ErrKeyInUse, k, strings.Join(users, ", "), env)
	}
	if err := os.Remove(r.keyPath(org, env, gen)); err != nil {
		return KeyInfo{}, fmt.Errorf("retire %s: %w", k, err)
	}
	r.log.Info("retired an age key generation", "org", org, "env", env, "generation", gen, "recipient", k.Recipient)
	return k, nil
}

// exportHeader starts the comment line that precedes each key of an
// export, so an import knows where the key belongs.
const exportHeader = "# quai age key"

// Export returns the keys of (org, env) (empty strings: every org, every
// env), every generation, as an age identity file that `age -d -i` and
// `sops` (SOPS_AGE_KEY_FILE) accept. With a passphrase the file is
// encrypted to it (age's scrypt recipient) and armored, as `age -p -a`
// would; `age -d` opens it, and so does `age -d -i` on the bundle itself.
func (r *Keyring) Export(org, env, passphrase string) ([]byte, []KeyInfo, error) {
	keys, err := r.Keys(org, env)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		what := "on this host"
		if org != "" || env != "" {
			what = fmt.Sprintf("for %s/%s", cmp.Or(org, "*"), cmp.Or(env, "*"))
		}
		return nil, nil, fmt.Errorf("%w %s: `quai secrets key ls` lists the keys", ErrNoKey, what)
	}
	var plain bytes.Buffer
	r.mu.Lock()
	for _, k := range keys {
		kf, err := r.readKeyFile(k.Org, k.Env, k.Generation)
		var id *age.X25519Identity
		if err == nil {
			id, err = r.open(kf)
		}
		if err != nil {
			r.mu.Unlock()
			return nil, nil, err
		}
		fmt.Fprintf(&plain, "%s org=%s env=%s generation=%d created=%s\n# public key: %s\n%s\n",
			exportHeader, k.Org, k.Env, k.Generation, k.Created.UTC().Format(time.RFC3339), k.Recipient, id)
	}
	r.mu.Unlock()
	if passphrase == "" {
		return plain.Bytes(), keys, nil
	}
	rcp, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, nil, fmt.Errorf("%w passphrase: %w", ErrInvalid, err)
	}
	if r.workFactor > 0 {
		rcp.SetWorkFactor(r.workFactor)
	}
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, rcp)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt the key export: %w", err)
	}
	if _, err := w.Write(plain.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("encrypt the key export: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, nil, fmt.Errorf("encrypt the key export: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, nil, fmt.Errorf("encrypt the key export: %w", err)
	}
	return out.Bytes(), keys, nil
}

// ImportResult says what Import stored and what it already had.
type ImportResult struct {
	Imported []KeyInfo `json:"imported"`
	// Present are keys of the bundle the keyring already held (same recipient).
	Present []KeyInfo `json:"present"`
}

// Import stores the keys of data: what Export wrote (armored or binary age
// encrypted with passphrase, or a plain identity file), or any age identity
// file (age-keygen's), whose keys then belong to (org, env). A key keeps its
// generation number when that is free and otherwise becomes the newest
// generation; a key the keyring holds already is left as it is.
func (r *Keyring) Import(data []byte, passphrase, org, env string) (ImportResult, error) {
	plain, err := decryptBundle(data, passphrase)
	if err != nil {
		return ImportResult{}, err
	}
	entries, err := parseIdentityFile(plain, org, env)
	if err != nil {
		return ImportResult{}, err
	}
	held, err := r.Keys("", "")
	if err != nil {
		return ImportResult{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var res ImportResult
	for _, e := range entries {
		rcp := e.id.Recipient().String()
		if i := slices.IndexFunc(held, func(k KeyInfo) bool { return k.Recipient == rcp }); i >= 0 {
			res.Present = append(res.Present, held[i])
			continue
		}
		gens, err := r.generations(e.org, e.env)
		if err != nil {
			return res, err
		}
		gen := e.gen
		if gen < 1 || slices.ContainsFunc(gens, func(kf keyFile) bool { return kf.Generation == gen }) {
			gen = 1
			if len(gens) > 0 {
				gen = gens[0].Generation + 1
			}
		}
		k, err := r.store(e.org, e.env, gen, e.id, cmp.Or(e.created, r.now()))
		if err != nil {
			return res, err
		}
		k.Current = len(gens) == 0 || gen > gens[0].Generation
		held = append(held, k)
		res.Imported = append(res.Imported, k)
		r.log.Info("imported an age key", "org", k.Org, "env", k.Env, "generation", k.Generation, "recipient", k.Recipient)
	}
	return res, nil
}

// decryptBundle opens an age-encrypted (armored or not) key bundle with
// passphrase; anything else is returned as it is, a plain identity file.
func decryptBundle(data []byte, passphrase string) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	var src io.Reader
	switch {
	case bytes.HasPrefix(trimmed, []byte(armor.Header)):
		src = armor.NewReader(bytes.NewReader(trimmed))
	case bytes.HasPrefix(data, []byte("age-encryption.org/")):
		src = bytes.NewReader(data)
	default:
		return data, nil
	}
	if passphrase == "" {
		return nil, fmt.Errorf("%w: the key bundle is encrypted; give the passphrase it was exported with", ErrPassphrase)
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPassphrase, err)
	}
	rd, err := age.Decrypt(src, id)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, fmt.Errorf("%w: the key bundle does not open with this passphrase", ErrPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the key bundle does not open: %w", ErrInvalid, err)
	}
	plain, err := io.ReadAll(io.LimitReader(rd, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: the key bundle is damaged: %w", ErrInvalid, err)
	}
	return plain, nil
}

type importEntry struct {
	org, env string
	gen      int
	created  time.Time
	id       *age.X25519Identity
}

// parseIdentityFile reads the keys of an age identity file; a key preceded
// by Export's header line belongs where the header says, any other to
// (org, env).
func parseIdentityFile(data []byte, org, env string) ([]importEntry, error) {
	var out []importEntry
	var hdr *importEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(text, exportHeader+" "):
			h, err := parseExportHeader(strings.TrimPrefix(text, exportHeader+" "))
			if err != nil {
				return nil, fmt.Errorf("%w key bundle, line %d: %w", ErrInvalid, line, err)
			}
			hdr = &h
		case text == "" || strings.HasPrefix(text, "#"):
		case strings.HasPrefix(text, "AGE-SECRET-KEY-1"):
			id, err := age.ParseX25519Identity(text)
			if err != nil {
				return nil, fmt.Errorf("%w key bundle, line %d: not an age X25519 identity", ErrInvalid, line)
			}
			e := importEntry{org: org, env: env}
			if hdr != nil {
				e = *hdr
			} else if err := CheckScope(org, env); err != nil {
				return nil, fmt.Errorf("the key on line %d says not where it belongs: give --org and --env: %w", line, err)
			}
			e.id = id
			out = append(out, e)
			hdr = nil
		default:
			return nil, fmt.Errorf("%w key bundle, line %d: expected an AGE-SECRET-KEY-1 line or a comment; is this an age identity file or a `quai secrets key export`?", ErrInvalid, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w key bundle: %w", ErrInvalid, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w key bundle: it holds no age identity (AGE-SECRET-KEY-1...)", ErrInvalid)
	}
	return out, nil
}

func parseExportHeader(s string) (importEntry, error) {
	var e importEntry
	for f := range strings.FieldsSeq(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "org":
			e.org = v
		case "env":
			e.env = v
		case "generation":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return e, fmt.Errorf("generation %q is not a positive number", v)
			}
			e.gen = n
		case "created":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return e, fmt.Errorf("created %q is not an RFC 3339 time", v)
			}
			e.created = t
		}
	}
	return e, CheckScope(e.org, e.env)
}
