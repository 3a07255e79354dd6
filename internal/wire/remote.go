package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// FingerprintPrefix starts every certificate fingerprint quai prints and
// accepts: "sha256:" and 64 lowercase hex digits.
const FingerprintPrefix = "sha256:"

// ErrBadFingerprint is returned by ParseFingerprint.
var ErrBadFingerprint = errors.New("not a SHA-256 certificate fingerprint")

// CertFingerprint is the SHA-256 fingerprint of a DER certificate, the
// form `quai serve` prints for pinning and `quai login --fingerprint` takes.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return FingerprintPrefix + hex.EncodeToString(sum[:])
}

// ParseFingerprint normalizes a fingerprint as users paste it: with or
// without "sha256:" (or "SHA256 Fingerprint=", as openssl prints it), in
// either case, with or without colons.
func ParseFingerprint(s string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"sha256 fingerprint=", "sha256:", "sha256="} {
		if strings.HasPrefix(v, p) {
			v = v[len(p):]
			break
		}
	}
	v = strings.ReplaceAll(v, ":", "")
	if b, err := hex.DecodeString(v); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w: %q (want sha256: and 64 hex digits, as `quai info` on the server prints)", ErrBadFingerprint, s)
	}
	return FingerprintPrefix + v, nil
}

// Uploads of project folders (`quai up` to a remote daemon).
const (
	// UploadsPath is where project folders are uploaded: PUT
	// UploadsPath/{hash}?org=ORG with a gzip-compressed tar body, HEAD to
	// ask whether the daemon has it already. The hash is UploadHash of the
	// uncompressed tar.
	UploadsPath = "/uploads"
	// UploadOrg is the query parameter naming the organization an upload
	// belongs to (the instance's); empty means the default one.
	UploadOrg = "org"
	// MaxUploadBytes bounds the uncompressed tar of one project upload.
	MaxUploadBytes = 256 << 20
	// MaxUploadEntries bounds the files and directories of one upload.
	MaxUploadEntries = 50000
)

// UploadHash is how uploads are named: the SHA-256 of the uncompressed tar,
// in hex.
func UploadHash(sum []byte) string { return hex.EncodeToString(sum) }

// ValidUploadHash reports whether h is 64 lowercase hex digits.
func ValidUploadHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// UploadResult answers an upload: what the daemon unpacked.
type UploadResult struct {
	Hash  string `json:"hash"`
	Bytes int64  `json:"bytes"`
	Files int    `json:"files"`
}
