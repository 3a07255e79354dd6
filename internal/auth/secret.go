package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Token kinds, the middle part of a token.
const (
	// KindPersonal: made with `quai token create`.
	KindPersonal = "pat"
	// KindSession: handed out by a password login.
	KindSession = "ses"
)

// TokenPrefix starts every token, so secret scanners can recognize one.
const TokenPrefix = "quai_"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewToken returns a new token "quai_<kind>_<32 random bytes in base62>".
func NewToken(kind string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a token: %w", err)
	}
	return TokenPrefix + kind + "_" + encode62(b), nil
}

func encode62(b []byte) string {
	n := new(big.Int).SetBytes(b)
	base := big.NewInt(62)
	mod := new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, base62[mod.Int64()])
	}
	// 32 bytes are at most 43 base62 digits; pad so every token has one length.
	for len(out) < 43 {
		out = append(out, '0')
	}
	return string(out)
}

// RandomID returns n random base62 characters (token and hook IDs).
func RandomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate an id: %w", err)
	}
	for i := range b {
		b[i] = base62[int(b[i])%62]
	}
	return string(b), nil
}

// LooksLikeToken reports whether s has a token's shape; it says nothing
// about its validity.
func LooksLikeToken(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return false
	}
	kind, secret, ok := strings.Cut(rest, "_")
	return ok && kind != "" && len(secret) == 43
}

// HashToken is what the store keeps of a token: its SHA-256. A token has
// 256 random bits, so a plain hash is safe and lookups are by equality.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Last4 is the tail shown in listings to tell tokens apart.
func Last4(token string) string { return token[max(0, len(token)-4):] }

// Argon2Params are the argon2id parameters of new password hashes; each
// hash records its own, so they can change without breaking old ones.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 follows OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane).
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// HashPassword returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(password string, p Argon2Params) (string, error) {
	if len(password) < 8 {
		return "", fmt.Errorf("%w: the password is shorter than 8 characters", ErrInvalid)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate a salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC hash, comparing
// in constant time; a malformed hash never matches.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false
	}
	var p Argon2Params
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || threads == 0 || threads > 255 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, uint8(threads), uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
