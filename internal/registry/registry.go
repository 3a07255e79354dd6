// Package registry owns what quai knows of image registries: the
// credentials the Docker config holds for a registry host, and the
// references quai pushes and pins (host[:port]/prefix/project-service:tag,
// repo@sha256:digest).
//
// It reads the same config.json as the docker CLI ($DOCKER_CONFIG, else
// ~/.docker), so `docker login` is how a user gives quai a registry's
// credentials. Credential helpers (credsStore, credHelpers) are not run:
// a registry whose credentials only a helper holds is an error that says
// so. It imports the standard library only, so the engine and every runtime
// may use it.
package registry

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Sentinel errors; messages that wrap them say which file and registry.
var (
	// ErrConfig is a Docker config file that cannot be read or parsed.
	ErrConfig = errors.New("unreadable docker config")
	// ErrCredentialHelper is a registry whose credentials a Docker
	// credential helper keeps, which quai does not run.
	ErrCredentialHelper = errors.New("credential helpers are not supported")
	// ErrReference is a malformed registry URL or image reference.
	ErrReference = errors.New("invalid image reference")
)

// ConfigFileName is the Docker config's file name inside its directory.
const ConfigFileName = "config.json"

// ConfigDir is the Docker config directory: dir when set, else
// $DOCKER_CONFIG, else ~/.docker (what the docker CLI uses).
func ConfigDir(dir string) string {
	if dir != "" {
		return dir
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/"
	}
	return filepath.Join(home, ".docker")
}

// Auth is what the Docker config holds for one registry host. A zero
// Username, Password and IdentityToken means no credentials (an anonymous
// registry).
type Auth struct {
	// Host is the registry's host[:port].
	Host string
	// ConfigFile is the config.json the credentials were looked up in,
	// for messages.
	ConfigFile    string
	Username      string
	Password      string
	IdentityToken string
}

// Anonymous reports whether the config holds no credentials for the host.
func (a Auth) Anonymous() bool {
	return a.Username == "" && a.Password == "" && a.IdentityToken == ""
}

// Header encodes the credentials as the Docker Engine API's
// X-Registry-Auth header (base64url JSON); "" when anonymous.
func (a Auth) Header() string {
	if a.Anonymous() {
		return ""
	}
	b, _ := json.Marshal(map[string]string{
		"username": a.Username, "password": a.Password, "identitytoken": a.IdentityToken, "serveraddress": a.Host,
	})
	return base64.URLEncoding.EncodeToString(b)
}

// DockerConfigJSON is a config.json that holds only the given
// credentials (anonymous ones are left out): the content of a Kubernetes
// kubernetes.io/dockerconfigjson pull Secret.
func DockerConfigJSON(auths ...Auth) []byte {
	entries := map[string]any{}
	for _, a := range auths {
		if a.Anonymous() {
			continue
		}
		entry := map[string]string{
			"username": a.Username, "password": a.Password,
			"auth": base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password)),
		}
		if a.IdentityToken != "" {
			entry["identitytoken"] = a.IdentityToken
		}
		entries[a.Host] = entry
	}
	b, _ := json.Marshal(map[string]any{"auths": entries})
	return b
}

// configFile is the part of config.json quai reads.
type configFile struct {
	Auths       map[string]authEntry `json:"auths"`
	CredsStore  string               `json:"credsStore"`
	CredHelpers map[string]string    `json:"credHelpers"`
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// Lookup returns the credentials for host (host[:port]) from the Docker
// config in dir (see ConfigDir). A missing config file or no entry for the
// host is an anonymous Auth, not an error: the registry may be public.
func Lookup(dir, host string) (Auth, error) {
	path := filepath.Join(ConfigDir(dir), ConfigFileName)
	a := Auth{Host: host, ConfigFile: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	} else if err != nil {
		return a, fmt.Errorf("registry %s: %w %s: %w", host, ErrConfig, path, err)
	}
	var cf configFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return a, fmt.Errorf("registry %s: %w %s: %w; fix the file or log in again (docker login %s)", host, ErrConfig, path, err, host)
	}
	var e authEntry
	for key, v := range cf.Auths {
		if normalizeHost(key) == host {
			e = v
			break
		}
	}
	if e.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return a, fmt.Errorf("registry %s: %w %s: auths.%s.auth is not base64: %w; log in again (docker login %s)", host, ErrConfig, path, host, err, host)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return a, fmt.Errorf("registry %s: %w %s: auths.%s.auth is not user:password; log in again (docker login %s)", host, ErrConfig, path, host, host)
		}
		a.Username, a.Password = user, pass
	}
	a.Username = cmp.Or(e.Username, a.Username)
	a.Password = cmp.Or(e.Password, a.Password)
	a.IdentityToken = e.IdentityToken
	if a.Anonymous() {
		// docker login with a credsStore leaves an empty auths entry.
		if helper := cmp.Or(cf.CredHelpers[host], cf.CredsStore); helper != "" {
			return a, fmt.Errorf("registry %s: %s keeps its credentials in the docker-credential-%s helper: %w; "+
				"put them in %s itself (an auths entry with auth: base64 of user:password) or use a Docker config without credsStore (DOCKER_CONFIG)",
				host, path, helper, ErrCredentialHelper, path)
		}
	}
	return a, nil
}

