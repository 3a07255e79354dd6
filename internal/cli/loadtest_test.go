package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/loadtest"
)

// TestLoadtestInstanceShowsServiceFigures deploys a two-service instance on
// the process runtime, loads its route by instance name and checks the
// report: every request answered, and beside the load each service's own
// CPU, memory, restarts and (for the routed one) 5xx, from the daemon.
func TestLoadtestInstanceShowsServiceFigures(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "lt", Replicas: 2, Worker: true})
	// The size class shows beside the figures it bounds.
	overlay := "services:\n  web:\n    x-quai:\n      size: small\n"
	if err := os.MkdirAll(filepath.Join(dir, "envs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "envs", "dev.yaml"), []byte(overlay), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, d, "up", dir, "--env", "dev", "-y")

	r := mustRun(t, d, "loadtest", "lt-dev", "-c", "8", "-n", "3000", "--json")
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if rep.Completed != 3000 || rep.Failed != 0 || rep.Count(200) != 3000 || !rep.Latency.Exact || rep.Latency.Samples != 3000 {
		t.Errorf("answered %d, failed %d, status %v, latency %+v; want 3000 answered 200, exact", rep.Completed, rep.Failed, rep.Status, rep.Latency)
	}
	if !strings.Contains(rep.URL, "lt.dev.localhost") {
		t.Errorf("loaded %s, want the instance's route", rep.URL)
	}
	in := rep.Instance
	if in == nil || in.Instance != "lt-dev" || in.Polls < 2 || len(in.Services) != 2 {
		t.Fatalf("instance figures %+v; want lt-dev's two services from at least two polls", in)
	}
	for _, s := range in.Services {
		if s.MemoryPeak <= 0 || s.Restarts != 0 {
			t.Errorf("%s: memory peak %d, restarts %d; want its memory and no restart", s.Service, s.MemoryPeak, s.Restarts)
		}
		switch s.Service {
		case "web":
			if !s.Routed || s.Responses5xx != 0 || s.Replicas != 2 || s.CPUPeak <= 0 || s.Size != "small" || s.LimitMilliCPU != 500 {
				t.Errorf("web %+v: want routed, 2 replicas of size small, busy, no 5xx", s)
			}
		case "worker":
			if s.Routed || s.Replicas != 1 {
				t.Errorf("worker %+v: want 1 replica, not routed", s)
			}
		default:
			t.Errorf("unknown service %q", s.Service)
		}
	}

	// The text report puts the same figures side by side.
	txt := mustRun(t, d, "loadtest", "lt-dev/web", "-c", "4", "-n", "500")
	for _, want := range []string{"instance lt-dev, service web", "status    200: 500", "errors    none", "small", "0.5 CPU/512.0MiB",
		"instance lt-dev during the run", "SERVICE", "CPU PEAK", "MEM PEAK", "RESTARTS", "5XX", "worker"} {
		if !strings.Contains(txt.stdout, want) {
			t.Errorf("text report lacks %q", want)
		}
	}

	// A URL of the instance's route is the instance too: loading the test
	// app's /crash makes replicas exit, and the figures show the restarts.
	crash := strings.TrimSuffix(strings.Fields(txt.stdout)[1], "/") + "/crash"
	r = mustRun(t, d, "loadtest", crash, "-c", "1", "--rate", "1", "--duration", "4s", "--json")
	rep = loadtest.Report{}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if rep.Instance == nil || len(rep.Instance.Services) == 0 || rep.Instance.Services[0].Service != "web" || rep.Instance.Services[0].Restarts < 1 {
		t.Errorf("loading %s: instance figures %+v; want web's restarts", crash, rep.Instance)
	}

	// A route the instance does not have.
	if r := run(t, d, "loadtest", "lt-dev/nope", "-n", "1"); r.code != cli.ExitNotFound || !strings.Contains(r.stderr, "its routes: web") {
		t.Errorf("lt-dev/nope: exit %d, %s; want %d naming the routes", r.code, r.stderr, cli.ExitNotFound)
	}
}

// TestLoadtestURL loads a loopback server with a method, headers and a
// body, over HTTP/1.1 and HTTP/2, and reads the text report.
func TestLoadtestURL(t *testing.T) {
	var n, wrong atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPut || r.Header.Get("X-A") != "b c" || string(b) != "payload" {
			wrong.Add(1)
		}
		if r.ProtoMajor == 2 {
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	d := daemontest.Start(t, daemontest.Options{})

	r := mustRun(t, d, "loadtest", srv.URL+"/x", "-c", "5", "-n", "100", "-X", "put", "-H", "X-A: b c", "-d", "payload")
	if !strings.Contains(r.stdout, "HTTP/1.1 PUT, 5 clients, 100 requests") || !strings.Contains(r.stdout, "status    200: 100") {
		t.Errorf("HTTP/1.1 report:\n%s", r.stdout)
	}
	r = mustRun(t, d, "loadtest", srv.URL+"/x", "-c", "5", "-n", "100", "-X", "PUT", "-H", "X-A: b c", "-d", "payload", "--h2")
	if !strings.Contains(r.stdout, "HTTP/2 PUT") || !strings.Contains(r.stdout, "status    202: 100") {
		t.Errorf("HTTP/2 report:\n%s", r.stdout)
	}
	if n.Load() != 200 || wrong.Load() != 0 {
		t.Errorf("server saw %d requests, %d not as asked; want 200, 0", n.Load(), wrong.Load())
	}
	if strings.Contains(r.stdout, "during the run") {
		t.Errorf("a URL that is no instance's shows instance figures:\n%s", r.stdout)
	}
}

// TestLoadtestRefusesExternalTargets: a URL that is neither loopback nor an
// instance's is refused before any request, with the way out in the error.
func TestLoadtestRefusesExternalTargets(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	for _, target := range []string{"http://192.0.2.10/", "https://[2001:db8::1]:8443/api"} {
		r := run(t, d, "loadtest", target, "-n", "1")
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "refusing to load") ||
			!strings.Contains(r.stderr, "not this machine's loopback") || !strings.Contains(r.stderr, "--allow-external") {
			t.Errorf("%s: exit %d, stderr %q; want a refusal naming --allow-external", target, r.code, r.stderr)
		}
	}
	// Through --connect, the traffic goes to loopback: allowed.
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) }))
	defer srv.Close()
	mustRun(t, d, "loadtest", "http://shop.example.com/", "--connect", strings.TrimPrefix(srv.URL, "http://"), "-n", "3")
	if n.Load() != 3 {
		t.Errorf("server saw %d requests through --connect, want 3", n.Load())
	}
}
