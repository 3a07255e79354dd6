package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// Error is an error with its HTTP status decided; handlers return it for
// request problems they detect themselves.
type Error struct {
	Status  int
	Code    string
	Message string
	Hint    string
}

func (e *Error) Error() string { return e.Message }

func badRequest(msg, hint string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: msg, Hint: hint}
}

// toError decides the status, code and hint of err. It is the only place
// that maps engine and runtime errors to HTTP.
func toError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if se, ok := secretsError(err); ok {
		return se
	}
	if ae, ok := authError(err); ok {
		return ae
	}
	msg := err.Error()
	var nf *engine.NotFoundError
	switch {
	case errors.As(err, &nf):
		hint := "`quai ls` lists instances"
		if nf.Kind == "service" {
			hint = "`quai status INSTANCE` lists its services"
		}
		if len(nf.Suggestions) > 0 {
			hint = "did you mean " + strings.Join(nf.Suggestions, ", ") + "? " + hint
		}
		return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: msg, Hint: hint}
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, runtime.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: wire.CodeNotFound, Message: msg,
			Hint: "`quai ls` lists instances and `quai status INSTANCE` their services"}
	case errors.Is(err, engine.ErrNoRelease):
		return &Error{Status: http.StatusConflict, Code: wire.CodeNoRelease, Message: msg,
			Hint: "`quai releases INSTANCE` lists the releases; deploy with `quai up` first"}
	case errors.Is(err, engine.ErrPlanChanged):
		return &Error{Status: http.StatusConflict, Code: wire.CodePlanChanged, Message: msg,
			Hint: "the instance changed since you saw the plan; run `quai up` again to see the new plan; nothing was changed"}
	case errors.Is(err, engine.ErrRefused):
		return &Error{Status: http.StatusPreconditionFailed, Code: wire.CodeRefused, Message: msg,
			Hint: "each line names a promotion rule (x-quai.promotion in the target's stack) and how to satisfy it; nothing was changed"}
	case errors.Is(err, engine.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: msg,
			Hint: "the daemon is shutting down; retry once it is back"}
	case errors.Is(err, engine.ErrBackupsOff):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: msg,
			Hint: "the daemon log (DATA_DIR/daemon.log) says why the backup repository is not available"}
	case errors.Is(err, engine.ErrBusy):
		return &Error{Status: http.StatusConflict, Code: wire.CodeBusy, Message: msg,
			Hint: "another operation is running on this instance; wait for it to finish and retry"}
	case errors.Is(err, runtime.ErrUnsupported):
		return &Error{Status: http.StatusNotImplemented, Code: wire.CodeUnsupported, Message: msg,
			Hint: "choose another runtime with --runtime"}
	case errors.Is(err, runtime.ErrMissingDependency):
		return &Error{Status: http.StatusFailedDependency, Code: wire.CodeMissingDependency, Message: msg,
			Hint: "install what the message names on the daemon's host, then retry"}
	case errors.Is(err, runtime.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeUnavailable, Message: msg,
			Hint: "check that the runtime's engine is running and reachable from the daemon"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: wire.CodeCanceled, Message: msg}
	case errors.Is(err, stack.ErrInvalid), errors.Is(err, stack.ErrNoComposeFile):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: msg,
			Hint: "fix the stack file; `quai lint` explains each problem"}
	case errors.Is(err, engine.ErrSecret):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: msg,
			Hint: "nothing was changed; give the secret a value as the message says, then run `quai up` again"}
	case errors.Is(err, engine.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: wire.CodeInvalid, Message: msg}
	default:
		return &Error{Status: http.StatusInternalServerError, Code: wire.CodeInternal, Message: msg,
			Hint: "the daemon log (DATA_DIR/daemon.log) may say more"}
	}
}

// writeError answers with the one JSON error shape.
func writeError(w http.ResponseWriter, err error) {
	e := toError(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.ErrorDetail{Code: e.Code, Message: e.Message, Hint: e.Hint}})
}

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
