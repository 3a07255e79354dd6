// Command edge measures the proxy process (bench/edge/run.sh): requests
// failed under a continuous load across daemon restarts and upgrades, the
// proxy process's memory idle and with 1,000 routes, and the daemon's
// memory without the proxy in it (and with, for comparison). It is also
// the benchmark's app (edgetest.AppMain) when started as one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/quai-dev/quai/internal/proxy"
	"github.com/quai-dev/quai/internal/proxyd"
	"github.com/quai-dev/quai/test/e2e/edgetest"
)

func main() {
	if edgetest.IsApp() {
		os.Exit(edgetest.AppMain())
	}
	a := flag.String("a", "", "quai binary A (required)")
	b := flag.String("b", "", "quai binary B, a newer build A upgrades to (required)")
	restarts := flag.Int("restarts", 10, "daemon restarts (SIGTERM) under load")
	kills := flag.Int("kills", 0, "daemon kill -9 restarts under load, after the restarts")
	upgrades := flag.Int("upgrades", 3, "upgrades (daemon, then proxy handoff) under load, alternating A and B")
	routes := flag.Int("routes", 1000, "routes for the proxy RSS figure")
	workers := flag.Int("workers", 4, "load workers")
	flag.Parse()
	if *a == "" || *b == "" {
		fmt.Fprintln(os.Stderr, "bench/edge: -a and -b are required")
		os.Exit(2)
	}
	if err := run(*a, *b, *restarts, *kills, *upgrades, *routes, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench/edge:", err)
		os.Exit(1)
	}
}

type bench struct {
	q       *edgetest.Quai
	daemon  *edgetest.Daemon
	project string
	app     string
}

func run(a, b string, restarts, kills, upgrades, nroutes, workers int) (err error) {
	dataDir, err := os.MkdirTemp("", "qedge-")
	if err != nil {
		return err
	}
	logs, err := os.MkdirTemp("", "qedge-logs-")
	if err != nil {
		return err
	}
	app, err := os.Executable()
	if err != nil {
		return err
	}
	bn := &bench{q: &edgetest.Quai{Bin: a, DataDir: dataDir, Logs: logs}, project: filepath.Join(logs, "edge"), app: app}
	defer func() {
		if cerr := bn.cleanup(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/edge: logs kept in", logs)
			return
		}
		_ = os.RemoveAll(logs)
	}()
	if err := edgetest.WriteProject(bn.project, app, "1", 2); err != nil {
		return err
	}
	if bn.daemon, err = bn.q.StartDaemon(); err != nil {
		return err
	}
	if _, err := bn.q.Run("up", bn.project, "-y"); err != nil {
		return err
	}
	st, err := bn.q.ProxyStatus()
	if err != nil {
		return err
	}
	addr := st.HTTPAddr

	// Memory first, idle: no load yet. Once just after the deploy, once at
	// rest: the daemon and the proxy give back the pages only their
	// start-up touched 15 s and 10 s after they start (internal/memtrim).
	time.Sleep(3 * time.Second)
	daemonEarly, err := edgetest.ReadRSS(bn.daemon.PID())
	if err != nil {
		return err
	}
	proxyEarly, err := edgetest.ReadRSS(st.PID)
	if err != nil {
		return err
	}
	time.Sleep(restDelay)
	daemonRSS, err := edgetest.ReadRSS(bn.daemon.PID())
	if err != nil {
		return err
	}
	proxyRSS, err := edgetest.ReadRSS(st.PID)
	if err != nil {
		return err
	}

	load := edgetest.StartLoad(addr, edgetest.Host, workers, 50_000_000, time.Hour, time.Millisecond)
	ws, err := edgetest.DialWS(addr, edgetest.Host)
	if err != nil {
		return err
	}
	defer func() { _ = ws.Close() }()
	step := func(what string) error {
		if !load.WaitProgress(100) {
			return fmt.Errorf("%s: the load made no progress", what)
		}
		if _, err := ws.Echo(what); err != nil {
			return fmt.Errorf("%s: the WebSocket broke: %w", what, err)
		}
		return nil
	}
	restartFailed := int64(0)
	for i := 0; i < restarts+kills; i++ {
		_, before := load.Counts()
		stop := bn.daemon.Term
		if i >= restarts {
			stop = bn.daemon.Kill
		}
		if err := stop(); err != nil {
			return err
		}
		if err := step("daemon down"); err != nil {
			return err
		}
		if bn.daemon, err = bn.q.StartDaemon(); err != nil {
			return err
		}
		if err := step("daemon back"); err != nil {
			return err
		}
		_, after := load.Counts()
		restartFailed += after - before
	}
	upgradeFailed := int64(0)
	bins := []string{b, a}
	for i := 0; i < upgrades; i++ {
		_, before := load.Counts()
		next := bins[i%2]
		if err := bn.daemon.Term(); err != nil {
			return err
		}
		bn.q.Bin = next
		if bn.daemon, err = bn.q.StartDaemon(); err != nil {
			return err
		}
		if err := step("daemon upgraded"); err != nil {
			return err
		}
		if _, err := bn.q.Run("proxy", "upgrade", "--executable", next); err != nil {
			return err
		}
		if err := step("proxy upgraded"); err != nil {
			return err
		}
		_, after := load.Counts()
		upgradeFailed += after - before
	}
	ok, failed := load.Stop()
	_ = ws.Close()

	// The proxy with nroutes more routes (one instance of that many
	// hosts, every route requested once), pushed while no daemon runs.
	if err := bn.daemon.Term(); err != nil {
		return err
	}
	bn.daemon = nil
	st, err = bn.q.ProxyStatus()
	if err != nil {
		return err
	}
	proxyIdleAfter, _ := edgetest.ReadRSS(st.PID)
	routesRSS, err := bn.pushRoutes(st, nroutes)
	if err != nil {
		return err
	}

	// The daemon with the proxy inside, for comparison: the figure before
	// the proxy moved out.
	inside, err := bn.daemonWithProxyInside()
	if err != nil {
		return err
	}

	fmt.Printf("%-64s %s\n", "measure", "value")
	fmt.Printf("%-64s %s\n", "----------------------------------------------------------------", "----------")
	fmt.Printf("%-64s %d\n", fmt.Sprintf("requests under load (%d workers, keep-alive)", workers), ok+failed)
	fmt.Printf("%-64s %d\n", fmt.Sprintf("failed across %d daemon restarts (SIGTERM) + %d kill -9", restarts, kills), restartFailed)
	fmt.Printf("%-64s %d\n", fmt.Sprintf("failed across %d upgrades (daemon, then proxy handoff)", upgrades), upgradeFailed)
	fmt.Printf("%-64s %d\n", "failed in total", failed)
	fmt.Printf("%-64s %s\n", "WebSocket opened before the first restart", "open and echoing to the end")
	fmt.Printf("%-64s %s\n", "proxy process RSS 3 s after the deploy, 1 route (total / anon / file)", mib(proxyEarly))
	fmt.Printf("%-64s %s\n", "proxy process RSS idle, 1 route (total / anon / file)", mib(proxyRSS))
	fmt.Printf("%-64s %s\n", "proxy process RSS idle after the load and upgrades", mib(proxyIdleAfter))
	fmt.Printf("%-64s %s\n", fmt.Sprintf("proxy process RSS with %d routes more, each requested once", nroutes), mib(routesRSS))
	fmt.Printf("%-64s %s\n", "daemon RSS 3 s after the deploy, proxy in its own process", mib(daemonEarly))
	fmt.Printf("%-64s %s\n", "daemon RSS idle, proxy in its own process (goal <= 32 MB)", mib(daemonRSS))
	fmt.Printf("%-64s %s\n", "daemon RSS idle, proxy inside (--proxy-in-daemon)", mib(inside))
	if len(load.Errors()) > 0 {
		fmt.Println("first failures:")
		for _, e := range load.Errors() {
			fmt.Println("  " + e)
		}
	}
	return nil
}

