package wire

// ErrorBody is the one JSON error shape every endpoint answers with.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what failed and what to do.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// Error codes, stable for clients.
const (
	CodeNotFound          = "not_found"
	CodeBusy              = "busy"
	CodeNoRelease         = "no_release"
	CodePlanChanged       = "plan_changed"
	CodeInvalid           = "invalid"
	CodeForbidden         = "forbidden"
	CodeUnsupported       = "unsupported"
	CodeMissingDependency = "missing_dependency"
	CodeUnavailable       = "unavailable"
	CodeCanceled          = "canceled"
	CodeInternal          = "internal"
	// CodeKeyInUse: an age key generation a sealed file still lists.
	CodeKeyInUse = "key_in_use"
	// CodeWrongPassphrase: a key bundle that does not open with the passphrase.
	CodeWrongPassphrase = "wrong_passphrase"
	// CodeRefused: a promotion rule does not hold; nothing was changed.
	CodeRefused = "refused"
	// CodeUnauthenticated: no credentials, or ones that are unknown,
	// expired or revoked (401).
	CodeUnauthenticated = "unauthenticated"
)
