package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// metadataKey is the top-level key sops keeps its metadata under.
const metadataKey = "sops"

// formatVersion is the sops release whose file format quai writes.
const formatVersion = "3.13.3"

// foreignKeyTypes are the master keys sops supports besides age. quai cannot
// use them, but keeps their wrapped data key as it was while the data key is
// unchanged, so that a file shared with, say, a KMS key stays usable there.
var foreignKeyTypes = []string{"azure_kv", "gcp_kms", "hc_vault", "hckms", "kms", "pgp"}

// ageKey is one age recipient and the data key sealed for it (an armored
// age file).
type ageKey struct {
	recipient string
	enc       string
}

// metadata is what a SOPS file says about itself under the sops key.
type metadata struct {
	age          []ageKey
	foreign      branch
	lastModified string
	mac          string
	version      string
	rules        rules
}

func scalarText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// extractMetadata removes the sops key from every document and reads the
// first document's.
func extractMetadata(branches []branch) (metadata, error) {
	var md metadata
	var found branch
	for bi, b := range branches {
		kept := b[:0]
		for _, it := range b {
			if it.key != metadataKey {
				kept = append(kept, it)
				continue
			}
			if bi == 0 {
				if found != nil {
					return md, fmt.Errorf("%w: more than one sops key", ErrFormat)
				}
				m, ok := it.value.(branch)
				if !ok {
					return md, fmt.Errorf("%w: the sops key is not a mapping", ErrFormat)
				}
				found = m
			}
		}
		branches[bi] = kept
	}
	if found == nil {
		return md, ErrNotSOPS
	}
	ruleCount := 0
	for _, it := range found {
		key, ok := it.key.(string)
		if !ok {
			continue
		}
		text := func() string { return scalarText(it.value) }
		setRule := func(dst *string) {
			if *dst = text(); *dst != "" {
				ruleCount++
			}
		}
		switch key {
		case "age":
			list, _ := it.value.([]any)
			for _, e := range list {
				m, ok := e.(branch)
				if !ok {
					continue
				}
				var k ageKey
				for _, f := range m {
					switch f.key {
					case "recipient":
						k.recipient = strings.TrimSpace(scalarText(f.value))
					case "enc":
						k.enc = scalarText(f.value)
					}
				}
				md.age = append(md.age, k)
			}
		case "key_groups":
			if list, _ := it.value.([]any); len(list) > 0 {
				return md, fmt.Errorf("%w: the data key is split across key_groups (Shamir), which quai does not support; re-seal the file with one group: sops -r -i --rm-... or quai secrets rotate", ErrFormat)
			}
		case "lastmodified":
			md.lastModified = text()
		case "mac":
			md.mac = text()
		case "version":
			md.version = text()
		case "unencrypted_suffix":
			setRule(&md.rules.UnencryptedSuffix)
		case "encrypted_suffix":
			setRule(&md.rules.EncryptedSuffix)
		case "unencrypted_regex":
			setRule(&md.rules.UnencryptedRegex)
		case "encrypted_regex":
			setRule(&md.rules.EncryptedRegex)
		case "unencrypted_comment_regex":
			setRule(&md.rules.UnencryptedCommentRegex)
		case "encrypted_comment_regex":
			setRule(&md.rules.EncryptedCommentRegex)
		case "mac_only_encrypted":
			md.rules.MACOnlyEncrypted = it.value == true || text() == "true"
		default:
			if slices.Contains(foreignKeyTypes, key) {
				md.foreign = append(md.foreign, it)
			}
		}
	}
	if ruleCount > 1 {
		return md, fmt.Errorf("%w: more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex", ErrFormat)
	}
	if ruleCount == 0 {
		md.rules.UnencryptedSuffix = defaultUnencryptedSuffix
	}
	return md, nil
}

// defaultUnencryptedSuffix leaves keys ending in it in clear, as sops does
// when a file names no rule.
const defaultUnencryptedSuffix = "_unencrypted"