func mib(r edgetest.RSS) string {
	return fmt.Sprintf("%.1f / %.1f / %.1f MiB", float64(r.Total)/1024, float64(r.Anon)/1024, float64(r.File)/1024)
}

// pushRoutes gives the proxy n routes to the app's replicas, requests each
// once and reads the proxy's RSS, then takes them away.
func (bn *bench) pushRoutes(st proxyd.Status, n int) (edgetest.RSS, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := proxyd.Dial(filepath.Join(bn.q.DataDir, "proxy"))
	defer c.Close()
	if err := c.Refresh(ctx); err != nil {
		return edgetest.RSS{}, err
	}
	var targets []string
	for _, rs := range c.Snapshot() {
		for _, r := range rs {
			targets = append(targets, r.Targets...)
		}
	}
	routes := make([]proxy.Route, n)
	for i := range routes {
		routes[i] = proxy.Route{Host: "r" + strconv.Itoa(i) + ".bench.localhost", Targets: targets, Service: "web"}
	}
	if err := c.SetRoutes("bench-routes", routes); err != nil {
		return edgetest.RSS{}, err
	}
	for i := range routes {
		if _, err := edgetest.GetOnce(st.HTTPAddr, routes[i].Host); err != nil {
			return edgetest.RSS{}, err
		}
	}
	time.Sleep(2 * time.Second)
	rss, err := edgetest.ReadRSS(st.PID)
	c.RemoveInstance("bench-routes")
	return rss, err
}

// daemonWithProxyInside stops the proxy process and runs the daemon with
// the proxy inside on a copy-free restart of the same data directory.
func (bn *bench) daemonWithProxyInside() (edgetest.RSS, error) {
	if _, err := bn.q.Run("proxy", "stop"); err != nil {
		return edgetest.RSS{}, err
	}
	d, err := bn.q.StartDaemon("--proxy-in-daemon")
	if err != nil {
		return edgetest.RSS{}, err
	}
	time.Sleep(3*time.Second + restDelay)
	rss, err := edgetest.ReadRSS(d.PID())
	if terr := d.Term(); err == nil {
		err = terr
	}
	return rss, err
}

// restDelay is how long the bench waits for the processes to come to
// rest: past the daemon's trim, 15 s after its start.
const restDelay = 20 * time.Second

func (bn *bench) cleanup() error {
	var err error
	if bn.daemon == nil {
		bn.daemon, err = bn.q.StartDaemon()
	}
	if err == nil {
		_, err = bn.q.Run("rm", edgetest.Instance, "--purge", "-y")
		if terr := bn.daemon.Term(); err == nil {
			err = terr
		}
	}
	_, _ = bn.q.Run("proxy", "stop")
	for _, pid := range bn.q.ProxyPIDs() {
		if p, ferr := os.FindProcess(pid); ferr == nil {
			_ = p.Kill()
		}
	}
	_ = os.RemoveAll(bn.q.DataDir)
	return err
}
