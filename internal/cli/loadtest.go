package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/loadtest"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// loadtestOptions are `quai loadtest`'s flags.
type loadtestOptions struct {
	Clients       int
	Requests      int64
	Duration      time.Duration
	Rate          float64
	WarmUp        time.Duration
	Timeout       time.Duration
	Method        string
	Headers       []string
	Body          string
	BodyFile      string
	H2            bool
	Insecure      bool
	Connect       string
	AllowExternal bool
}

// defaultLoadDuration bounds a run given neither -n nor --duration.
const defaultLoadDuration = 10 * time.Second

func newLoadtestCmd(g *globals) *cobra.Command {
	var o loadtestOptions
	cmd := &cobra.Command{
		Use:   "loadtest TARGET",
		Short: "Load an instance or a URL with HTTP requests and report latency, statuses and the instance's own figures",
		Long: `Send HTTP requests to TARGET from many clients at once and report requests
per second, latency (min, mean, p50, p90, p99, max, exact from every sample),
status codes, errors by kind and bytes.

TARGET is an instance (its first route), INSTANCE/ROUTE (the route of that
service, path or host), or a URL. When it is one of your instances, quai also
watches the instance during the run and shows, per service, its CPU and memory
peaks, restarts and 5xx answers beside the load, so you see which service and
size class gives way first.

Closed model (default): each of -c clients has its own connection and sends
its next request when the last one is answered, for -n requests in all or for
--duration. Open model: --rate R starts R requests a second whatever the
answers take, and a request's latency counts from when it was due. --warm-up
runs the load first without measuring it.

quai loads your own instances and this machine's loopback only: a URL that
resolves elsewhere is refused unless you pass --allow-external, for a server
you are responsible for.`,
		Example: `  quai loadtest shop-prod -c 100 -n 10000
  quai loadtest shop-prod/api --duration 30s --rate 500 --warm-up 5s
  quai loadtest http://127.0.0.1:8080/ -c 50 -n 100000 --h2
  quai loadtest shop-dev -X POST -H 'Content-Type: application/json' -d '{"name":"x"}' -n 1000
  quai loadtest https://shop.example.com/ --allow-external --duration 1m --json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoadtest(cmd.Context(), g, args[0], o, cmd.Flags().Changed("clients"))
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.Clients, "clients", "c", 10, "clients sending side by side, each with its own connection")
	f.Int64VarP(&o.Requests, "requests", "n", 0, "measured requests in all (default: run for --duration, 10s)")
	f.DurationVar(&o.Duration, "duration", 0, "how long to measure (with -n too: whichever ends first)")
	f.Float64Var(&o.Rate, "rate", 0, "open model: start this many requests a second in all, whatever the answers take")
	f.DurationVar(&o.WarmUp, "warm-up", 0, "load for this long first, without measuring")
	f.DurationVar(&o.Timeout, "timeout", loadtest.DefaultTimeout, "bound of one request, connecting included")
	f.StringVarP(&o.Method, "method", "X", http.MethodGet, "request method")
	f.StringArrayVarP(&o.Headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	f.StringVarP(&o.Body, "body", "d", "", "request body")
	f.StringVar(&o.BodyFile, "body-file", "", "read the request body from this file ('-': stdin)")
	f.BoolVar(&o.H2, "h2", false, "HTTP/2: over TLS (ALPN) for https, cleartext with prior knowledge (h2c) for http")
	f.BoolVarP(&o.Insecure, "insecure", "k", false, "do not verify the server's certificate")
	f.StringVar(&o.Connect, "connect", "", "connect to HOST:PORT instead of the URL's host (which stays the Host header)")
	f.BoolVar(&o.AllowExternal, "allow-external", false, "allow a target that is neither one of your instances nor this machine")
	return cmd
}

// loadTarget is what TARGET resolved to.
type loadTarget struct {
	url     *url.URL
	connect string // where to connect, "" for the URL's host
	// instance is set when the target is one of the user's instances; then
	// c is a client of the daemon, service the routed service (when known)
	// and model the instance's active release.
	instance string
	service  string
	model    *stack.Model
	c        *client.Client
}

func runLoadtest(ctx context.Context, g *globals, target string, o loadtestOptions, clientsSet bool) error {
	opts, err := o.options(g.stdin)
	if err != nil {
		return err
	}
	t, err := resolveLoadTarget(ctx, g, target, o)
	if t.c != nil {
		defer t.c.Close()
	}
	if err != nil {
		return err
	}
	opts.URL = t.url
	opts.Connect = o.Connect
	if opts.Connect == "" {
		opts.Connect = t.connect
	}
	if !clientsSet && o.Requests > 0 && o.Requests < int64(o.Clients) {
		opts.Clients = int(o.Requests)
	}
	tty := !g.JSON && isTerminal(g.stderr)
	if tty {
		opts.Progress = func(p loadtest.Progress) { fprint(g.stderr, "\r\033[K"+progressLine(p, opts)) }
	}
	var watch *loadtest.Watcher
	if t.instance != "" {
		name := t.instance
		watch = loadtest.Watch(ctx, name, func(ctx context.Context) (wire.InstanceStatus, error) { return t.c.Status(ctx, name) }, time.Second)
	}
	rep, err := loadtest.Run(ctx, opts)
	if tty {
		fprint(g.stderr, "\r\033[K")
	}
	if watch != nil {
		// The last poll must not fail because Ctrl-C stopped the run.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		rep2 := watch.Stop(stopCtx)
		cancel()
		if rep != nil {
			rep.Instance = rep2
			annotateInstance(rep, t)
		}
	}
	if err != nil {
		if errors.Is(err, loadtest.ErrInvalid) {
			return &usageError{err}
		}
		return err
	}
	if g.JSON {
		err = g.printJSON(rep)
	} else {
		printLoadReport(g.stdout, rep, t)
	}
	switch {
	case err != nil:
		return err
	case rep.Interrupted:
		return withCode(ExitInterrupted, nil)
	case rep.Completed == 0 && rep.Failed > 0:
		return withCode(ExitFailed, fmt.Errorf("no request to %s was answered: %s", rep.URL, firstError(rep)))
	}
	return nil
}

// options turns the flags into the load tester's options, TARGET aside.
func (o loadtestOptions) options(stdin io.Reader) (loadtest.Options, error) {
	opts := loadtest.Options{
		Clients: o.Clients, Requests: o.Requests, Duration: o.Duration, Rate: o.Rate,
		WarmUp: o.WarmUp, Timeout: o.Timeout, Method: strings.ToUpper(o.Method),
		Insecure: o.Insecure, Header: http.Header{}, Protocol: loadtest.HTTP1,
	}
	if o.H2 {
		opts.Protocol = loadtest.HTTP2
	}
	if o.Requests == 0 && o.Duration == 0 {
		opts.Duration = defaultLoadDuration
	}
	if o.Clients < 1 {
		return opts, usageErrorf("-c %d: at least one client", o.Clients)
	}
	for _, h := range o.Headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return opts, usageErrorf("-H %q: write a header as 'Name: value'", h)
		}
		opts.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	switch {
	case o.Body != "" && o.BodyFile != "":
		return opts, usageErrorf("-d and --body-file both give the body: use one")
	case o.BodyFile == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return opts, fmt.Errorf("read the body from stdin: %w", err)
		}
		opts.Body = b
	case o.BodyFile != "":
		b, err := os.ReadFile(o.BodyFile)
		if err != nil {
			return opts, fmt.Errorf("read the body: %w", err)
		}
		opts.Body = b
	case o.Body != "":
		opts.Body = []byte(o.Body)
	}
	return opts, nil
}

// resolveLoadTarget turns TARGET into a URL, and an instance when it is
// one, and refuses a target outside the user's instances and this machine
// unless --allow-external.
func resolveLoadTarget(ctx context.Context, g *globals, target string, o loadtestOptions) (loadTarget, error) {
	if !strings.Contains(target, "://") {
		return instanceTarget(ctx, g, target)
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return loadTarget{}, usageErrorf("%q is neither an instance nor an http:// or https:// URL", target)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	t := loadTarget{url: u}
	dest := cmpOr(o.Connect, u.Host)
	localErr := loadtest.CheckLoopback(ctx, dest)
	// A URL of one of the user's instances is theirs to load, and gets the
	// instance's figures beside the load.
	// A daemon is not started for this: with none running, no instance
	// answers at any URL.
	var c *client.Client
	if sock, err := g.socketPath(); err == nil {
		c = client.New(sock)
	}
	if c != nil {
		if in := matchInstance(ctx, c, u); in != "" {
			it, err := instanceTarget(ctx, g, in)
			if err == nil {
				it.url, it.connect = u, ""
				it.c.Close()
				it.c = c
				return it, nil
			}
		}
		c.Close()
	}
	if localErr != nil && !o.AllowExternal {
		if errors.Is(localErr, loadtest.ErrExternal) {
			return t, usageErrorf("refusing to load %s: %v, and it is not the URL of one of your instances. "+
				"A load test is indistinguishable from an attack on a server that is not yours: load one of "+
				"your instances (quai loadtest INSTANCE), or add --allow-external if you are responsible for this server", u.Redacted(), localErr)
		}
		return t, fmt.Errorf("refusing to load %s: %w (pass --allow-external to skip this check)", u.Redacted(), localErr)
	}
	return t, nil
}

// matchInstance returns the instance one of whose URLs has u's host and
// port, or "".
func matchInstance(ctx context.Context, c *client.Client, u *url.URL) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := c.Instances(ctx)
	if err != nil {
		return ""
	}
	for _, in := range list {
		for _, s := range in.URLs {
			iu, err := url.Parse(s)
			if err == nil && iu.Scheme == u.Scheme && strings.EqualFold(iu.Host, u.Host) {
				return in.Name
			}
		}
	}
	return ""
}

// instanceTarget resolves INSTANCE or INSTANCE/ROUTE to the route's URL,
// connecting through this machine's quai proxy when the daemon runs it.
func instanceTarget(ctx context.Context, g *globals, target string) (loadTarget, error) {
	name, route, _ := strings.Cut(target, "/")
	c, err := g.client(ctx)
	if err != nil {
		return loadTarget{}, err
	}
	t := loadTarget{instance: name, c: c}
	st, err := c.Status(ctx, name)
	if err != nil {
		return t, err
	}
	if len(st.URLs) == 0 {
		return t, fmt.Errorf("instance %s has no public route to load (it is %s, or its stack declares no x-quai.routes): "+
			"give a URL instead", name, st.State)
	}
	t.model = activeModel(ctx, c, name, st.Release)
	var routes []stack.Route
	if t.model != nil && len(t.model.Routes) == len(st.URLs) {
		routes = t.model.Routes
	}
	i, err := pickRoute(name, route, st.URLs, routes)
	if err != nil {
		return t, err
	}
	if t.url, err = url.Parse(st.URLs[i]); err != nil {
		return t, fmt.Errorf("instance %s: route URL %q: %w", name, st.URLs[i], err)
	}
	if routes != nil {
		t.service = routes[i].Service
	}
	// The process and Docker runtimes are routed by quai's proxy on this
	// machine: connect there, whatever the route's host resolves to.
	if !loadtest.IsLocalhostName(t.url.Hostname()) && st.Runtime != "kubernetes" {
		if info, err := c.Info(ctx); err == nil {
			addr := info.HTTPAddr
			if t.url.Scheme == "https" {
				addr = info.HTTPSAddr
			}
			if _, port, err := net.SplitHostPort(addr); err == nil && port != "0" {
				t.connect = net.JoinHostPort("127.0.0.1", port)
			}
		}
	}
	return t, nil
}

// pickRoute chooses among an instance's route URLs: the first without
// ROUTE, else the one whose service, path or host is ROUTE.
func pickRoute(instance, route string, urls []string, routes []stack.Route) (int, error) {
	if route == "" {
		return 0, nil
	}
	for i, s := range urls {
		if routes != nil {
			r := routes[i]
			if r.Service == route || strings.Trim(r.Path, "/") == strings.Trim(route, "/") || strings.EqualFold(r.Host, route) {
				return i, nil
			}
		}
		if u, err := url.Parse(s); err == nil && (strings.Trim(u.Path, "/") == strings.Trim(route, "/") || strings.EqualFold(u.Hostname(), route)) {
			return i, nil
		}
	}
	var names []string
	for i, s := range urls {
		if routes != nil {
			s = routes[i].Service + " (" + s + ")"
		}
		names = append(names, s)
	}
	return 0, &wrappedError{msg: fmt.Sprintf("instance %s has no route %q; its routes: %s", instance, route, strings.Join(names, ", ")), err: errNoRoute}
}

// errNoRoute: INSTANCE/ROUTE names no route of the instance.
var errNoRoute = fmt.Errorf("no such route: %w", os.ErrNotExist)

// activeModel is the stack model of the instance's active release, or nil.
func activeModel(ctx context.Context, c *client.Client, instance string, release int) *stack.Model {
	rels, err := c.Releases(ctx, instance)
	if err != nil {
		return nil
	}
	for _, r := range rels {
		if r.Number == release {
			var m stack.Model
			if json.Unmarshal(r.Model, &m) == nil {
				return &m
			}
		}
	}
	return nil
}

// annotateInstance adds what the release says (size classes, limits) and
// what the run saw (5xx of the routed service) to the instance figures.
func annotateInstance(rep *loadtest.Report, t loadTarget) {
	for i := range rep.Instance.Services {
		s := &rep.Instance.Services[i]
		if t.model != nil {
			if ms := t.model.Service(s.Service); ms != nil {
				s.Size, s.LimitMilliCPU, s.LimitMemory = ms.Size, ms.Resources.MilliCPU, ms.Resources.MemoryBytes
			}
		}
		if s.Service == t.service {
			s.Routed, s.Responses5xx = true, rep.Class(5)
		}
	}
}

func progressLine(p loadtest.Progress, o loadtest.Options) string {
	if p.WarmingUp {
		return "warming up…"
	}
	line := fmt.Sprintf("%5.1fs  %s answered  %s/s  %s errors", p.Elapsed.Seconds(), thousands(p.Done), thousands(int64(p.PerSecond)), thousands(p.Errors))
	if o.Requests > 0 {
		line += fmt.Sprintf("  %3.0f%%", 100*float64(p.Done+p.Errors)/float64(o.Requests))
	}
	return line
}

func printLoadReport(w io.Writer, r *loadtest.Report, t loadTarget) {
	target := r.URL
	switch {
	case t.instance != "" && t.service != "":
		target += fmt.Sprintf("  (instance %s, service %s)", t.instance, t.service)
	case t.instance != "":
		target += fmt.Sprintf("  (instance %s)", t.instance)
	}
	fprintf(w, "target    %s\n", target)
	model := fmt.Sprintf("%d clients", r.Clients)
	if r.Rate > 0 {
		model += fmt.Sprintf(", open model at %s/s", strconv.FormatFloat(r.Rate, 'f', -1, 64))
	}
	var bound []string
	if r.Requests > 0 {
		bound = append(bound, thousands(r.Requests)+" requests")
	}
	if r.Duration > 0 {
		bound = append(bound, r.Duration.String())
	}
	if r.WarmUp > 0 {
		bound = append(bound, "after "+r.WarmUp.String()+" of warm-up")
	}
	fprintf(w, "load      %s %s, %s, %s\n", r.Protocol, r.Method, model, strings.Join(bound, ", "))
	done := fmt.Sprintf("in %s", fmtLatency(r.Elapsed))
	if r.Interrupted {
		done = "interrupted after " + fmtLatency(r.Elapsed)
	}
	fprintf(w, "finished  %s: %s requests/s\n", done, strconv.FormatFloat(round1(r.PerSecond), 'f', -1, 64))
	fprintf(w, "requests  %s answered, %s failed\n", thousands(r.Completed), thousands(r.Failed))
	l := r.Latency
	how := "exact"
	if !l.Exact {
		how = "within 0.2%"
	}
	if l.Samples > 0 {
		fprintf(w, "latency   min %s  mean %s  p50 %s  p90 %s  p99 %s  max %s  (%s, %s samples)\n",
			fmtLatency(l.Min), fmtLatency(l.Mean), fmtLatency(l.P50), fmtLatency(l.P90), fmtLatency(l.P99), fmtLatency(l.Max), how, thousands(l.Samples))
	}
	if r.Connect.Count > 0 {
		fprintf(w, "connect   %s connections  min %s  mean %s  max %s\n", thousands(r.Connect.Count),
			fmtLatency(r.Connect.Min), fmtLatency(r.Connect.Mean), fmtLatency(r.Connect.Max))
	}
	var codes []string
	for _, s := range r.Status {
		codes = append(codes, fmt.Sprintf("%d: %s", s.Code, thousands(s.Count)))
	}
	fprintf(w, "status    %s\n", dash(strings.Join(codes, "  ")))
	if len(r.Errors) == 0 {
		fprintln(w, "errors    none")
	}
	for i, e := range r.Errors {
		label := "errors   "
		if i > 0 {
			label = "         "
		}
		fprintf(w, "%s %s: %s (%s)\n", label, e.Kind, thousands(e.Count), oneLine(e.Example))
	}
	fprintf(w, "bytes     sent %s, received %s\n", bytesHuman(r.BytesSent), bytesHuman(r.BytesReceived))
	if r.Instance != nil {
		printInstanceFigures(w, r.Instance)
	}
}

func printInstanceFigures(w io.Writer, in *loadtest.InstanceReport) {
	fprintf(w, "\ninstance %s during the run (status every %s, %d polls", in.Instance, in.Every, in.Polls)
	if in.PollErrors > 0 {
		fprintf(w, ", %d failed: %s", in.PollErrors, oneLine(in.PollError))
	}
	fprintln(w, "):")
	tw := newTable(w)
	fprintln(tw, "SERVICE\tSIZE\tLIMITS\tREPLICAS\tCPU PEAK\tCPU MEAN\tMEM PEAK\tRESTARTS\t5XX")
	for _, s := range in.Services {
		limits := "-"
		if s.LimitMilliCPU > 0 || s.LimitMemory > 0 {
			limits = fmt.Sprintf("%s CPU/%s", strconv.FormatFloat(float64(s.LimitMilliCPU)/1000, 'f', -1, 64), bytesHuman(s.LimitMemory))
		}
		// Limits are per replica; the figures add the replicas up.
		n := float64(max(s.Replicas, 1))
		cpu := fmt.Sprintf("%.1f%%", s.CPUPeak)
		if s.LimitMilliCPU > 0 {
			cpu += fmt.Sprintf(" (%.0f%% of limit)", s.CPUPeak*1000/(float64(s.LimitMilliCPU)*n))
		}
		mem := bytesHuman(s.MemoryPeak)
		if s.LimitMemory > 0 && s.MemoryPeak > 0 {
			mem += fmt.Sprintf(" (%.0f%%)", 100*float64(s.MemoryPeak)/(float64(s.LimitMemory)*n))
		}
		fivexx := "-"
		if s.Routed {
			fivexx = thousands(s.Responses5xx)
		}
		restarts := strconv.Itoa(s.Restarts)
		if s.Unready > 0 {
			restarts += fmt.Sprintf(" (unready in %d polls)", s.Unready)
		}
		fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.1f%%\t%s\t%s\t%s\n", s.Service, dash(s.Size), limits, s.Replicas, cpu, s.CPUMean, mem, restarts, fivexx)
	}
	_ = tw.Flush()
}

// fmtLatency prints a duration with three significant digits or so.
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// thousands writes n with thin separators: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func firstError(r *loadtest.Report) string {
	if len(r.Errors) == 0 {
		return "no answer"
	}
	return fmt.Sprintf("%s: %s", r.Errors[0].Kind, oneLine(r.Errors[0].Example))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
