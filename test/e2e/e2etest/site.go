package e2etest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ErrNotFound is what Site.Do returns, wrapped, for a 404 answer.
var ErrNotFound = errors.New("not found")

// Site talks to the users-api example through quai's proxy, or to one
// replica directly when base is the replica's address.
type Site struct {
	base string // http://address
	host string
	hc   *http.Client
}

// NewSite returns a client that sends requests to addr (the proxy's HTTP
// address, or a replica's) with the Host header host.
func NewSite(addr, host string) *Site {
	return &Site{base: "http://" + addr, host: host, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

// Do sends a request with body encoded as JSON when not nil and decodes a
// 2xx answer into out when not nil. A status other than 2xx is an error
// that names it (wrapping ErrNotFound for 404).
func (s *Site) Do(method, path string, body any, out any) (int, error) {
	b, status, err := s.raw(method, path, body)
	if err != nil {
		return status, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return status, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return status, nil
}

func (s *Site) raw(method, path string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Host = s.host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return b, resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, ErrNotFound, bytes.TrimSpace(b))
	case resp.StatusCode/100 != 2:
		return b, resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, resp.StatusCode, nil
}

// User is a user of the example's API.
type User struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// CreateUser creates a user named name (email name@example.com).
func (s *Site) CreateUser(t testing.TB, name string) User {
	t.Helper()
	var u User
	if _, err := s.Do(http.MethodPost, "/api/users", map[string]string{"name": name, "email": name + "@example.com"}, &u); err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Email != name+"@example.com" {
		t.Fatalf("created user %+v, want %s with an id", u, name)
	}
	return u
}

// GetUser fetches the user with u's id and checks it is u.
func (s *Site) GetUser(u User) error {
	var got User
	if _, err := s.Do(http.MethodGet, fmt.Sprintf("/api/users/%d", u.ID), nil, &got); err != nil {
		return err
	}
	if got != u {
		return fmt.Errorf("user %d is %+v, want %+v", u.ID, got, u)
	}
	return nil
}

// HasUser checks that the user is still in the database; when says at
// which step of the test.
func (s *Site) HasUser(t testing.TB, u User, when string) {
	t.Helper()
	if err := s.GetUser(u); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

// Users lists the users.
func (s *Site) Users(t testing.TB) []User {
	t.Helper()
	var us []User
	if _, err := s.Do(http.MethodGet, "/api/users", nil, &us); err != nil {
		t.Fatal(err)
	}
	return us
}

// Version is the APP_VERSION of the API replica that answered.
func (s *Site) Version(t testing.TB) string {
	t.Helper()
	var v struct {
		Version string `json:"version"`
	}
	if _, err := s.Do(http.MethodGet, "/api/version", nil, &v); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// Page fetches the frontend's page at / and checks it is the example's
// HTML page.
func (s *Site) Page() error {
	b, _, err := s.raw(http.MethodGet, "/", nil)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), "<html") || !strings.Contains(string(b), `<script src="app.js"`) {
		return fmt.Errorf("GET /: not the example's page: %.200s", b)
	}
	return nil
}
