// Package client is the typed Go client of quai's daemon API: the CLI, the
// tests and the dashboard use it. It dials the daemon's unix socket (New),
// or a daemon's network API over TLS with a pinned CA and a bearer token
// (NewRemote, remote.go); the typed API is the same. It turns HTTP statuses
// into error types, a refused or missing socket into ErrDaemonNotRunning,
// an unreachable host into ErrUnreachable, a certificate that does not
// match the pin into *PinError and a 401 into ErrUnauthenticated.
//
// It imports the API's vocabulary (internal/wire) and the standard library
// only, so a program built on it links no daemon code.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

// Errors a call may return, matched with errors.Is. *APIError values match
// the sentinel of their status or code.
var (
	// ErrDaemonNotRunning: nothing answers on the socket.
	ErrDaemonNotRunning = errors.New("the quai daemon is not running")
	ErrNotFound         = errors.New("not found")
	ErrBusy             = errors.New("instance busy")
	ErrInvalid          = errors.New("invalid request")
	ErrForbidden        = errors.New("forbidden")
	ErrUnsupported      = errors.New("unsupported")
	// ErrPlanChanged: up was refused because the daemon's plan is not the
	// one the caller confirmed.
	ErrPlanChanged = errors.New("the plan changed")
	// ErrRefused: a promotion was refused by a rule of the target's
	// x-quai.promotion; the message names each rule and how to satisfy it.
	ErrRefused = errors.New("promotion refused")
	// ErrOperationFailed: an operation's event stream ended with a failed event.
	ErrOperationFailed = errors.New("operation failed")
	// ErrUnauthenticated: the network API refused the credentials (none,
	// unknown, expired or revoked): log in again.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrUnreachable: nothing answers at a remote daemon's address.
	ErrUnreachable = errors.New("the remote quai daemon is unreachable")
)

// APIError is an error answered by the daemon in the API's error shape.
type APIError struct {
	Status  int
	Code    string
	Message string
	Hint    string
}

func (e *APIError) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + "\n  " + e.Hint
}

// Is matches the sentinel of the error's status or code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrBusy:
		return e.Code == wire.CodeBusy
	case ErrPlanChanged:
		return e.Code == wire.CodePlanChanged
	case ErrRefused:
		return e.Code == wire.CodeRefused
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrUnsupported:
		return e.Status == http.StatusNotImplemented
	case ErrUnauthenticated:
		return e.Status == http.StatusUnauthorized
	}
	return false
}

// DaemonError says the daemon could not be reached at Socket.
type DaemonError struct {
	Socket string
	Err    error
}

func (e *DaemonError) Error() string {
	return fmt.Sprintf("cannot reach the quai daemon at %s: is the quai daemon running? start it with `quai serve`", e.Socket)
}

// Unwrap returns both the cause and ErrDaemonNotRunning.
func (e *DaemonError) Unwrap() []error { return []error{ErrDaemonNotRunning, e.Err} }

// OperationError is a failed event that ended an operation's stream.
type OperationError struct {
	Event wire.Event
}

func (e *OperationError) Error() string {
	msg := e.Event.Error
	if msg == "" {
		msg = e.Event.Message
	}
	if e.Event.Instance != "" {
		return e.Event.Instance + ": " + msg
	}
	return msg
}

// Unwrap lets errors.Is(err, ErrOperationFailed) match.
func (e *OperationError) Unwrap() error { return ErrOperationFailed }

// Client talks to one daemon.
type Client struct {
	socket string
	http   *http.Client
	base   string
	// remote is the network API's URL (NewRemote), empty on the socket;
	// token is sent as a bearer token.
	remote string
	token  string
}

// New returns a client of the daemon listening on the unix socket path.
func New(socket string) *Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}, base: "http://" + wire.SocketHost + wire.Prefix}
}

// Socket is the socket path the client dials.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func instancePath(name string, rest string) string {
	return "/instances/" + url.PathEscape(name) + rest
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(err)
	}
	if resp.StatusCode >= 300 {
		defer func() { _ = resp.Body.Close() }()
		return nil, c.remoteHint(decodeError(resp))
	}
	return resp, nil
}

// transportError turns a failure to connect into DaemonError (socket),
// RemoteError or PinError (network).
func (c *Client) transportError(err error) error {
	if c.remote != "" {
		return c.remoteError(err)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) || errors.Is(err, os.ErrNotExist) {
		return &DaemonError{Socket: c.socket, Err: err}
	}
	return fmt.Errorf("quai daemon at %s: %w", c.socket, err)
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body wire.ErrorBody
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Message == "" {
		msg := string(bytes.TrimSpace(b))
		if msg == "" {
			msg = resp.Status
		}
		return &APIError{Status: resp.StatusCode, Code: wire.CodeInternal, Message: msg}
	}
	return &APIError{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message, Hint: body.Error.Hint}
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	return c.callJSON(ctx, http.MethodGet, path, nil, v)
}

