package sops

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// nonceSize is the GCM nonce sops uses for every value: 32 bytes, not the
// usual 12 (crypto/cipher hashes a longer nonce into the counter block).
const nonceSize = 32

// encRE is the pattern sops matches a sealed value with; the same pattern
// accepts the same inputs.
var encRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// macOnlyEncryptedPrefix starts the MAC of a file with mac_only_encrypted, so
// that such a MAC never equals the MAC over all values (sops v3.9+).
var macOnlyEncryptedPrefix = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// valueCipher seals and opens single values with the data key. It remembers
// the nonce each opened value had so that sealing the same value at the same
// place again gives the same text: unchanged secrets stay unchanged in git
// diffs, as with sops. A nonce is reused only for the identical plaintext and
// associated data under the same key, which reveals nothing new.
type valueCipher struct {
	aead  cipher.AEAD // nonce size nonceSize, for sealing
	block cipher.Block
	stash map[string][]byte
}

func newValueCipher(key []byte) (*valueCipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithNonceSize(block, nonceSize)
	if err != nil {
		return nil, err
	}
	return &valueCipher{aead: aead, block: block, stash: map[string][]byte{}}, nil
}

func stashKey(ad, typ string, plain []byte) string {
	return ad + "\x00" + typ + "\x00" + string(plain)
}

// encode returns the sops type name and the bytes sops seals for a value.
func encode(v any) (typ string, plain []byte, err error) {
	switch v := v.(type) {
	case string:
		return "str", []byte(v), nil
	case []byte:
		// sops turns bytes into a string before sealing.
		return "str", v, nil
	case int:
		return "int", []byte(strconv.Itoa(v)), nil
	case float64:
		return "float", []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		// Titlecase, as the original Python sops wrote booleans.
		if v {
			return "bool", []byte("True"), nil
		}
		return "bool", []byte("False"), nil
	case time.Time:
		b, err := v.MarshalText()
		return "time", b, err
	case comment:
		return "comment", []byte(v.text), nil
	}
	return "", nil, fmt.Errorf("a value of type %T cannot be sealed", v)
}

func (c *valueCipher) seal(v any, ad string) (string, error) {
	typ, plain, err := encode(v)
	if err != nil {
		return "", err
	}
	if len(plain) == 0 && typ != "int" && typ != "float" && typ != "bool" && typ != "time" {
		// sops leaves empty strings and comments empty rather than sealed.
		return "", nil
	}
	sk := stashKey(ad, typ, plain)
	iv, ok := c.stash[sk]
	if !ok {
		iv = make([]byte, nonceSize)
		if _, err := rand.Read(iv); err != nil {
			return "", err
		}
	}
	out := c.aead.Seal(nil, iv, plain, []byte(ad))
	tag := len(out) - c.aead.Overhead()
	return "ENC[AES256_GCM,data:" + base64.StdEncoding.EncodeToString(out[:tag]) +
		",iv:" + base64.StdEncoding.EncodeToString(iv) +
		",tag:" + base64.StdEncoding.EncodeToString(out[tag:]) +
		",type:" + typ + "]", nil
}

var (
	errNotSealed = errors.New("not a sealed value")
	errOpen      = errors.New("does not open with the data key")
)

// open reverses seal. An empty string opens to an empty string, as in sops.
func (c *valueCipher) open(s, ad string) (any, error) {
	if s == "" {
		return "", nil
	}
	m := encRE.FindStringSubmatch(s)
	if m == nil {
		return nil, errNotSealed
	}
	data, err1 := base64.StdEncoding.DecodeString(m[1])
	iv, err2 := base64.StdEncoding.DecodeString(m[2])
	tag, err3 := base64.StdEncoding.DecodeString(m[3])
	if errors.Join(err1, err2, err3) != nil || len(iv) == 0 {
		return nil, errNotSealed
	}
	aead := c.aead
	var err error
	if len(iv) != nonceSize {
		if aead, err = cipher.NewGCMWithNonceSize(c.block, len(iv)); err != nil {
			return nil, errNotSealed
		}
	}
	plain, err := aead.Open(nil, iv, append(data, tag...), []byte(ad))
	if err != nil {
		return nil, errOpen
	}
	typ := m[4]
	var v any
	switch typ {
	case "str":
		v = string(plain)
	case "int":
		v, err = strconv.Atoi(string(plain))
	case "float":
		v, err = strconv.ParseFloat(string(plain), 64)
	case "bool":
		v, err = strconv.ParseBool(string(plain))
	case "bytes":
		v = plain
	case "time":
		var t time.Time
		err = t.UnmarshalText(plain)
		v = t
	case "comment":
		v = comment{text: string(plain)}
	default:
		return nil, fmt.Errorf("unknown value type %q", typ)
	}
	if err != nil {
		// Not wrapped: strconv's and time's errors quote the plaintext.
		return nil, fmt.Errorf("sealed value of type %s does not parse as one", typ)
	}
	c.stash[stashKey(ad, cmpType(typ), plain)] = iv
	return v, nil
}

