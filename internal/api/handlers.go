package api

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/auth"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/wire"
)

// maxBody bounds request bodies; a model with its resolved document is far smaller.
const maxBody = 32 << 20

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("the request body is empty", "send a JSON object")
		}
		return badRequest("cannot decode the request body: "+err.Error(),
			"the CLI and the daemon may be different versions; restart the daemon")
	}
	return nil
}

// handleInfo describes the daemon; where it keeps its files and its pid
// are the host's business, shown only to those who administer it.
func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	info := s.info
	if !auth.FromContext(r.Context()).HostAdmin() {
		info.PID, info.DataDir, info.Socket, info.Warnings = 0, "", "", nil
	}
	writeJSON(w, info)
}

func (s *Server) handlePlan(w http.ResponseWriter, r *http.Request) {
	var req wire.PlanRequest
	m, ok := s.decodeModelRequest(w, r, &req, &req.ModelPayload, "plan")
	if !ok {
		return
	}
	p, err := s.engine.Plan(r.Context(), m, req.Runtime)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, p)
}

func (s *Server) handleUp(w http.ResponseWriter, r *http.Request) {
	var req wire.UpRequest
	m, ok := s.decodeModelRequest(w, r, &req, &req.ModelPayload, "up")
	if !ok {
		return
	}
	s.stream(w, r, m.Identity.Name(), func(emit wire.Emitter) error {
		_, err := s.engine.Up(r.Context(), engine.UpRequest{
			Model: m, Runtime: req.Runtime, DryRun: req.DryRun, NoWait: req.NoWait,
			Cause: cmp.Or(req.Cause, "up"), Fingerprint: req.Fingerprint,
		}, emit)
		return err
	})
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	list, err := s.engine.List(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []engine.Instance{}
	}
	writeJSON(w, list)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.Status(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, st)
}

func (s *Server) handleReleases(w http.ResponseWriter, r *http.Request) {
	rels, err := s.engine.Releases(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	if rels == nil {
		rels = []engine.Release{}
	}
	writeJSON(w, rels)
}

// handlePromote streams a promotion to the instance in the path, which
// must be the one the model describes.
func (s *Server) handlePromote(w http.ResponseWriter, r *http.Request) {
	var req wire.PromoteRequest
	m, ok := s.decodeModelRequest(w, r, &req, &req.ModelPayload, "promote")
	if !ok {
		return
	}
	name := r.PathValue("name")
	if m.Identity.Name() != name {
		writeError(w, badRequest(fmt.Sprintf("the stack describes %s, not %s", m.Identity.Name(), name),
			"promote to the instance the target's stack describes"))
		return
	}
	if req.Source == "" {
		writeError(w, badRequest("no source instance to promote from", "name it, e.g. {\"source\": \"shop-staging\"}"))
		return
	}
	// The source's releases must be readable: a promotion copies them.
	n := noteOf(r.Context())
	target := *n
	if !s.authorizeInstance(w, r, "releases", req.Source) {
		return
	}
	*n = target
	s.stream(w, r, name, func(emit wire.Emitter) error {
		_, err := s.engine.Promote(r.Context(), engine.PromoteRequest{
			Model: m, Source: req.Source, Release: req.Release, Runtime: req.Runtime,
			DryRun: req.DryRun, NoWait: req.NoWait, Fingerprint: req.Fingerprint,
		}, emit)
		return err
	})
}

func (s *Server) handleRollback(w http.ResponseWriter, r *http.Request) {
	var req wire.RollbackRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		_, err := s.engine.Rollback(r.Context(), name, req.To, emit)
		return err
	})
}

func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	var req wire.RestartRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		return s.engine.Restart(r.Context(), name, req.Service, emit)
	})
}

