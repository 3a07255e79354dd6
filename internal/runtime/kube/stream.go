package kube

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

func podLogOptions(opts runtime.LogOptions) *corev1.PodLogOptions {
	// Until is left to the engine, which filters every runtime's lines by
	// their time: the API has no such option.
	o := &corev1.PodLogOptions{Follow: opts.Follow, Timestamps: opts.Timestamps}
	if opts.Tail > 0 {
		n := int64(opts.Tail)
		o.TailLines = &n
	}
	if !opts.Since.IsZero() {
		t := metav1.NewTime(opts.Since)
		o.SinceTime = &t
	}
	return o
}

// Logs implements runtime.Logger: the pod's container output.
func (r *Runtime) Logs(ctx context.Context, h runtime.Handle, opts runtime.LogOptions) (io.ReadCloser, error) {
	ns, name, err := splitID(h)
	if err != nil {
		return nil, err
	}
	rc, err := r.client.CoreV1().Pods(ns).GetLogs(name, podLogOptions(opts)).Stream(ctx)
	if err != nil {
		return nil, wrap(err, "logs of pod %s", h.ID)
	}
	return rc, nil
}

// InstanceLogs implements runtime.InstanceLogger over the pods that exist
// when it is called.
func (r *Runtime) InstanceLogs(ctx context.Context, id stack.Identity, opts runtime.LogOptions) (io.ReadCloser, error) {
	pods, err := r.pods(ctx, id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range pods {
		p := &pods[i]
		rc, err := r.client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, podLogOptions(opts)).Stream(ctx)
		if err != nil {
			cancel()
			_ = pw.Close()
			return nil, wrap(err, "logs of pod %s", p.Name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = rc.Close() }()
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				mu.Lock()
				_, err := io.WriteString(pw, p.Name+" | "+sc.Text()+"\n")
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		_ = pw.Close()
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

type cancelReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (c *cancelReader) Close() error {
	c.cancel()
	return c.PipeReader.Close()
}

// sizeQueue feeds terminal sizes to the executor.
type sizeQueue struct {
	ctx context.Context
	ch  <-chan runtime.TermSize
}

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case <-q.ctx.Done():
		return nil
	case s, ok := <-q.ch:
		if !ok {
			return nil
		}
		return &remotecommand.TerminalSize{Width: s.Cols, Height: s.Rows}
	}
}

// Exec implements runtime.Execer through the apiserver's exec subresource,
// over WebSocket with a fallback to SPDY for older clusters.
func (r *Runtime) Exec(ctx context.Context, h runtime.Handle, opts runtime.ExecOptions) (int, error) {
	p, err := r.pod(ctx, h)
	if err != nil {
		return -1, err
	}
	if len(p.Spec.Containers) == 0 {
		return -1, errors.New("pod has no containers")
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	req := r.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.Namespace).Name(p.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: p.Spec.Containers[0].Name,
			Command:   opts.Cmd,
			Stdin:     opts.Stdin != nil,
			Stdout:    true,
			Stderr:    !opts.TTY,
			TTY:       opts.TTY,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(r.cfg, "POST", req.URL())
	if err != nil {
		return -1, err
	}
	ws, err := remotecommand.NewWebSocketExecutor(r.cfg, "GET", req.URL().String())
	if err != nil {
		return -1, err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return -1, err
	}
	so := remotecommand.StreamOptions{Stdin: opts.Stdin, Stdout: stdout, Tty: opts.TTY}
	if !opts.TTY {
		so.Stderr = stderr
	}
	if opts.TTY && opts.Resize != nil {
		so.TerminalSizeQueue = sizeQueue{ctx: ctx, ch: opts.Resize}
	}
	err = ex.StreamWithContext(ctx, so)
	var exit utilexec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitStatus(), nil
	default:
		return -1, wrap(err, "exec in pod %s", h.ID)
	}
}
