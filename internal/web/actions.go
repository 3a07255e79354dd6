package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

// operation is an operation the dashboard started (rollback, backup,
// restore): its events are kept so the page that follows it, opened after
// the POST, sees them from the start, and so does a reload.
type operation struct {
	ID       string
	Session  string
	Instance string
	Title    string
	Started  time.Time

	mu      sync.Mutex
	events  []wire.Event
	done    bool
	err     string
	changed chan struct{} // closed and replaced at every event
}

type operations struct {
	mu   sync.Mutex
	byID map[string]*operation
}

// maxOperations bounds the finished operations kept for their pages.
const maxOperations = 200

func newOperations() *operations { return &operations{byID: map[string]*operation{}} }

func (o *operation) add(ev wire.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, ev)
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *operation) finish(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	if err != nil {
		o.err = err.Error()
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// since returns the events after the first n, whether it ended, and a
// channel closed at the next change.
func (o *operation) since(n int) ([]wire.Event, bool, string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var evs []wire.Event
	if n < len(o.events) {
		evs = append(evs, o.events[n:]...)
	}
	return evs, o.done, o.err, o.changed
}

// start runs op in the background for session s and sends the browser to
// the operation's page, where its events stream in.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, s *session, instance, title string,
	op func(ctx context.Context, emit wire.Emitter) error) {
	o := &operation{ID: randomID(12), Session: s.id, Instance: instance, Title: title, Started: h.now(), changed: make(chan struct{})}
	h.ops.mu.Lock()
	if len(h.ops.byID) >= maxOperations {
		for id, old := range h.ops.byID {
			if _, done, _, _ := old.since(0); done {
				delete(h.ops.byID, id)
			}
		}
	}
	h.ops.byID[o.ID] = o
	h.ops.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(h.opsCtx, time.Hour)
		defer cancel()
		err := op(ctx, o.add)
		o.finish(err)
	}()
	http.Redirect(w, r, "/ui/ops/"+o.ID, http.StatusSeeOther)
}

// op finds an operation of session s; another session's is not found.
func (h *Handler) op(id string, s *session) *operation {
	h.ops.mu.Lock()
	defer h.ops.mu.Unlock()
	o := h.ops.byID[id]
	if o == nil || o.Session != s.id {
		return nil
	}
	return o
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	to, err := strconv.Atoi(r.PostFormValue("to"))
	if err != nil || to < 1 {
		h.fail(w, r, http.StatusBadRequest, "the release to roll back to is missing")
		return
	}
	h.start(w, r, s, name, fmt.Sprintf("Rollback of %s to release %d", name, to), func(ctx context.Context, emit wire.Emitter) error {
		_, err := s.api.Rollback(ctx, name, to, emit)
		return err
	})
}

func (h *Handler) backupNow(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	service := r.PostFormValue("service")
	h.start(w, r, s, name, "Backup of "+name, func(ctx context.Context, emit wire.Emitter) error {
		_, err := s.api.Backup(ctx, name, service, emit)
		return err
	})
}

// drill restores the instance's newest snapshots beside it and checks the
// application starts on them (quai backup drill).
func (h *Handler) drill(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	h.start(w, r, s, name, "Restore drill of "+name, func(ctx context.Context, emit wire.Emitter) error {
		_, err := s.api.Drill(ctx, name, emit)
		return err
	})
}

type restoreData struct {
	Instance string
	Run      wire.BackupRun
}

// restoreConfirm shows what a restore of ?snapshot= replaces.
func (h *Handler) restoreConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	snap := r.URL.Query().Get("snapshot")
	list, err := s.api.Backups(r.Context(), name)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	for _, run := range list.Runs {
		if run.Snapshot == snap && snap != "" {
			h.render(w, r, http.StatusOK, "restore", s, restoreData{Instance: name, Run: run})
			return
		}
	}
	h.notFound(w, r, "no snapshot "+strconv.Quote(snap)+" of "+name)
}

func (h *Handler) restore(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	req := wire.RestoreRequest{Snapshot: r.PostFormValue("snapshot"), Service: r.PostFormValue("service")}
	if req.Snapshot == "" {
		h.fail(w, r, http.StatusBadRequest, "the snapshot to restore is missing")
		return
	}
	h.start(w, r, s, name, "Restore of "+name+" from "+req.Snapshot, func(ctx context.Context, emit wire.Emitter) error {
		_, err := s.api.Restore(ctx, name, req, emit)
		return err
	})
}

func (h *Handler) silence(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	dur, err := time.ParseDuration(r.PostFormValue("for"))
	if err != nil || dur <= 0 {
		h.fail(w, r, http.StatusBadRequest, "the silence's duration is not valid: use 1h, 30m...")
		return
	}
	_, err = s.api.Silence(r.Context(), wire.SilenceRequest{Instance: name, Rule: r.PostFormValue("rule"), For: dur,
		Comment: "from the dashboard by " + s.user})
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/i/"+url.PathEscape(name)+"#alerts", http.StatusSeeOther) //nolint:gosec // a path of this site, escaped

}

func (h *Handler) opPage(w http.ResponseWriter, r *http.Request, s *session) {
	o := h.op(r.PathValue("id"), s)
	if o == nil {
		h.notFound(w, r, "no such operation: operations are kept while the daemon runs")
		return
	}
	h.render(w, r, http.StatusOK, "op", s, o)
}

// sse prepares a server-sent events response.
func sse(w http.ResponseWriter) (*http.ResponseController, bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	return rc, rc.Flush() == nil
}

// writeEvent writes one SSE event whose data is v as JSON.
func writeEvent(w http.ResponseWriter, rc *http.ResponseController, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return err
	}
	return rc.Flush()
}

// opEvents streams an operation's events (all of them, then the new ones)
// as SSE, and an "end" event when it is over.
func (h *Handler) opEvents(w http.ResponseWriter, r *http.Request, s *session) {
	o := h.op(r.PathValue("id"), s)
	if o == nil {
		h.notFound(w, r, "no such operation")
		return
	}
	rc, ok := sse(w)
	if !ok {
		return
	}
	n := 0
	for {
		evs, done, failure, changed := o.since(n)
		for _, ev := range evs {
			if err := writeEvent(w, rc, "op", ev); err != nil {
				return
			}
		}
		n += len(evs)
		if done {
			_ = writeEvent(w, rc, "end", map[string]string{"error": failure})
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// logStream follows an instance's logs (?service=, ?grep=) as SSE "log"
// events; pausing and filtering what shows is the page's.
func (h *Handler) logStream(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	opts := client.LogsOptions{Follow: true, Tail: 100, Grep: q.Get("grep")}
	if sv := q.Get("service"); sv != "" {
		opts.Services = strings.Split(sv, ",")
	}
	lines, err := s.api.LogLines(r.Context(), r.PathValue("name"), opts)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	defer func() { _ = lines.Close() }()
	rc, ok := sse(w)
	if !ok {
		return
	}
	// The API ends the follow when the request's context ends (the
	// browser went away); a token that expires ends it too.
	for {
		l, err := lines.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				_ = writeEvent(w, rc, "end", map[string]string{"error": err.Error()})
			}
			return
		}
		if err := writeEvent(w, rc, "log", l); err != nil {
			return
		}
	}
}
