// Command alertbench measures the time from a replica crash to its alert
// arriving at a webhook, on the process runtime: it starts a quai daemon
// in-process (temporary data directory, proxy on loopback), deploys a
// service of ROUNDS replicas whose app is this binary, adds a webhook
// channel pointing at its own receiver, then kills one replica's app with
// SIGKILL per round and times the arrival of the webhook that names that
// replica. It prints each round, the median and the median's ratio to the
// 5 s goal (docs: GOALS.md, "alerts").
//
//	go run ./bench/alerts              # 10 rounds
//	go run ./bench/alerts -rounds 20
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/runtime/process"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// appEnv makes this binary the replicas' app.
const appEnv = "ALERTBENCH_APP"

// goal is the figure GOALS.md sets for crash → webhook.
const goal = 5 * time.Second

func main() {
	if process.IsShim() {
		os.Exit(process.ShimMain())
	}
	if os.Getenv(appEnv) == "1" {
		app()
		return
	}
	rounds := flag.Int("rounds", 10, "crashes to time (one replica each)")
	flag.Parse()
	if err := run(*rounds); err != nil {
		fmt.Fprintln(os.Stderr, "alertbench:", err)
		os.Exit(1)
	}
}

// app answers /pid with its process id and /healthz with 200 on $PORT.
func app() {
	mux := http.NewServeMux()
	mux.HandleFunc("/pid", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprint(w, os.Getpid()) })
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type arrival struct {
	subject string
	at      time.Time
}

func run(rounds int) error {
	ctx := context.Background()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "alertbench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	d, err := daemon.New(daemon.Config{DataDir: filepath.Join(tmp, "data"), Socket: filepath.Join(tmp, "q.sock"),
		HTTPAddr: "127.0.0.1:0", HTTPSAddr: "off", DockerHost: daemon.DockerOff, Kube: daemon.KubeConfig{Off: true},
		Backup: daemon.BackupConfig{Off: true}, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	c := client.New(d.Socket())
	defer func() {
		_, _ = c.Remove(ctx, "alertbench-dev", false, nil)
		c.Close()
		_ = d.Shutdown(ctx)
	}()

	got := make(chan arrival, 4*rounds)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	recv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var note wire.AlertNotification
		if json.NewDecoder(r.Body).Decode(&note) != nil {
			return
		}
		for _, a := range note.Alerts {
			if a.Rule == "crash" && a.Status == wire.AlertFiring {
				got <- arrival{a.Subject, now}
			}
		}
	})}
	go func() { _ = recv.Serve(ln) }()
	defer func() { _ = recv.Close() }()
	if _, err := c.AddAlertChannel(ctx, wire.ChannelRequest{Name: "bench", URL: "http://" + ln.Addr().String() + "/"}); err != nil {
		return err
	}

	dir := filepath.Join(tmp, "project")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	compose := fmt.Sprintf(`x-quai:
  project: alertbench
services:
  web:
    image: alertbench
    environment:
      %s: "1"
    expose: [8080]
    x-quai:
      replicas: %d
      health: { path: /healthz }
      process:
        command: [%q]
`, appEnv, rounds, exe)
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o600); err != nil {
		return err
	}
	m, err := stack.Load(ctx, stack.Options{Dir: dir, Env: "dev"})
	if err != nil {
		return err
	}
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		return err
	}
	if _, err := c.Up(ctx, payload, client.UpOptions{}, nil); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	st, err := c.Status(ctx, m.Identity.Name())
	if err != nil {
		return err
	}
	replicas := st.Services[0].Replicas
	fmt.Printf("alerts bench: process runtime, %d replicas, kill -9 of one replica's app per round, webhook on loopback\n", len(replicas))
	var took []time.Duration
	for i, r := range replicas {
		pid, err := pidOf(r.Address)
		if err != nil {
			return fmt.Errorf("replica %s: %w", r.Replica, err)
		}
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case a := <-got:
				if a.subject == r.Replica {
					took = append(took, a.at.Sub(killed))
					break wait
				}
			case <-deadline:
				return fmt.Errorf("round %d: no webhook for %s within 30s", i+1, r.Replica)
			}
		}
		fmt.Printf("round %2d  %-12s crash → webhook %7.1f ms\n", i+1, r.Replica, ms(took[len(took)-1]))
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	fmt.Printf("median %.1f ms  min %.1f ms  max %.1f ms  (goal ≤ %s: median/goal = %.3f)\n",
		ms(med), ms(sorted[0]), ms(sorted[len(sorted)-1]), goal, float64(med)/float64(goal))
	return nil
}

func pidOf(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/pid") //nolint:gosec // a replica's loopback address from the daemon
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