// cmpType is the type a value opened as typ is sealed as again.
func cmpType(typ string) string {
	if typ == "bytes" {
		return "str"
	}
	return typ
}

// macBytes is what the MAC hashes for a value (sops's ToBytes).
func macBytes(v any) ([]byte, error) {
	if c, ok := v.(comment); ok {
		return []byte(c.text), nil
	}
	_, b, err := encode(v)
	return b, err
}

// rules decide which values are sealed; they are the file's metadata
// settings (at most one is set; none means unencrypted_suffix _unencrypted).
type rules struct {
	UnencryptedSuffix       string
	EncryptedSuffix         string
	UnencryptedRegex        string
	EncryptedRegex          string
	UnencryptedCommentRegex string
	EncryptedCommentRegex   string
	MACOnlyEncrypted        bool

	compiled map[string]*regexp.Regexp
}

func (r *rules) match(expr, s string) bool {
	re, ok := r.compiled[expr]
	if !ok {
		// An invalid expression matches nothing, as in sops.
		re, _ = regexp.Compile(expr)
		if r.compiled == nil {
			r.compiled = map[string]*regexp.Regexp{}
		}
		r.compiled[expr] = re
	}
	return re != nil && re.MatchString(s)
}

// sealed reports whether the value at path (with the comments seen before
// it, one list per level) is sealed; sops's shouldBeEncrypted.
func (r *rules) sealed(path []string, comments [][]string, isComment bool) bool {
	sealed := true
	if r.UnencryptedSuffix != "" {
		for _, p := range path {
			if strings.HasSuffix(p, r.UnencryptedSuffix) {
				sealed = false
				break
			}
		}
	}
	if r.EncryptedSuffix != "" {
		sealed = false
		for _, p := range path {
			if strings.HasSuffix(p, r.EncryptedSuffix) {
				sealed = true
				break
			}
		}
	}
	if r.UnencryptedRegex != "" {
		for _, p := range path {
			if r.match(r.UnencryptedRegex, p) {
				sealed = false
				break
			}
		}
	}
	if r.EncryptedRegex != "" {
		sealed = false
		for _, p := range path {
			if r.match(r.EncryptedRegex, p) {
				sealed = true
				break
			}
		}
	}
	if r.UnencryptedCommentRegex != "" {
	unencrypted:
		for _, cs := range comments {
			for _, c := range cs {
				if r.match(r.UnencryptedCommentRegex, c) {
					sealed = false
					break unencrypted
				}
			}
		}
	}
	if r.EncryptedCommentRegex != "" {
		sealed = false
		last := len(comments) - 1
	encrypted:
		for i, cs := range comments {
			for j, c := range cs {
				// The comment line that matches is itself left in clear.
				if isComment && i == last && j == len(comments[last])-1 {
					continue
				}
				if r.match(r.EncryptedCommentRegex, c) {
					sealed = true
					break encrypted
				}
			}
		}
	}
	return sealed
}

// String names the rule in effect, for messages.
func (r *rules) String() string {
	for _, f := range []struct{ name, v string }{
		{"unencrypted_suffix", r.UnencryptedSuffix}, {"encrypted_suffix", r.EncryptedSuffix},
		{"unencrypted_regex", r.UnencryptedRegex}, {"encrypted_regex", r.EncryptedRegex},
		{"unencrypted_comment_regex", r.UnencryptedCommentRegex}, {"encrypted_comment_regex", r.EncryptedCommentRegex},
	} {
		if f.v != "" {
			return fmt.Sprintf("%s %q", f.name, f.v)
		}
	}
	return "no rule"
}

func (r *rules) newMAC() hash.Hash {
	h := sha512.New()
	if r.MACOnlyEncrypted {
		h.Write(macOnlyEncryptedPrefix)
	}
	return h
}

// leafFunc is called for every leaf (value or comment) in walk order, with
// the path of keys leading to it and the comments seen at each level.
type leafFunc func(v any, path []string, comments [][]string) (any, error)

