package stack

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
)

// Alphabets of generated values.
const (
	alnumAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rsaBits       = 3072
)

// NewValue makes a new random value of the kind g asks for; the engine
// generates one at first install, `quai catalog install` to seal it in the
// installed folder.
func (g *Generate) NewValue() ([]byte, error) {
	switch g.Kind {
	case GenerateHex32:
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(b)), nil
	case GenerateRSA:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	default:
		return randomString([]rune(cmp.Or(g.Alphabet, alnumAlphabet)), max(g.Length, 16))
	}
}

// randomString draws n characters uniformly from alphabet (rejection
// sampling, so no character is more likely than another).
func randomString(alphabet []rune, n int) ([]byte, error) {
	alphabet = slices.Compact(slices.Sorted(slices.Values(alphabet)))
	if len(alphabet) < 2 || len(alphabet) > 256 {
		return nil, fmt.Errorf("an alphabet of %d characters cannot make a secret: %w", len(alphabet), ErrInvalid)
	}
	limit := 256 - 256%len(alphabet)
	var b strings.Builder
	buf := make([]byte, 64)
	for count := 0; count < n; {
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		for _, c := range buf {
			if int(c) < limit && count < n {
				b.WriteRune(alphabet[int(c)%len(alphabet)])
				count++
			}
		}
	}
	return []byte(b.String()), nil
}
