package loadtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// ErrorKind is the class of a failed request.
type ErrorKind string

// Error kinds, in the order reports list them.
const (
	// ErrConnectRefused: nothing listens where the client connects.
	ErrConnectRefused ErrorKind = "connect_refused"
	// ErrConnect: connecting failed otherwise (no route, the name does not
	// resolve).
	ErrConnect ErrorKind = "connect"
	// ErrTimeout: the request (connecting included) took longer than the
	// timeout.
	ErrTimeout ErrorKind = "timeout"
	// ErrReset: the server reset or closed the connection before the
	// answer was complete.
	ErrReset ErrorKind = "reset"
	// ErrTLS: the TLS handshake failed (a certificate that does not
	// verify, no common protocol).
	ErrTLS ErrorKind = "tls"
	// ErrProtocol: the answer is not HTTP as the run speaks it.
	ErrProtocol ErrorKind = "protocol"
	// ErrOther is anything else.
	ErrOther ErrorKind = "other"
)

// ErrorKinds lists every kind in report order.
var ErrorKinds = []ErrorKind{ErrConnectRefused, ErrConnect, ErrTimeout, ErrReset, ErrTLS, ErrProtocol, ErrOther}

func kindIndex(k ErrorKind) int {
	for i, x := range ErrorKinds {
		if x == k {
			return i
		}
	}
	return len(ErrorKinds) - 1
}

// errProtocol is wrapped by the errors of answers that do not parse.
var errProtocol = errors.New("malformed HTTP response")

// classify decides the kind of a request's error; dialing says it happened
// while connecting (TLS handshake included).
func classify(err error, dialing bool) ErrorKind {
	var tlsRecord tls.RecordHeaderError
	var tlsAlert tls.AlertError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrConnectRefused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case errors.As(err, &tlsRecord), errors.As(err, &tlsAlert), errors.As(err, &unknownCA),
		errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify),
		strings.Contains(err.Error(), "tls: "):
		return ErrTLS
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		if dialing && !errors.Is(err, syscall.ECONNRESET) {
			return ErrConnect
		}
		return ErrReset
	case errors.Is(err, errProtocol):
		return ErrProtocol
	case dialing:
		return ErrConnect
	}
	// HTTP/2 reports a stream or connection reset in its own words.
	if s := err.Error(); strings.Contains(s, "stream error") || strings.Contains(s, "connection error") ||
		strings.Contains(s, "GOAWAY") || strings.Contains(s, "server sent") ||
		strings.Contains(s, "client conn could not be established") {
		return ErrReset
	}
	return ErrOther
}
