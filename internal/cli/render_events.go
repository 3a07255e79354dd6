package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// eventRenderer shows an operation's events as they arrive. The engine
// never prints: everything a user sees of an operation passes through here.
type eventRenderer interface {
	// Event renders one event.
	Event(ev wire.Event)
	// Close finishes the display (the last redraw of a live view).
	Close()
}

// newRenderer picks the renderer: NDJSON with --json, live progress on a
// terminal, plain lines otherwise.
func (g *globals) newRenderer() eventRenderer {
	switch {
	case g.JSON:
		return &jsonRenderer{enc: json.NewEncoder(g.stdout)}
	case isTerminal(g.stdout):
		return &ttyRenderer{w: g.stdout}
	default:
		return &plainRenderer{w: g.stdout}
	}
}

// jsonRenderer prints one wire.Event per line.
type jsonRenderer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (r *jsonRenderer) Event(ev wire.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(ev)
}

func (r *jsonRenderer) Close() {}

// plainRenderer prints one line per event, for logs and pipes.
type plainRenderer struct {
	mu sync.Mutex
	w  io.Writer
}

func (r *plainRenderer) Event(ev wire.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if line := plainLine(ev); line != "" {
		fprintln(r.w, line)
	}
}

func (r *plainRenderer) Close() {}

// plainLine is the one-line form of an event; "" for events not worth a line.
func plainLine(ev wire.Event) string {
	subject := ev.Service
	if ev.Replica != "" {
		subject = ev.Replica
	}
	prefix := ev.Instance
	if subject != "" {
		prefix += " " + subject
	}
	switch ev.Kind {
	case wire.EventPlan:
		return strings.TrimRight(ev.Text, "\n")
	case wire.EventStep:
		return fmt.Sprintf("%s: %s", prefix, joinNonEmpty(": ", ev.Step, ev.Message))
	case wire.EventProgress:
		msg := joinNonEmpty(": ", ev.Step, ev.Message)
		if ev.Total > 0 {
			msg += fmt.Sprintf(" (%d/%d)", ev.Current, ev.Total)
		}
		return fmt.Sprintf("%s: %s", prefix, msg)
	case wire.EventStepDone:
		return fmt.Sprintf("%s: %s", prefix, joinNonEmpty(": ", ev.Step+" done", ev.Message))
	case wire.EventStepFailed:
		return failureText(ev)
	case wire.EventWarning:
		return fmt.Sprintf("%s: warning: %s", prefix, ev.Message)
	case wire.EventWaiting:
		return fmt.Sprintf("%s: waiting: %s", prefix, ev.Message)
	case wire.EventDone:
		return doneLine(ev)
	case wire.EventFailed:
		return fmt.Sprintf("%s: failed: %s", prefix, firstNonEmpty(ev.Error, ev.Message))
	case wire.EventError:
		return fmt.Sprintf("%s: error: %s", prefix, firstNonEmpty(ev.Error, ev.Message))
	}
	return ""
}

func doneLine(ev wire.Event) string {
	msg := ev.Instance + ": done"
	if ev.Release > 0 {
		msg += fmt.Sprintf(", release %d", ev.Release)
	}
	if ev.Message != "" {
		msg += ": " + ev.Message
	}
	return msg
}

// ttyRenderer keeps one live line per service (or per step without a
// service) and rewrites them in place with ANSI cursor moves; plans,
// warnings, a failing replica's last log lines and the outcome print above
// the live block. Each line shows … while its step runs, ✔ when it is done
// and ✘ when it failed, with the step's elapsed time, and the time left
// for steps that wait against a deadline (health); a ticker redraws the
// block every second while a step runs.
type ttyRenderer struct {
	mu    sync.Mutex
	w     io.Writer
	keys  []string
	lines map[string]*ttyLine
	drawn int // lines of the live block currently on screen
	// now is the clock (time.Now when nil); tick, when set, replaces the
	// one-second ticker (tests).
	now    func() time.Time
	ticker *time.Ticker
	stop   chan struct{}
}

// ttyLine is one live line: its text and the timing of its step.
type ttyLine struct {
	mark, name, msg, step string
	since, deadline       time.Time
	// took is the step's duration once it ended.
	took time.Duration
	done bool
}

const (
	ansiUp        = "\x1b[%dA"
	ansiClearDown = "\x1b[J"
	ansiClearLine = "\x1b[2K"
)

func (r *ttyRenderer) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

func (r *ttyRenderer) Event(ev wire.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Kind {
	case wire.EventDone, wire.EventFailed:
		// The live block stays on screen as the operation's final picture.
		r.redraw()
		fprintln(r.w, plainLine(ev))
		r.keys, r.lines, r.drawn = nil, nil, 0
		return
	case wire.EventPlan, wire.EventWarning, wire.EventWaiting, wire.EventError:
		r.above(plainLine(ev))
		return
	}
	key := ev.Service
	if key == "" {
		key = ev.Step
	}
	if key == "" {
		r.above(plainLine(ev))
		return
	}
	if r.lines == nil {
		r.lines = map[string]*ttyLine{}
	}
	l, ok := r.lines[key]
	if !ok {
		r.keys = append(r.keys, key)
		l = &ttyLine{since: r.clock()}
		r.lines[key] = l
	}
	r.update(l, ev)
	if ev.Kind == wire.EventStepFailed && ev.Text != "" {
		r.above(failureText(ev))
		return
	}
	r.startTicker()
	r.redraw()
}