// postJSON sends body and decodes the JSON answer into v.
func (c *Client) postJSON(ctx context.Context, path string, body, v any) error {
	return c.callJSON(ctx, http.MethodPost, path, body, v)
}

func (c *Client) callJSON(ctx context.Context, method, path string, body, v any) error {
	resp, err := c.do(ctx, method, path, nil, body)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode daemon answer to %s: %w", path, err)
	}
	return nil
}

// Info describes the daemon; it is also the cheapest way to check it runs.
func (c *Client) Info(ctx context.Context) (wire.Info, error) {
	var v wire.Info
	err := c.getJSON(ctx, "/info", &v)
	return v, err
}

// Instances lists the installed instances.
func (c *Client) Instances(ctx context.Context) ([]wire.Instance, error) {
	var v []wire.Instance
	err := c.getJSON(ctx, "/instances", &v)
	return v, err
}

// Status reports an instance's services, replicas and routes.
func (c *Client) Status(ctx context.Context, instance string) (wire.InstanceStatus, error) {
	var v wire.InstanceStatus
	err := c.getJSON(ctx, instancePath(instance, ""), &v)
	return v, err
}

// Releases lists an instance's releases.
func (c *Client) Releases(ctx context.Context, instance string) ([]wire.Release, error) {
	var v []wire.Release
	err := c.getJSON(ctx, instancePath(instance, "/releases"), &v)
	return v, err
}

// Plan asks what `up` would do with the model m carries.
func (c *Client) Plan(ctx context.Context, m wire.ModelPayload, runtimeName string) (wire.Plan, error) {
	resp, err := c.do(ctx, http.MethodPost, "/plan", nil, wire.PlanRequest{ModelPayload: m, Runtime: runtimeName})
	if err != nil {
		return wire.Plan{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var p wire.Plan
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return wire.Plan{}, fmt.Errorf("decode plan: %w", err)
	}
	return p, nil
}

// UpOptions are the options of Up besides the model.
type UpOptions struct {
	Runtime string
	DryRun  bool
	NoWait  bool
	Cause   string
	// Fingerprint is the Plan.Fingerprint of the plan the user confirmed:
	// the daemon refuses a different plan (ErrPlanChanged). Empty: run
	// whatever the daemon plans.
	Fingerprint string
}

// Up installs or updates the instance the model m carries describes,
// calling emit for each event. It returns the final event (done); a failed
// operation returns an *OperationError.
func (c *Client) Up(ctx context.Context, m wire.ModelPayload, opts UpOptions, emit wire.Emitter) (wire.Event, error) {
	req := wire.UpRequest{ModelPayload: m, Runtime: opts.Runtime,
		DryRun: opts.DryRun, NoWait: opts.NoWait, Cause: opts.Cause, Fingerprint: opts.Fingerprint}
	return c.operation(ctx, http.MethodPost, "/up", nil, req, emit)
}

// PromoteOptions are the options of Promote besides the target's model.
type PromoteOptions struct {
	// Source is the instance whose release is promoted.
	Source string
	// Release is the source's release; 0 means its active one.
	Release int
	Runtime string
	DryRun  bool
	NoWait  bool
	// Fingerprint is the Plan.Fingerprint of the promotion plan the user
	// confirmed, as in UpOptions.
	Fingerprint string
}

// Promote deploys to the instance m describes the images of a release of
// opts.Source, with m's configuration. With DryRun the stream carries the
// plan and changes nothing. A refused rule is an *APIError matching
// ErrRefused.
func (c *Client) Promote(ctx context.Context, m wire.ModelPayload, target string, opts PromoteOptions, emit wire.Emitter) (wire.Event, error) {
	req := wire.PromoteRequest{ModelPayload: m, Source: opts.Source, Release: opts.Release, Runtime: opts.Runtime,
		DryRun: opts.DryRun, NoWait: opts.NoWait, Fingerprint: opts.Fingerprint}
	return c.operation(ctx, http.MethodPost, instancePath(target, "/promote"), nil, req, emit)
}

// Rollback returns an instance to release to (0: the previous one).
func (c *Client) Rollback(ctx context.Context, instance string, to int, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, instancePath(instance, "/rollback"), nil, wire.RollbackRequest{To: to}, emit)
}

// Restart restarts one service of an instance, or all when service is empty.
func (c *Client) Restart(ctx context.Context, instance, service string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, instancePath(instance, "/restart"), nil, wire.RestartRequest{Service: service}, emit)
}

