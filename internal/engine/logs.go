package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/wire"
)

// logSource is one replica whose lines Logs reads: one that exists, or a
// removed one whose logs the runtime keeps.
type logSource struct {
	h    runtime.Handle
	live bool
}

// Logs streams the log lines of an instance's replicas, of the named
// services or of every service, as JSON objects (wire.LogLine), one a line.
//
// The lines that exist when it is called, of the replicas that run and of
// removed ones whose logs the runtime keeps (runtime.LogKeeper: across
// restarts and releases), come merged in time order. With Follow, the
// lines written after that come as they arrive, from the replicas that
// run. opts.Since and opts.Until select by time; opts.Grep keeps the lines
// matching it; opts.Tail then keeps the last lines of each replica.
func (e *Engine) Logs(ctx context.Context, instance string, services []string, opts runtime.LogOptions) (io.ReadCloser, error) {
	var grep *regexp.Regexp
	if opts.Grep != "" {
		re, err := regexp.Compile(opts.Grep)
		if err != nil {
			return nil, fmt.Errorf("logs of %s: --grep %q is not a regular expression (RE2 syntax, e.g. 'error|panic'): %w: %w", instance, opts.Grep, err, ErrInvalid)
		}
		grep = re
	}
	lg, sources, err := e.logSources(ctx, instance, services, opts.Release)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &logMerge{lg: lg, opts: opts, grep: grep, start: time.Now()}
	// The runtime selects by time and keeps the tail itself unless lines
	// are filtered here first (Grep; Until, which Kubernetes cannot apply).
	ropts := opts
	ropts.Timestamps, ropts.Grep, ropts.Follow = true, "", false
	if grep != nil || !opts.Until.IsZero() {
		ropts.Tail = 0
	}
	readers := make([]io.ReadCloser, 0, len(sources))
	kept := sources[:0]
	for _, s := range sources {
		rc, err := lg.Logs(ctx, s.h, ropts)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed since it was listed
		}
		if err != nil {
			cancel()
			for _, r := range readers {
				_ = r.Close()
			}
			return nil, fmt.Errorf("logs of replica %s of %s: %w", s.h.Replica, instance, err)
		}
		readers = append(readers, rc)
		kept = append(kept, s)
	}
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		_ = pw.CloseWithError(m.run(ctx, kept, readers, pw))
	}()
	return &logStream{PipeReader: pr, cancel: cancel}, nil
}

