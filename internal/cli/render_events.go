package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

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
// warnings and the outcome print above the live block.
type ttyRenderer struct {
	mu    sync.Mutex
	w     io.Writer
	keys  []string
	lines map[string]string
	drawn int // lines of the live block currently on screen
}

const (
	ansiUp        = "\x1b[%dA"
	ansiClearDown = "\x1b[J"
	ansiClearLine = "\x1b[2K"
)

func (r *ttyRenderer) Event(ev wire.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Kind {
	case wire.EventDone, wire.EventFailed:
		// The live block stays on screen as the operation's final picture.
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
		r.lines = map[string]string{}
	}
	if _, ok := r.lines[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.lines[key] = ttyStatus(ev)
	r.redraw()
}

// ttyStatus is a live line's text after ev.
func ttyStatus(ev wire.Event) string {
	mark, msg := "…", joinNonEmpty(": ", ev.Step, ev.Message)
	if ev.Kind == wire.EventStepDone {
		mark, msg = "✔", joinNonEmpty(": ", ev.Step+" done", ev.Message)
	}
	name := ev.Service
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
	return fmt.Sprintf(" %s %-16s %s", mark, name, msg)
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
	for _, k := range r.keys {
		fprint(r.w, ansiClearLine)
		fprintln(r.w, r.lines[k])
	}
	r.drawn = len(r.keys)
}

func (r *ttyRenderer) Close() {}

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
