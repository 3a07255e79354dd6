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
)

func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	service := q.Get(ExecService)
	cmd := q[ExecCmd]
	tty, err := boolParam(r, ExecTTY)
	if err != nil {
		writeError(w, err)
		return
	}
	attachStdin, err := boolParam(r, ExecStdin)
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
	if !strings.EqualFold(r.Header.Get("Upgrade"), ExecUpgrade) {
		writeError(w, badRequest("exec needs a connection upgrade to "+ExecUpgrade, "use the quai client"))
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
		rows, _ := strconv.ParseUint(q.Get(ExecRows), 10, 16)
		cols, _ := strconv.ParseUint(q.Get(ExecCols), 10, 16)
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
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + ExecUpgrade + "\r\n\r\n"); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var mu sync.Mutex
	stdout := &FrameWriter{Mu: &mu, W: conn, Type: FrameStdout}
	stderr := &FrameWriter{Mu: &mu, W: conn, Type: FrameStderr}
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
			t, p, err := ReadFrame(brw.Reader)
			if err != nil {
				_ = stdinW.CloseWithError(io.EOF)
				return
			}
			switch t {
			case FrameStdin:
				if _, err := stdinW.Write(p); err != nil {
					continue // the command stopped reading stdin
				}
			case FrameStdinEOF:
				_ = stdinW.Close()
			case FrameResize:
				if rows, cols, ok := ParseResize(p); ok {
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
		_ = WriteFrame(conn, FrameError, []byte(msg))
		return
	}
	_ = WriteFrame(conn, FrameExit, ExitPayload(code))
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
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: fmt.Sprintf("instance %s has no service %q", st.Name, service),
		Hint:    "its services: " + strings.Join(names, ", ")}
}