// toBranch is the metadata as sops writes it: keys sorted, empty ones left
// out.
func (md *metadata) toBranch() branch {
	var b branch
	add := func(key string, v any) {
		if v != "" && v != false && v != nil {
			b = append(b, item{key: key, value: v})
		}
	}
	var ages []any
	for _, k := range md.age {
		ages = append(ages, branch{{key: "enc", value: k.enc}, {key: "recipient", value: k.recipient}})
	}
	if len(ages) > 0 {
		add("age", ages)
	}
	b = append(b, md.foreign...)
	r := md.rules
	add("encrypted_comment_regex", r.EncryptedCommentRegex)
	add("encrypted_regex", r.EncryptedRegex)
	add("encrypted_suffix", r.EncryptedSuffix)
	b = append(b, item{key: "lastmodified", value: md.lastModified}, item{key: "mac", value: md.mac})
	add("mac_only_encrypted", r.MACOnlyEncrypted)
	add("unencrypted_comment_regex", r.UnencryptedCommentRegex)
	add("unencrypted_regex", r.UnencryptedRegex)
	add("unencrypted_suffix", r.UnencryptedSuffix)
	b = append(b, item{key: "version", value: md.version})
	slices.SortStableFunc(b, func(x, y item) int { return strings.Compare(x.key.(string), y.key.(string)) })
	return b
}

// parseRecipient accepts the age recipients sops accepts without plugins:
// X25519 (age1…) and hybrid post-quantum (age1pq1…).
func parseRecipient(s string) (age.Recipient, error) {
	if strings.HasPrefix(s, "age1pq1") {
		return age.ParseHybridRecipient(s)
	}
	if strings.HasPrefix(s, "age1") && strings.Count(s, "1") > 1 {
		return nil, fmt.Errorf("age recipient %s is a plugin recipient, which quai does not support", short(s))
	}
	return age.ParseX25519Recipient(s)
}

// wrapKey seals the data key for one recipient as an armored age file, as
// sops does.
func wrapKey(dataKey []byte, recipient string) (string, error) {
	r, err := parseRecipient(recipient)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(dataKey); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// dataKeySize is the AES-256 key every value is sealed with.
const dataKeySize = 32

// unwrapKey opens the data key with any of the identities.
func unwrapKey(keys []ageKey, ids []age.Identity) ([]byte, error) {
	var other []error
	for _, k := range keys {
		if k.enc == "" || len(ids) == 0 {
			continue
		}
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(k.enc)), ids...)
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			continue
		}
		if err != nil {
			other = append(other, fmt.Errorf("data key for %s: %w", short(k.recipient), err))
			continue
		}
		key, err := io.ReadAll(io.LimitReader(r, dataKeySize+1))
		if err != nil {
			other = append(other, fmt.Errorf("data key for %s: %w", short(k.recipient), err))
			continue
		}
		if len(key) != dataKeySize {
			return nil, fmt.Errorf("%w: the data key sealed for %s is %d bytes, not %d", ErrFormat, short(k.recipient), len(key), dataKeySize)
		}
		return key, nil
	}
	recipients := make([]string, 0, len(keys))
	for _, k := range keys {
		recipients = append(recipients, short(k.recipient))
	}
	sealedFor := "no age recipient"
	if len(recipients) > 0 {
		sealedFor = strings.Join(recipients, ", ")
	}
	err := fmt.Errorf("%w: the file is sealed for %s; use the identity of one of them, or have a holder add yours (quai secrets rotate, or sops updatekeys after adding it to .sops.yaml)", ErrNoIdentity, sealedFor)
	if len(other) > 0 {
		err = fmt.Errorf("%w (also: %w)", err, errors.Join(other...))
	}
	return nil, err
}

// short abbreviates hybrid recipients (about 2000 characters) in messages.
func short(recipient string) string {
	if len(recipient) > 80 {
		return recipient[:40] + "…" + recipient[len(recipient)-8:]
	}
	return recipient
}

// lastModifiedAD is the associated data the MAC is sealed with: lastmodified
// as sops formats it after parsing.
func lastModifiedAD(s string) (string, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return "", err
	}
	return t.Format(time.RFC3339), nil
}