func (s *Server) handleDown(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.stream(w, r, name, func(emit wire.Emitter) error {
		return s.engine.Down(r.Context(), name, emit)
	})
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	purge, err := boolParam(r, wire.RemovePurge)
	if err != nil {
		writeError(w, err)
		return
	}
	s.stream(w, r, name, func(emit wire.Emitter) error {
		return s.engine.Remove(r.Context(), name, purge, emit)
	})
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts, err := logOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	asJSON := false
	switch f := q.Get(wire.LogsFormat); f {
	case "", "text":
	case wire.LogsFormatJSON:
		asJSON = true
	default:
		writeError(w, badRequest(fmt.Sprintf("format=%q is not a log format", f), "use format=text or format=json"))
		return
	}
	rc, err := s.engine.Logs(r.Context(), r.PathValue("name"), q[wire.LogsService], opts)
	if err != nil {
		writeError(w, err)
		return
	}
	defer func() { _ = rc.Close() }()
	// Closing the reader is how a follow stops when the client goes away,
	// whether or not the runtime's reader watches the context.
	stop := context.AfterFunc(r.Context(), func() { _ = rc.Close() })
	defer stop()
	if asJSON {
		w.Header().Set("Content-Type", "application/x-ndjson")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	_ = fw.flush()
	if asJSON {
		buf := make([]byte, 32<<10)
		for {
			n, rerr := rc.Read(buf)
			if n > 0 {
				if _, werr := fw.Write(buf[:n]); werr != nil {
					return
				}
			}
			if rerr != nil {
				return
			}
		}
	}
	// Text: "<replica> | [<time> ]<line>", flushed when no more is ready.
	dec := json.NewDecoder(rc)
	bw := bufio.NewWriter(w)
	for {
		var l wire.LogLine
		if err := dec.Decode(&l); err != nil {
			_ = bw.Flush()
			_ = fw.flush()
			return
		}
		_, _ = bw.WriteString(l.Replica)
		_, _ = bw.WriteString(" | ")
		if opts.Timestamps && !l.Time.IsZero() {
			_, _ = bw.WriteString(l.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"))
			_ = bw.WriteByte(' ')
		}
		_, _ = bw.WriteString(l.Line)
		_ = bw.WriteByte('\n')
		if !decoderBuffered(dec) {
			if bw.Flush() != nil || fw.flush() != nil {
				return
			}
		}
	}
}

// decoderBuffered reports whether the decoder holds more input than the
// value it returned, so that a batch of lines goes out in one write.
func decoderBuffered(dec *json.Decoder) bool {
	b, _ := io.ReadAll(io.LimitReader(dec.Buffered(), 2))
	return len(strings.TrimSpace(string(b))) > 0
}

// logOptions reads the query parameters of GET .../logs.
func logOptions(r *http.Request) (runtime.LogOptions, error) {
	q := r.URL.Query()
	var opts runtime.LogOptions
	var err error
	if opts.Follow, err = boolParam(r, wire.LogsFollow); err != nil {
		return opts, err
	}
	if opts.Timestamps, err = boolParam(r, wire.LogsTimestamps); err != nil {
		return opts, err
	}
	for name, dst := range map[string]*time.Time{wire.LogsSince: &opts.Since, wire.LogsUntil: &opts.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return opts, badRequest(fmt.Sprintf("%s=%q is not an RFC 3339 time", name, v), "e.g. 2025-01-02T15:04:05Z")
			}
			*dst = t
		}
	}
	if v := q.Get(wire.LogsTail); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return opts, badRequest(fmt.Sprintf("tail=%q is not a line count", v), "e.g. tail=100")
		}
		opts.Tail = n
	}
	opts.Grep = q.Get(wire.LogsGrep)
	if v := q.Get(wire.LogsRelease); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return opts, badRequest(fmt.Sprintf("release=%q is not a release number", v), "e.g. release=3 (see quai releases)")
		}
		opts.Release = n
	}
	return opts, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest(fmt.Sprintf("%s=%q is not a boolean", name, v), "use true or false")
	}
	return b, nil
}

// flushWriter flushes after every write so streams reach the client as they happen.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.flush()
}

func (f *flushWriter) flush() error {
	if err := f.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
