// Package secrets owns how quai keeps secret values unreadable at rest: the
// host's master key (DATA_DIR/master.key) and sealing with it (AES-256-GCM,
// bound by associated data to where a sealed value belongs); the daemon's
// age keys, one per (org, env) and generation, sealed with the master key
// (Keyring); changing a project's sealed files for the `quai secrets` verbs
// (Keyring.Change) and opening them for a deploy (Opener).
//
// It imports nothing of quai but internal/fsutil and its SOPS codec
// (internal/secrets/sops), so the store, the engine and the daemon may all
// use it.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/quai-dev/quai/internal/fsutil"
)

// Errors, wrapped with %w.
var (
	// ErrUnseal: a sealed value does not open with this key and associated
	// data (another key, another place, or tampered bytes).
	ErrUnseal = errors.New("sealed value does not open")
	// ErrBadKey: the key file is not a key.
	ErrBadKey = errors.New("invalid master key")
)

// KeySize is the size of a master key in bytes (AES-256).
const KeySize = 32

// KeyFileMode is the mode of the master key file: the daemon's user only.
const KeyFileMode os.FileMode = 0o600

// sealVersion is the first byte of every sealed value, so the format can
// change without guessing.
const sealVersion = 1

// Key is a master key. It is safe for concurrent use.
type Key struct {
	aead cipher.AEAD
	// mac is a key derived from the master key for MAC, so fingerprints
	// never use the sealing key itself.
	mac []byte
}

// NewKey makes a Key of KeySize raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	return &Key{aead: aead, mac: hmacSum(raw, []byte("quai mac key"))}, nil
}

// MAC returns HMAC-SHA256 of data under a key derived from the master key
// for purpose: a fingerprint that says whether two values are equal and
// nothing else about them to whoever lacks the master key.
func (k *Key) MAC(purpose string, data []byte) []byte {
	return hmacSum(hmacSum(k.mac, []byte(purpose)), data)
}

func hmacSum(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// LoadOrCreateKey reads the master key at path, creating it (32 random
// bytes, mode 0600) when there is none. Creation is atomic: concurrent
// callers all end up with the one key that was written first. A key file
// readable by others is tightened to 0600 and the change logged to log
// (which may be nil).
func LoadOrCreateKey(path string, log *slog.Logger) (*Key, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", path, err)
	}
	if _, err := Restrict(path, KeyFileMode, log); err != nil {
		return nil, fmt.Errorf("master key %s: %w", path, err)
	}
	k, err := NewKey(raw)
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w; restore it from a backup (without it no sealed value can be read)", path, err)
	}
	return k, nil
}

// createKey writes a new key unless another process created one first,
// and returns the key in place.
func createKey(path string) ([]byte, error) {
	raw := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	err := fsutil.CreateFile(path, raw, KeyFileMode)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// Seal encrypts plain bound to ad: it opens only with the same key and ad.
func (k *Key) Seal(plain, ad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		// The system's random source does not fail on Linux; sealing with a
		// repeated nonce would be worse than stopping.
		panic("secrets: read random nonce: " + err.Error())
	}
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, plain, ad)
}

// Open decrypts what Seal returned for the same ad; ErrUnseal otherwise.
func (k *Key) Open(sealed, ad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: not a sealed value", ErrUnseal)
	}
	plain, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key or associated data, or altered bytes", ErrUnseal)
	}
	return plain, nil
}

// Restrict removes from path's mode every permission bit mode lacks, and
// logs the change to log (which may be nil). It reports whether it changed
// anything; a missing file is not an error.
func Restrict(path string, mode os.FileMode, log *slog.Logger) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	old := fi.Mode().Perm()
	if old&^mode == 0 {
		return false, nil
	}
	if err := os.Chmod(path, old&mode); err != nil {
		return false, fmt.Errorf("restrict %s to %v: %w", path, mode, err)
	}
	if log != nil {
		log.Warn("tightened the mode of a file holding secrets: it was readable by others",
			"path", path, "old_mode", old.String(), "new_mode", (old & mode).String())
	}
	return true, nil
}
