package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/wire"
)

func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	service := q.Get(wire.ExecService)
	cmd := q[wire.ExecCmd]
	tty, err := boolParam(r, wire.ExecTTY)
	if err != nil {
		writeError(w, err)
		return
	}
	attachStdin, err := boolParam(r, wire.ExecStdin)
	if err != nil {
		writeError(w, err)
		return
	}
	if service == "" {
		writeError(w, badRequest("exec needs a service", "quai exec INSTANCE SERVICE -- CMD..."))
		return
	}
	if len(cmd) == 0 {
		writeError(w, badRequest("exec needs a command", "quai exec INSTANCE SERVICE -- CMD..."))
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), wire.ExecUpgrade) {
		writeError(w, badRequest("exec needs a connection upgrade to "+wire.ExecUpgrade, "use the quai client"))
		return
	}
	// Refuse unknown instances and services with a proper status while the
	// connection is still plain HTTP.
	st, err := s.engine.Status(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := checkService(st, service); err != nil {
		writeError(w, err)
		return
	}
	var initial *runtime.TermSize
	if tty {
		rows, _ := strconv.ParseUint(q.Get(wire.ExecRows), 10, 16)
		cols, _ := strconv.ParseUint(q.Get(wire.ExecCols), 10, 16)
		if rows > 0 && cols > 0 {
			initial = &runtime.TermSize{Rows: uint16(rows), Cols: uint16(cols)}
		}
	}

	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, fmt.Errorf("exec: cannot take over the connection: %w", err))
		return
	}
	defer func() { _ = conn.Close() }()
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + wire.ExecUpgrade + "\r\n\r\n"); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var mu sync.Mutex
	stdout := &wire.FrameWriter{Mu: &mu, W: conn, Type: wire.FrameStdout}
	stderr := &wire.FrameWriter{Mu: &mu, W: conn, Type: wire.FrameStderr}
	if tty {
		stderr = stdout
	}
	stdinR, stdinW := io.Pipe()
	resize := make(chan runtime.TermSize, 8)
	if initial != nil {
		resize <- *initial
	}
	go func() {
		// Reads until the client hangs up; a hang-up cancels the command.
		defer cancel()
		for {
			t, p, err := wire.ReadFrame(brw.Reader)
			if err != nil {
				_ = stdinW.CloseWithError(io.EOF)
				return
			}
			switch t {
			case wire.FrameStdin:
				if _, err := stdinW.Write(p); err != nil {
					continue // the command stopped reading stdin
				}
			case wire.FrameStdinEOF:
				_ = stdinW.Close()
			case wire.FrameResize:
				if rows, cols, ok := wire.ParseResize(p); ok {
					select {
					case resize <- runtime.TermSize{Rows: rows, Cols: cols}:
					default: // the runtime is behind; the next resize carries the size
					}
				}
			}
		}
	}()
	opts := runtime.ExecOptions{Cmd: cmd, TTY: tty, Stdout: stdout, Stderr: stderr, Resize: resize}
	if attachStdin {
		opts.Stdin = stdinR
	}
	code, err := s.engine.Exec(ctx, name, service, opts)
	_ = stdinR.Close()
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		s.log.Info("exec failed", "instance", name, "service", service, "err", err)
		e := toError(err)
		msg := e.Message
		if e.Hint != "" {
			msg += "\n" + e.Hint
		}
		_ = wire.WriteFrame(conn, wire.FrameError, []byte(msg))
		return
	}
	_ = wire.WriteFrame(conn, wire.FrameExit, wire.ExitPayload(code))
}

// checkService reports an unknown service of st as not found, with close matches.
func checkService(st engine.InstanceStatus, service string) error {
	names := make([]string, 0, len(st.Services))
	for _, s := range st.Services {
		if s.Service == service {
			return nil
		}
		names = append(names, s.Service)
	}
	slices.Sort(names)
	return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound,
		Message: fmt.Sprintf("instance %s has no service %q", st.Name, service),
		Hint:    "its services: " + strings.Join(names, ", ")}
}