// normalizeHost turns a config.json auths key (which may be a URL such as
// https://index.docker.io/v1/) into host[:port].
func normalizeHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	if key = strings.ToLower(key); key == "index.docker.io" || key == "registry-1.docker.io" {
		return "docker.io"
	}
	return key
}

var (
	hostRe    = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)
	segmentRe = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)
	digestRe  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	tagRe     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// ParseURL checks a registry URL (host[:port][/prefix...], no scheme) and
// returns its host and its repository prefix ("" when none). The host
// must hold a dot or a port, or be localhost, so that it cannot be taken
// for a Docker Hub user name.
func ParseURL(url string) (host, prefix string, err error) {
	if strings.Contains(url, "://") {
		return "", "", fmt.Errorf("%w: %q: write host[:port]/prefix without the scheme", ErrReference, url)
	}
	host, prefix, _ = strings.Cut(strings.TrimSuffix(url, "/"), "/")
	if !hostRe.MatchString(host) {
		return "", "", fmt.Errorf("%w: %q: %q is not a registry host; write host[:port]/prefix, e.g. registry.example.com/team", ErrReference, url, host)
	}
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return "", "", fmt.Errorf("%w: %q: a registry host has a dot or a port (e.g. registry.example.com or localhost:5000), or the name would be a Docker Hub user", ErrReference, url)
	}
	if prefix != "" {
		for _, seg := range strings.Split(prefix, "/") {
			if !segmentRe.MatchString(seg) {
				return "", "", fmt.Errorf("%w: %q: path component %q must be lowercase letters and digits, separated by . _ or -", ErrReference, url, seg)
			}
		}
	}
	return host, prefix, nil
}

// Repository is the repository quai pushes a service's image to:
// <url>/<project>-<service>.
func Repository(url, project, service string) string {
	return strings.TrimSuffix(url, "/") + "/" + project + "-" + service
}

// ValidTag reports whether tag is a valid image tag.
func ValidTag(tag string) bool { return tagRe.MatchString(tag) }

// Pinned returns repo@digest.
func Pinned(repo, digest string) string { return repo + "@" + digest }

// SplitPinned splits a repo@sha256:<hex> reference; ok is false for any
// other reference (a tag, an image id).
func SplitPinned(ref string) (repo, digest string, ok bool) {
	repo, digest, ok = strings.Cut(ref, "@")
	if !ok || repo == "" || !digestRe.MatchString(digest) {
		return "", "", false
	}
	return repo, digest, true
}

// IsPinned reports whether ref is repo@sha256:<64 hex digits>.
func IsPinned(ref string) bool {
	_, _, ok := SplitPinned(ref)
	return ok
}

// HostOf returns the registry host of an image reference as the Docker
// Engine reads it: the first path component when it has a dot or a port
// or is localhost, else Docker Hub ("docker.io").
func HostOf(ref string) string {
	first, rest, ok := strings.Cut(ref, "/")
	if ok && rest != "" && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return strings.ToLower(first)
	}
	return "docker.io"
}

// TagOf returns the tag of an image reference ("" when it has none or is
// pinned by digest).
func TagOf(ref string) string {
	if strings.Contains(ref, "@") {
		return ""
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, _ := strings.Cut(last, ":")
	return tag
}