// walk visits leaves in the order sops does (which fixes the MAC) and
// replaces each with what fn returns.
func walkBranch(b branch, path []string, comments [][]string, fn leafFunc) error {
	comments = append(comments[:len(comments):len(comments)], nil)
	top := len(comments) - 1
	for i, it := range b {
		if c, ok := it.key.(comment); ok {
			comments[top] = append(comments[top], c.text)
			v, err := fn(c, path, comments)
			if err != nil {
				return err
			}
			switch v := v.(type) {
			case comment:
				b[i].key = v
			case string:
				b[i].key = comment{text: v, inline: c.inline}
			default:
				return fmt.Errorf("comment became a %T", v)
			}
			continue
		}
		c, valueIsComment := it.value.(comment)
		if valueIsComment {
			comments[top] = append(comments[top], c.text)
		}
		key, ok := it.key.(string)
		if !ok {
			return fmt.Errorf("key of type %T; only string keys are supported", it.key)
		}
		v, err := walkValue(it.value, append(path[:len(path):len(path)], key), comments, fn)
		if err != nil {
			return err
		}
		b[i].value = v
		if !valueIsComment {
			comments[top] = nil
		}
	}
	return nil
}

func walkList(list []any, path []string, comments [][]string, fn leafFunc) error {
	comments = append(comments[:len(comments):len(comments)], nil)
	top := len(comments) - 1
	for i, v := range list {
		c, isComment := v.(comment)
		if isComment {
			comments[top] = append(comments[top], c.text)
		}
		nv, err := walkValue(v, path, comments, fn)
		if err != nil {
			return err
		}
		list[i] = nv
		if !isComment {
			comments[top] = nil
		}
	}
	return nil
}

func walkValue(v any, path []string, comments [][]string, fn leafFunc) (any, error) {
	switch v := v.(type) {
	case nil:
		// Nothing to seal in a null, and nothing for the MAC.
		return nil, nil
	case branch:
		return v, walkBranch(v, path, comments, fn)
	case []any:
		return v, walkList(v, path, comments, fn)
	case []byte:
		return fn(string(v), path, comments)
	case string, int, float64, bool, time.Time, comment:
		return fn(v, path, comments)
	}
	return nil, fmt.Errorf("at %s: a value of type %T is not supported", strings.Join(path, "."), v)
}

// additionalData binds a sealed value to its place: the keys on its path,
// each followed by ':'.
func additionalData(path []string) string { return strings.Join(path, ":") + ":" }

// sealTree seals every value the rules select, in place, and returns the MAC
// (upper-case hex SHA-512) over the plaintext values.
func sealTree(branches []branch, r *rules, c *valueCipher) (string, error) {
	h := r.newMAC()
	for _, b := range branches {
		err := walkBranch(b, nil, nil, func(v any, path []string, comments [][]string) (any, error) {
			_, isComment := v.(comment)
			sealed := r.sealed(path, comments, isComment)
			if !isComment && (!r.MACOnlyEncrypted || sealed) {
				bs, err := macBytes(v)
				if err != nil {
					return nil, err
				}
				h.Write(bs)
			}
			if !sealed {
				return v, nil
			}
			out, err := c.seal(v, additionalData(path))
			if isComment && out == "" {
				return v, err
			}
			return out, err
		})
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%X", h.Sum(nil)), nil
}

// openTree opens every sealed value in place and returns the MAC over the
// plaintext. A comment that does not open is kept as it is (older sops left
// comments in clear); a value that does not open is an error naming its path.
func openTree(branches []branch, r *rules, c *valueCipher) (string, error) {
	h := r.newMAC()
	for _, b := range branches {
		err := walkBranch(b, nil, nil, func(v any, path []string, comments [][]string) (any, error) {
			cm, isComment := v.(comment)
			sealed := r.sealed(path, comments, isComment)
			out := v
			if sealed {
				ad := additionalData(path)
				var err error
				switch v := v.(type) {
				case comment:
					// An empty comment stays a comment (sops would turn it
					// into an empty string in a sequence).
					if out, err = c.open(v.text, ad); err != nil || v.text == "" {
						out = cm
					}
				case string:
					if out, err = c.open(v, ad); err != nil {
						return nil, &valueError{path: path, err: err}
					}
				default:
					return nil, &valueError{path: path, err: errNotSealed}
				}
			}
			if _, isComment := out.(comment); !isComment && (!r.MACOnlyEncrypted || sealed) {
				bs, err := macBytes(out)
				if err != nil {
					return nil, err
				}
				h.Write(bs)
			}
			return out, nil
		})
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%X", h.Sum(nil)), nil
}

// valueError is a value that should be sealed and is not, or does not open.
type valueError struct {
	path []string
	err  error
}

func (e *valueError) Error() string {
	return fmt.Sprintf("value at %s: %v", strings.Join(e.path, "."), e.err)
}

func (e *valueError) Unwrap() error { return e.err }
