// Package dockere2e tests quai end to end on a real Docker Engine: the
// users-api example (Go API, static frontend, PostgreSQL) deployed through
// the CLI and the daemon, its images built locally through the Engine API
// (FROM scratch images of static binaries, PostgreSQL from the host's
// Debian packages tagged as postgres:15 so the stack file stays as users
// write it). Nothing is pulled. Without an engine the tests skip, except
// in CI (CI=true), where they fail.
package dockere2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
)

func TestMain(m *testing.M) { daemontest.Main(m) }

// exampleDir is the users-api example in this repository.
const exampleDir = "../../../examples/users-api"

// engine connects to the Docker Engine and makes the PostgreSQL image the
// example's `image: postgres:15` names. It returns the engine's address for
// the daemon.
func engine(t *testing.T) (*client.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("deploys on a real Docker Engine")
	}
	cli := dockertest.Engine(t)
	pg := dockertest.PostgresImage(t, cli)
	dockertest.TagImage(t, cli, pg, "postgres:15")
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = client.DefaultDockerHost
	}
	return cli, host
}

// project copies the example's stack, overlays and Dockerfiles into a new
// directory named users-api and builds its static binaries into bin/, as
// `make -C examples/users-api` does. overlays maps more files to write
// (relative path to content).
func project(t *testing.T, overlays map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "users-api")
	for _, f := range []string{"compose.yaml", "envs/dev.yaml", "envs/staging.yaml", "envs/prod.yaml", "api/Dockerfile", "web/Dockerfile"} {
		b, err := os.ReadFile(filepath.Join(exampleDir, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), string(b))
	}
	for f, body := range overlays {
		writeFile(t, filepath.Join(dir, f), body)
	}
	for _, p := range []string{"api", "web"} {
		dockertest.GoBuildStatic(t, exampleDir, "./"+p, filepath.Join(dir, "bin", p))
	}
	return dir
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setVersion sets the APP_VERSION the stack interpolates (image tags and
// the api's environment): a new value replaces api and web.
func setVersion(t *testing.T, dir, v string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, ".env"), "APP_VERSION="+v+"\n")
}

// quai runs a CLI verb against the daemon at socket and returns its output
// and exit code.
func quai(t *testing.T, socket string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	code := cli.Run(ctx, append([]string{"--socket", socket}, args...), strings.NewReader(""), &out, &out)
	return out.String(), code
}

// mustQuai runs a verb that must succeed.
func mustQuai(t *testing.T, socket string, args ...string) string {
	t.Helper()
	out, code := quai(t, socket, args...)
	if code != 0 {
		t.Fatalf("quai %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// site talks to an instance through quai's proxy.
type site struct {
	base string // http://proxy
	host string
	hc   *http.Client
}

func newSite(proxyAddr, host string) *site {
	return &site{base: "http://" + proxyAddr, host: host, hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

func (s *site) do(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Host = s.host
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode, nil
}

type user struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (s *site) createUser(t *testing.T, name string) user {
	t.Helper()
	var u user
	if _, err := s.do(http.MethodPost, "/api/users", map[string]string{"name": name, "email": name + "@example.com"}, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// hasUser checks that the user is still in the database.
func (s *site) hasUser(t *testing.T, u user, when string) {
	t.Helper()
	var got user
	if _, err := s.do(http.MethodGet, fmt.Sprintf("/api/users/%d", u.ID), nil, &got); err != nil || got.Email != u.Email {
		t.Fatalf("%s: user %d is %+v (%v); want %+v", when, u.ID, got, err, u)
	}
}

func (s *site) version(t *testing.T) string {
	t.Helper()
	var v struct {
		Version string `json:"version"`
	}
	if _, err := s.do(http.MethodGet, "/api/version", nil, &v); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// containers lists the instance's containers: id → started-at, by the
// labels the docker runtime puts on them.
func containers(t *testing.T, cli *client.Client, instance, service string) map[string]string {
	t.Helper()
	ctx := context.Background()
	f := client.Filters{}.Add("label", "quai.instance="+instance)
	if service != "" {
		f = f.Add("label", "quai.service="+service)
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range list.Items {
		ins, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[c.ID] = ins.Container.State.StartedAt
	}
	return out
}