// Down stops an instance's replicas, keeping its releases and data.
func (c *Client) Down(ctx context.Context, instance string, emit wire.Emitter) (wire.Event, error) {
	return c.operation(ctx, http.MethodPost, instancePath(instance, "/down"), nil, struct{}{}, emit)
}

// Remove deletes an instance; purge also deletes its volumes and data.
func (c *Client) Remove(ctx context.Context, instance string, purge bool, emit wire.Emitter) (wire.Event, error) {
	q := url.Values{}
	if purge {
		q.Set(wire.RemovePurge, "true")
	}
	return c.operation(ctx, http.MethodDelete, instancePath(instance, ""), q, nil, emit)
}

// operation runs a streaming call and reads its NDJSON events.
func (c *Client) operation(ctx context.Context, method, path string, q url.Values, body any, emit wire.Emitter) (wire.Event, error) {
	resp, err := c.do(ctx, method, path, q, body)
	if err != nil {
		return wire.Event{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	return ReadEvents(resp.Body, emit)
}

// ReadEvents reads an NDJSON event stream to its end, calling emit (if not
// nil) for every event. It returns the terminal event; a failed one comes
// back as *OperationError, a stream cut before its end as an error.
func ReadEvents(r io.Reader, emit wire.Emitter) (wire.Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev wire.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return wire.Event{}, fmt.Errorf("decode event %q: %w", line, err)
		}
		if emit != nil {
			emit(ev)
		}
		switch ev.Kind {
		case wire.EventDone:
			return ev, nil
		case wire.EventFailed:
			return ev, &OperationError{Event: ev}
		}
	}
	if err := sc.Err(); err != nil {
		return wire.Event{}, fmt.Errorf("event stream from the daemon broke: %w", err)
	}
	return wire.Event{}, errors.New("the daemon ended the event stream before the operation finished; `quai status` shows where the instance stands")
}

// LogsOptions select log lines.
type LogsOptions struct {
	// Service and Services name the services whose logs to read; none
	// means every service.
	Service  string
	Services []string
	Follow   bool
	// Since and Until select lines by time (Until excluded).
	Since time.Time
	Until time.Time
	// Tail keeps the last lines of each replica; 0 means all.
	Tail int
	// Timestamps puts each line's time before it (text only).
	Timestamps bool
	// Grep keeps the lines matching a regular expression (RE2 syntax).
	Grep string
	// Release selects one release's replicas, those a failed release
	// left included (0: every release's).
	Release int
}

func (o LogsOptions) query() url.Values {
	q := url.Values{}
	if o.Service != "" {
		q.Add(wire.LogsService, o.Service)
	}
	for _, s := range o.Services {
		q.Add(wire.LogsService, s)
	}
	if o.Follow {
		q.Set(wire.LogsFollow, "true")
	}
	if !o.Since.IsZero() {
		q.Set(wire.LogsSince, o.Since.UTC().Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		q.Set(wire.LogsUntil, o.Until.UTC().Format(time.RFC3339Nano))
	}
	if o.Tail > 0 {
		q.Set(wire.LogsTail, strconv.Itoa(o.Tail))
	}
	if o.Timestamps {
		q.Set(wire.LogsTimestamps, "true")
	}
	if o.Grep != "" {
		q.Set(wire.LogsGrep, o.Grep)
	}
	if o.Release > 0 {
		q.Set(wire.LogsRelease, strconv.Itoa(o.Release))
	}
	return q
}

// Logs streams an instance's (or some services') log lines as text,
// "<replica> | [<time> ]<line>", merged in time order; close the reader to
// stop following.
func (c *Client) Logs(ctx context.Context, instance string, opts LogsOptions) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, instancePath(instance, "/logs"), opts.query(), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// LogLines streams an instance's (or some services') log lines as values,
// merged in time order; close it to stop following.
func (c *Client) LogLines(ctx context.Context, instance string, opts LogsOptions) (*LogLines, error) {
	q := opts.query()
	q.Set(wire.LogsFormat, wire.LogsFormatJSON)
	resp, err := c.do(ctx, http.MethodGet, instancePath(instance, "/logs"), q, nil) //nolint:bodyclose // LogLines.Close closes it
	if err != nil {
		return nil, err
	}
	return &LogLines{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// LogLines is a stream of log lines.
type LogLines struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Next returns the next line; io.EOF at the end of the stream.
func (l *LogLines) Next() (wire.LogLine, error) {
	var line wire.LogLine
	err := l.dec.Decode(&line)
	return line, err
}

// Close ends the stream.
func (l *LogLines) Close() error { return l.body.Close() }
