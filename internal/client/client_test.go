package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/api"
	"github.com/quai-dev/quai/internal/api/apitest"
	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// shortTempDir keeps socket paths under the kernel's 108-byte limit.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "quai-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// serve runs the API over a real unix socket and returns a client of it.
func serve(t *testing.T, e *apitest.Engine) *client.Client {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "quai.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.New(api.Options{Engine: e})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c := client.New(sock)
	t.Cleanup(c.Close)
	return c
}

func TestNoDaemon(t *testing.T) {
	dir := shortTempDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the file but stop listening: connecting is refused.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = ln.Close()

	for name, sock := range map[string]string{
		"missing socket": filepath.Join(dir, "missing.sock"),
		"refused socket": stale,
	} {
		t.Run(name, func(t *testing.T) {
			c := client.New(sock)
			_, err := c.Instances(context.Background())
			if !errors.Is(err, client.ErrDaemonNotRunning) {
				t.Fatalf("err = %v, want ErrDaemonNotRunning", err)
			}
			msg := err.Error()
			for _, want := range []string{sock, "is the quai daemon running? start it with `quai serve`"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestStatusesBecomeErrorTypes(t *testing.T) {
	var asked string
	c := serve(t, &apitest.Engine{
		StatusFunc: func(_ context.Context, name string) (engine.InstanceStatus, error) {
			asked = name
			switch name {
			case "acme/shop-dev":
				return engine.InstanceStatus{Instance: engine.Instance{Name: name, State: engine.InstanceRunning}}, nil
			case "busy-dev":
				return engine.InstanceStatus{}, fmt.Errorf("%s: %w", name, engine.ErrBusy)
			}
			return engine.InstanceStatus{}, &engine.NotFoundError{Kind: "instance", Name: name, Suggestions: []string{"acme/shop-dev"}}
		},
	})
	ctx := context.Background()
	st, err := c.Status(ctx, "acme/shop-dev")
	if err != nil || st.Name != "acme/shop-dev" || asked != "acme/shop-dev" {
		t.Fatalf("Status(acme/shop-dev) = %+v, %v (engine asked for %q)", st, err, asked)
	}

	_, err = c.Status(ctx, "acme/shop-dve")
	var ae *client.APIError
	if !errors.As(err, &ae) || !errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrBusy) {
		t.Fatalf("err = %#v, want an *APIError matching ErrNotFound only", err)
	}
	if ae.Status != 404 || ae.Code != wire.CodeNotFound || !strings.Contains(ae.Hint, "acme/shop-dev") || !strings.Contains(err.Error(), "did you mean acme/shop-dev") {
		t.Errorf("APIError = %+v; want 404 not_found with the suggestion in the hint and message", ae)
	}

	_, err = c.Status(ctx, "busy-dev")
	if !errors.Is(err, client.ErrBusy) {
		t.Errorf("err = %v, want ErrBusy", err)
	}
}

func TestOperationEvents(t *testing.T) {
	var gotModel *stack.Model
	c := serve(t, &apitest.Engine{
		UpFunc: func(_ context.Context, req engine.UpRequest, emit engine.Emitter) (engine.Release, error) {
			gotModel = req.Model
			emit(engine.Event{Kind: engine.EventStep, Service: "web", Step: "start"})
			emit(engine.Event{Kind: engine.EventStepDone, Service: "web", Step: "start"})
			emit(engine.Event{Kind: engine.EventDone, Release: 2})
			return engine.Release{Number: 2}, nil
		},
		RollbackFunc: func(_ context.Context, _ string, to int, emit engine.Emitter) (engine.Release, error) {
			emit(engine.Event{Kind: engine.EventStep, Step: "rollback"})
			err := fmt.Errorf("release %d: %w", to, engine.ErrUnhealthy)
			emit(engine.Event{Kind: engine.EventFailed, Error: err.Error()})
			return engine.Release{}, err
		},
	})
	ctx := context.Background()
	m := &stack.Model{Identity: stack.Identity{Project: "shop", Env: "dev"}, Services: []*stack.Service{{Name: "web", Replicas: 1}}, Resolved: []byte("x: 1\n")}
	var kinds []engine.EventKind
	payload, err := wire.NewModelPayload(m, m.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Up(ctx, payload, client.UpOptions{}, func(ev engine.Event) { kinds = append(kinds, ev.Kind) })
	if err != nil {
		t.Fatal(err)
	}
	if final.Kind != engine.EventDone || final.Release != 2 || fmt.Sprint(kinds) != "[step step-done done]" {
		t.Errorf("final = %+v, events %v", final, kinds)
	}
	if gotModel == nil || string(gotModel.Resolved) != "x: 1\n" {
		t.Errorf("engine got model %+v; want the resolved document carried along", gotModel)
	}

	_, err = c.Rollback(ctx, "shop-dev", 1, nil)
	var oe *client.OperationError
	if !errors.As(err, &oe) || !errors.Is(err, client.ErrOperationFailed) || !strings.Contains(err.Error(), "shop-dev: release 1: ") {
		t.Fatalf("err = %v, want an OperationError saying why", err)
	}
}

func TestReadEventsCutStream(t *testing.T) {
	_, err := client.ReadEvents(strings.NewReader(`{"kind":"step","instance":"a"}`+"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "before the operation finished") {
		t.Fatalf("err = %v, want a cut-stream error", err)
	}
}

func TestExec(t *testing.T) {
	c := serve(t, &apitest.Engine{
		StatusFunc: func(_ context.Context, name string) (engine.InstanceStatus, error) {
			return engine.InstanceStatus{Instance: engine.Instance{Name: name}, Services: []engine.ServiceStatus{{Service: "web"}, {Service: "db"}}}, nil
		},
		ExecFunc: func(_ context.Context, _, service string, o runtime.ExecOptions) (int, error) {
			if o.TTY {
				sz := <-o.Resize
				_, _ = fmt.Fprintf(o.Stdout, "tty %dx%d", sz.Cols, sz.Rows)
				return 0, nil
			}
			in, err := io.ReadAll(o.Stdin)
			if err != nil {
				return -1, err
			}
			_, _ = fmt.Fprintf(o.Stdout, "%s:%s:%s", service, strings.Join(o.Cmd, " "), bytes.ToUpper(in))
			_, _ = io.WriteString(o.Stderr, "to stderr")
			return 3, nil
		},
	})
	ctx := context.Background()
	var out, errOut bytes.Buffer
	big := strings.Repeat("x", wire.MaxFrame+10) // spans two frames
	code, err := c.Exec(ctx, "shop-dev", client.ExecOptions{Service: "web", Cmd: []string{"cat", "-"},
		Stdin: strings.NewReader("hi " + big), Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || out.String() != "web:cat -:HI "+strings.ToUpper(big) || errOut.String() != "to stderr" {
		t.Errorf("code %d, stdout %d bytes (prefix %q), stderr %q", code, out.Len(), out.String()[:min(20, out.Len())], errOut.String())
	}

	out.Reset()
	code, err = c.Exec(ctx, "shop-dev", client.ExecOptions{Service: "web", Cmd: []string{"sh"}, TTY: true,
		Size: &wire.TermSize{Rows: 40, Cols: 120}, Stdout: &out})
	if err != nil || code != 0 || out.String() != "tty 120x40" {
		t.Errorf("tty exec: code %d, err %v, out %q", code, err, out.String())
	}

	_, err = c.Exec(ctx, "shop-dev", client.ExecOptions{Service: "wbe", Cmd: []string{"ls"}})
	if !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "db, web") {
		t.Errorf("unknown service: err = %v, want not found listing the services", err)
	}
}

// TestPromote: the request reaches the engine whole, for a target whose
// name holds its organization; a refused rule is ErrRefused; a stack that
// describes another instance than the path is refused before the engine.
func TestPromote(t *testing.T) {
	var got engine.PromoteRequest
	c := serve(t, &apitest.Engine{
		PromoteFunc: func(_ context.Context, req engine.PromoteRequest, emit engine.Emitter) (engine.Release, error) {
			got = req
			if req.Release == 9 {
				return engine.Release{}, fmt.Errorf("from (envs/prod.yaml:3:5) allows promotions only from qa: %w", engine.ErrRefused)
			}
			emit(engine.Event{Kind: engine.EventPlan, Text: "promote acme/shop-staging release 2 to acme/shop-prod\n"})
			emit(engine.Event{Kind: engine.EventDone, Release: 4})
			return engine.Release{Number: 4}, nil
		},
	})
	ctx := context.Background()
	m := &stack.Model{Identity: stack.Identity{Org: "acme", Project: "shop", Env: "prod"}, Services: []*stack.Service{{Name: "web", Replicas: 1}}}
	payload, err := wire.NewModelPayload(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := client.PromoteOptions{Source: "acme/shop-staging", Release: 2, DryRun: true, NoWait: true, Fingerprint: "sha256:ab"}
	final, err := c.Promote(ctx, payload, "acme/shop-prod", opts, nil)
	if err != nil || final.Release != 4 {
		t.Fatalf("Promote = %+v, %v", final, err)
	}
	if got.Model.Identity.Name() != "acme/shop-prod" || got.Source != "acme/shop-staging" || got.Release != 2 || !got.DryRun || !got.NoWait || got.Fingerprint != "sha256:ab" {
		t.Errorf("engine got %+v", got)
	}

	opts.Release = 9
	_, err = c.Promote(ctx, payload, "acme/shop-prod", opts, nil)
	if !errors.Is(err, client.ErrRefused) || !strings.Contains(err.Error(), "envs/prod.yaml:3:5") {
		t.Errorf("refused promotion: %v; want ErrRefused naming the rule", err)
	}

	got = engine.PromoteRequest{}
	_, err = c.Promote(ctx, payload, "acme/shop-dev", opts, nil)
	if !errors.Is(err, client.ErrInvalid) || got.Source != "" {
		t.Errorf("stack of acme/shop-prod sent to acme/shop-dev: %v (engine called: %v); want ErrInvalid before the engine", err, got.Source != "")
	}
}
