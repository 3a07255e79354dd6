package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLookup(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("alice:s3:cret"))
	tests := []struct {
		name, config, host string
		user, pass, token  string
		err                error
	}{
		{name: "auth field", config: `{"auths":{"reg.example.com:5000":{"auth":"` + b64 + `"}}}`, host: "reg.example.com:5000", user: "alice", pass: "s3:cret"},
		{name: "url key", config: `{"auths":{"https://reg.example.com/v1/":{"auth":"` + b64 + `"}}}`, host: "reg.example.com", user: "alice", pass: "s3:cret"},
		{name: "docker hub key", config: `{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64 + `"}}}`, host: "docker.io", user: "alice", pass: "s3:cret"},
		{name: "username and password", config: `{"auths":{"reg.example.com":{"username":"bob","password":"pw"}}}`, host: "reg.example.com", user: "bob", pass: "pw"},
		{name: "identity token", config: `{"auths":{"reg.example.com":{"identitytoken":"tok"}}}`, host: "reg.example.com", token: "tok"},
		{name: "other host is anonymous", config: `{"auths":{"reg.example.com":{"auth":"` + b64 + `"}}}`, host: "other.example.com"},
		{name: "no file is anonymous", host: "reg.example.com"},
		{name: "bad json", config: `{"auths":`, host: "reg.example.com", err: ErrConfig},
		{name: "bad base64", config: `{"auths":{"reg.example.com":{"auth":"%%%"}}}`, host: "reg.example.com", err: ErrConfig},
		{name: "auth without colon", config: `{"auths":{"reg.example.com":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("alice")) + `"}}}`, host: "reg.example.com", err: ErrConfig},
		{name: "creds store", config: `{"auths":{"reg.example.com":{}},"credsStore":"desktop"}`, host: "reg.example.com", err: ErrCredentialHelper},
		{name: "cred helper for the host", config: `{"credHelpers":{"reg.example.com":"ecr-login"}}`, host: "reg.example.com", err: ErrCredentialHelper},
		{name: "inline creds win over a store", config: `{"auths":{"reg.example.com":{"auth":"` + b64 + `"}},"credsStore":"desktop"}`, host: "reg.example.com", user: "alice", pass: "s3:cret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.config != "" {
				dir = writeConfig(t, tc.config)
			}
			a, err := Lookup(dir, tc.host)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				file := filepath.Join(dir, ConfigFileName)
				if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.host) {
					t.Errorf("error %q names neither the file %s nor the registry %s", err, file, tc.host)
				}
				if strings.Contains(err.Error(), "s3:cret") {
					t.Errorf("error %q holds the password", err)
				}
				return
			}
			if a.Username != tc.user || a.Password != tc.pass || a.IdentityToken != tc.token || a.Host != tc.host {
				t.Errorf("got %+v", a)
			}
			if a.ConfigFile != filepath.Join(dir, ConfigFileName) {
				t.Errorf("ConfigFile = %q", a.ConfigFile)
			}
		})
	}
}

func TestConfigDir(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "/env/docker")
	if got := ConfigDir("/given"); got != "/given" {
		t.Errorf("ConfigDir(/given) = %q", got)
	}
	if got := ConfigDir(""); got != "/env/docker" {
		t.Errorf("ConfigDir() with DOCKER_CONFIG = %q", got)
	}
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("HOME", "/home/x")
	if got := ConfigDir(""); got != "/home/x/.docker" {
		t.Errorf("ConfigDir() = %q", got)
	}
}

func TestEncodings(t *testing.T) {
	a := Auth{Host: "127.0.0.1:5000", Username: "u", Password: "p"}
	raw, err := base64.URLEncoding.DecodeString(a.Header())
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(raw, &h); err != nil || h["username"] != "u" || h["password"] != "p" || h["serveraddress"] != "127.0.0.1:5000" {
		t.Errorf("header %s: %v", raw, err)
	}
	if (Auth{Host: "x.io"}).Header() != "" {
		t.Error("an anonymous Auth has a header")
	}
	var cfg struct {
		Auths map[string]struct{ Auth, Username, Password string } `json:"auths"`
	}
	if err := json.Unmarshal(DockerConfigJSON(a, Auth{Host: "anonymous.example.com"}), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Auths) != 1 {
		t.Errorf("dockerconfigjson has %d entries, want the one with credentials", len(cfg.Auths))
	}
	e := cfg.Auths["127.0.0.1:5000"]
	if e.Username != "u" || e.Password != "p" || e.Auth != base64.StdEncoding.EncodeToString([]byte("u:p")) {
		t.Errorf("dockerconfigjson entry %+v", e)
	}
}

func TestReferences(t *testing.T) {
	for _, tc := range []struct {
		url, host, prefix string
		ok                bool
	}{
		{"registry.example.com/team", "registry.example.com", "team", true},
		{"127.0.0.1:5000", "127.0.0.1:5000", "", true},
		{"localhost/a/b", "localhost", "a/b", true},
		{"registry.example.com/", "registry.example.com", "", true},
		{"https://registry.example.com", "", "", false},
		{"team/app", "", "", false},
		{"Registry.example.com", "", "", false},
		{"registry.example.com/Team", "", "", false},
	} {
		host, prefix, err := ParseURL(tc.url)
		if (err == nil) != tc.ok || host != tc.host || prefix != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tc.url, host, prefix, err)
		}
		if err != nil && !errors.Is(err, ErrReference) {
			t.Errorf("ParseURL(%q): %v is not ErrReference", tc.url, err)
		}
	}
	d := "sha256:" + strings.Repeat("0a", 32)
	if repo, dig, ok := SplitPinned("127.0.0.1:5000/p-web@" + d); !ok || repo != "127.0.0.1:5000/p-web" || dig != d {
		t.Errorf("SplitPinned = %q %q %v", repo, dig, ok)
	}
	for _, ref := range []string{d, "web:1", "web@sha256:abc", "@" + d, "web@" + strings.ToUpper(d)} {
		if IsPinned(ref) {
			t.Errorf("IsPinned(%q)", ref)
		}
	}
	for ref, want := range map[string]string{"postgres:15": "docker.io", "library/postgres": "docker.io",
		"127.0.0.1:5000/a/b:1": "127.0.0.1:5000", "ghcr.io/x/y": "ghcr.io", "localhost/x": "localhost"} {
		if got := HostOf(ref); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", ref, got, want)
		}
	}
	for ref, want := range map[string]string{"postgres:15": "15", "postgres": "", "127.0.0.1:5000/a": "", "127.0.0.1:5000/a:v2": "v2", "a@" + d: ""} {
		if got := TagOf(ref); got != want {
			t.Errorf("TagOf(%q) = %q, want %q", ref, got, want)
		}
	}
	if got := Repository("127.0.0.1:5000/team/", "shop", "web"); got != "127.0.0.1:5000/team/shop-web" {
		t.Errorf("Repository = %q", got)
	}
}