// logSources lists what Logs reads for the named services (all when none),
// the replicas failed releases kept included; with release > 0 only that
// release's replicas.
func (e *Engine) logSources(ctx context.Context, instance string, services []string, release int) (runtime.Logger, []logSource, error) {
	in, err := e.instance(ctx, instance)
	if err != nil {
		return nil, nil, err
	}
	st, err := e.strategyFor(in.Runtime)
	if err != nil {
		return nil, nil, err
	}
	rt := st.runtime()
	lg, ok := rt.(runtime.Logger)
	if !ok {
		return nil, nil, fmt.Errorf("logs of %s: the %s runtime does not capture output: %w", instance, rt.Name(), runtime.ErrUnsupported)
	}
	handles, err := st.handles(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	var removed []runtime.Handle
	if k, ok := rt.(runtime.LogKeeper); ok {
		if removed, err = k.KeptLogs(ctx, in.Identity); err != nil {
			return nil, nil, fmt.Errorf("logs of %s: %w", instance, err)
		}
	}
	failed, err := e.failedLogSources(ctx, in, st)
	if err != nil {
		return nil, nil, fmt.Errorf("logs of %s: %w", instance, err)
	}
	removed = append(removed, failed...)
	if release > 0 {
		if handles, removed, err = e.ofRelease(ctx, instance, release, handles, removed); err != nil {
			return nil, nil, err
		}
	}
	live, gone := byService(handles), byService(removed)
	if len(services) == 0 {
		for n := range live {
			services = append(services, n)
		}
		for n := range gone {
			if live[n] == nil {
				services = append(services, n)
			}
		}
		sort.Strings(services)
	}
	var out []logSource
	seen := map[string]bool{}
	for _, svc := range services {
		if seen[svc] {
			continue
		}
		seen[svc] = true
		if len(live[svc]) == 0 && len(gone[svc]) == 0 {
			return nil, nil, e.unknownService(ctx, instance, svc, live, gone)
		}
		for _, h := range gone[svc] {
			out = append(out, logSource{h: h})
		}
		for _, h := range live[svc] {
			out = append(out, logSource{h: h, live: true})
		}
	}
	return lg, out, nil
}

func (e *Engine) unknownService(ctx context.Context, instance, service string, groups ...map[string][]runtime.Handle) error {
	var names []string
	if active, err := e.store.ActiveRelease(ctx, instance); err == nil {
		for svc := range active.Hashes {
			names = append(names, svc)
		}
	}
	for _, g := range groups {
		for n := range g {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	names = slices.Compact(names)
	if slices.Contains(names, service) {
		return fmt.Errorf("service %s of %s has no replicas and no kept logs (is the instance down?): %w", service, instance, ErrNotFound)
	}
	return &NotFoundError{Kind: "service", Name: service, Suggestions: suggest(service, names)}
}

// logMerge reads the replicas' streams and writes the merged lines.
type logMerge struct {
	lg    runtime.Logger
	opts  runtime.LogOptions
	grep  *regexp.Regexp
	start time.Time
}

// lastSeen is where a replica's lines stood at the end of the merged
// part: the time of its last line and how many lines had that time, so
// that following it again skips exactly those.
type lastSeen struct {
	t time.Time
	n int
}

func (m *logMerge) run(ctx context.Context, sources []logSource, readers []io.ReadCloser, w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	defer func() {
		for _, r := range readers {
			_ = r.Close()
		}
	}()
	tail := m.opts.Tail
	if m.grep == nil && m.opts.Until.IsZero() {
		tail = 0 // the runtime kept it
	}
	chans := make([]chan wire.LogLine, len(sources))
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		chans[i] = make(chan wire.LogLine, 64)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(chans[i])
			errs[i] = m.read(ctx, s.h, readers[i], tail, lastSeen{}, chans[i])
		}()
	}
	// A k-way merge by time: each replica's lines are in time order.
	heads := make([]*wire.LogLine, len(chans))
	next := func(i int) {
		if l, ok := <-chans[i]; ok {
			heads[i] = &l
		} else {
			heads[i] = nil
		}
	}
	for i := range chans {
		next(i)
	}
	last := make([]lastSeen, len(sources))
	for {
		pick := -1
		for i, h := range heads {
			if h != nil && (pick < 0 || h.Time.Before(heads[pick].Time)) {
				pick = i
			}
		}
		if pick < 0 {
			break
		}
		l := heads[pick]
		if l.Time.Equal(last[pick].t) {
			last[pick].n++
		} else {
			last[pick] = lastSeen{t: l.Time, n: 1}
		}
		if err := enc.Encode(l); err != nil {
			return err
		}
		next(pick)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil || !m.opts.Follow || ctx.Err() != nil {
		return err
	}
	return m.follow(ctx, sources, last, enc)
}

// follow streams, as they arrive, the lines the running replicas write
// after what the merge showed.
func (m *logMerge) follow(ctx context.Context, sources []logSource, last []lastSeen, enc *json.Encoder) error {
	out := make(chan wire.LogLine, 64)
	errc := make(chan error, len(sources))
	var wg sync.WaitGroup
	for i, s := range sources {
		if !s.live {
			continue
		}
		ropts := m.opts
		ropts.Timestamps, ropts.Grep, ropts.Follow, ropts.Tail = true, "", true, 0
		after := last[i]
		if after.t.IsZero() {
			after = lastSeen{t: m.start}
		}
		if after.t.After(ropts.Since) {
			ropts.Since = after.t
		}
		rc, err := m.lg.Logs(ctx, s.h, ropts)
		if errors.Is(err, runtime.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("follow the logs of replica %s: %w", s.h.Replica, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = rc.Close() }()
			if err := m.read(ctx, s.h, rc, 0, after, out); err != nil {
				errc <- err
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	for l := range out {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// read parses one replica's stream (lines "<RFC 3339 time> text"), keeps
// what the options select, skips what after already covers, and sends the
// lines to out, the last tail of them only when tail > 0.
func (m *logMerge) read(ctx context.Context, h runtime.Handle, r io.Reader, tail int, after lastSeen, out chan<- wire.LogLine) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ring []wire.LogLine
	var prev time.Time
	send := func(l wire.LogLine) bool {
		select {
		case out <- l:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		s, err := br.ReadString('\n')
		if s != "" {
			t, text := splitStamp(strings.TrimRight(s, "\r\n"))
			// A line without a time goes with the one before, and so does
			// one stamped before it: a runtime stamps stdout and stderr
			// apart (Docker's json-file does), and the merge needs each
			// replica's lines in time order.
			if t.IsZero() || t.Before(prev) {
				t = prev
			}
			prev = t
			if m.keep(t, text, &after) {
				l := wire.LogLine{Time: t, Service: h.Service, Replica: h.Replica, Line: text}
				if tail > 0 {
					if len(ring) == tail {
						ring = ring[1:]
					}
					ring = append(ring, l)
				} else if !send(l) {
					return nil
				}
			}
		}
		if err != nil {
			for _, l := range ring {
				if !send(l) {
					return nil
				}
			}
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("logs of replica %s: %w", h.Replica, err)
		}
	}
}

// keep says whether a line is selected; after is consumed as lines at its
// time go by.
func (m *logMerge) keep(t time.Time, text string, after *lastSeen) bool {
	if !after.t.IsZero() {
		if t.Before(after.t) {
			return false
		}
		if t.Equal(after.t) && after.n > 0 {
			after.n--
			return false
		}
	}
	if !t.IsZero() {
		if !m.opts.Since.IsZero() && t.Before(m.opts.Since) {
			return false
		}
		if !m.opts.Until.IsZero() && !t.Before(m.opts.Until) {
			return false
		}
	}
	return m.grep == nil || m.grep.MatchString(text)
}

// splitStamp splits "<RFC 3339 time> text"; a line that does not start
// with a time has the zero time.
func splitStamp(s string) (time.Time, string) {
	ts, rest, ok := strings.Cut(s, " ")
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		if !ok {
			rest = ""
		}
		return t, rest
	}
	return time.Time{}, s
}

// logStream stops the merge and every replica's stream on Close.
type logStream struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (l *logStream) Close() error {
	l.cancel()
	return l.PipeReader.Close()
}