// update sets a live line from ev.
func (r *ttyRenderer) update(l *ttyLine, ev wire.Event) {
	now := r.clock()
	if ev.Kind == wire.EventStep && (l.done || ev.Step != l.step) {
		// A new step of the line: its own clock.
		l.since, l.took, l.deadline = now, 0, time.Time{}
	}
	l.step = ev.Step
	l.done = ev.Kind == wire.EventStepDone || ev.Kind == wire.EventStepFailed
	if l.done {
		l.took = now.Sub(l.since)
	}
	if ev.Kind == wire.EventStep {
		l.deadline = ev.Deadline
	}
	l.mark, l.name, l.msg = ttyStatus(ev)
}

// ttyStatus is a live line's mark, name and text after ev.
func ttyStatus(ev wire.Event) (mark, name, msg string) {
	mark, msg = "…", joinNonEmpty(": ", ev.Step, ev.Message)
	switch ev.Kind {
	case wire.EventStepDone:
		mark, msg = "✔", joinNonEmpty(": ", ev.Step+" done", ev.Message)
	case wire.EventStepFailed:
		mark, msg = "✘", joinNonEmpty(": ", ev.Step+" failed", ev.Message)
	}
	name = ev.Service
	if name == "" {
		// A step of the whole instance (switch, persist, drain) is its own line.
		name, msg = ev.Step, ev.Message
		if ev.Kind == wire.EventStepDone && msg == "" {
			msg = "done"
		}
	}
	if ev.Replica != "" {
		msg = ev.Replica + " " + msg
	}
	if ev.Total > 0 {
		msg += fmt.Sprintf(" (%d/%d)", ev.Current, ev.Total)
	}
	return mark, name, msg
}

// text is the line as drawn at now.
func (l *ttyLine) text(now time.Time) string {
	timing := ""
	switch {
	case l.done:
		timing = "(" + shortDuration(l.took) + ")"
	case !l.deadline.IsZero():
		timing = fmt.Sprintf("%s, %s left", shortDuration(now.Sub(l.since)), shortDuration(max(l.deadline.Sub(now), 0)))
	default:
		timing = shortDuration(now.Sub(l.since))
	}
	return fmt.Sprintf(" %s %-16s %s  %s", l.mark, l.name, l.msg, timing)
}

// shortDuration is d for a progress line: 850ms, 4.2s, 1m05s.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	default:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// failureText is the failing replica's reason and last log lines, as
// printed above the live block (and by the plain renderer).
func failureText(ev wire.Event) string {
	subject := firstNonEmpty(ev.Replica, ev.Service)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", ev.Instance, subject, joinNonEmpty(": ", ev.Step+" failed", ev.Message))
	if ev.Text != "" {
		fmt.Fprintf(&b, "\n%s %s: last log lines:", ev.Instance, subject)
		for _, line := range strings.Split(strings.TrimRight(ev.Text, "\n"), "\n") {
			b.WriteString("\n  | " + line)
		}
	}
	return b.String()
}

// startTicker starts the redraws that keep elapsed and left times moving.
// The caller holds r.mu.
func (r *ttyRenderer) startTicker() {
	if r.ticker != nil || r.now != nil {
		return
	}
	r.ticker = time.NewTicker(time.Second)
	r.stop = make(chan struct{})
	go func(c <-chan time.Time, stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				return
			case <-c:
				r.mu.Lock()
				if r.running() {
					r.redraw()
				}
				r.mu.Unlock()
			}
		}
	}(r.ticker.C, r.stop)
}

// running reports whether a live line's step still runs.
func (r *ttyRenderer) running() bool {
	for _, k := range r.keys {
		if !r.lines[k].done {
			return true
		}
	}
	return false
}

// above prints text above the live block, then redraws the block.
func (r *ttyRenderer) above(text string) {
	if text == "" {
		return
	}
	r.erase()
	fprintln(r.w, text)
	r.drawn = 0
	r.redraw()
}

func (r *ttyRenderer) erase() {
	if r.drawn > 0 {
		fprintf(r.w, ansiUp, r.drawn)
		fprint(r.w, ansiClearDown)
	}
	r.drawn = 0
}

func (r *ttyRenderer) redraw() {
	if r.drawn > 0 {
		fprintf(r.w, ansiUp, r.drawn)
	}
	now := r.clock()
	for _, k := range r.keys {
		fprint(r.w, ansiClearLine)
		fprintln(r.w, r.lines[k].text(now))
	}
	r.drawn = len(r.keys)
}

func (r *ttyRenderer) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ticker != nil {
		r.ticker.Stop()
		close(r.stop)
		r.ticker = nil
	}
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
