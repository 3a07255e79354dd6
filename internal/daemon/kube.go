package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/stack"
)

// KubeConfig configures the kubernetes runtime. Empty fields take the
// runtime's and the renderer's defaults.
type KubeConfig struct {
	// Off leaves the kubernetes runtime out.
	Off bool
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, else
	// ~/.kube/config, else the in-cluster service account.
	Kubeconfig string
	// Context is the kubeconfig context; empty means the current one.
	Context string
	// IngressClass, ClusterIssuer and StorageClass are the cluster's
	// ingress class, cert-manager ClusterIssuer and storage class.
	IngressClass  string
	ClusterIssuer string
	// IngressController is the flavour of the controller serving
	// IngressClass, which route rules are rendered for
	// (render.KubeOptions.IngressController).
	IngressController string
	StorageClass      string
	// RolloutTimeout bounds how long `up` waits for a rollout.
	RolloutTimeout time.Duration
}

// startKube builds the kubernetes runtime. Building it does not contact the
// cluster (the first operation does, and reports an unreachable one); only
// a missing or broken kubeconfig fails here, and then the runtime is still
// offered, answering every call with that error, so that
// `quai up --runtime kubernetes` says what to fix rather than that no such
// runtime exists.
func (d *Daemon) startKube() runtime.Runtime {
	c := d.cfg.Kube
	if c.IngressController != "" && !slices.Contains(render.Controllers, c.IngressController) {
		err := fmt.Errorf("kubernetes runtime: ingress controller %q is not one quai renders route rules for; start the daemon with --kube-ingress-controller %s", c.IngressController, strings.Join(render.Controllers, ", "))
		d.log.Error("kubernetes runtime not configured", "err", err)
		return &unconfiguredKube{err: err}
	}
	rt, err := kube.New(kube.Options{
		Kubeconfig: c.Kubeconfig,
		Context:    c.Context,
		Render: render.KubeOptions{
			IngressClass:      c.IngressClass,
			IngressController: c.IngressController,
			ClusterIssuer:     c.ClusterIssuer,
			StorageClass:      c.StorageClass,
		},
		RolloutTimeout: c.RolloutTimeout,
	})
	if err != nil {
		d.log.Info("kubernetes runtime not configured", "err", err)
		return &unconfiguredKube{err: fmt.Errorf("kubernetes runtime: %w; give the daemon one with `quai serve --kubeconfig FILE [--kube-context NAME]` or $KUBECONFIG, and restart it", err)}
	}
	return rt
}

// unconfiguredKube stands for a kubernetes runtime without a usable
// kubeconfig: every call returns why.
type unconfiguredKube struct{ err error }

func (u *unconfiguredKube) Name() string { return kube.Name }

func (u *unconfiguredKube) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Logs: true, Exec: true, Volumes: true, Limits: true, Isolation: true}
}

func (u *unconfiguredKube) Inspect(context.Context, runtime.Handle) (runtime.Status, error) {
	return runtime.Status{}, u.err
}

func (u *unconfiguredKube) List(context.Context, stack.Identity) ([]runtime.Handle, error) {
	return nil, u.err
}

func (u *unconfiguredKube) Close() error { return nil }

func (u *unconfiguredKube) Apply(context.Context, *stack.Model, runtime.ApplyOptions) error {
	return u.err
}

func (u *unconfiguredKube) State(context.Context, stack.Identity) ([]runtime.ServiceState, error) {
	return nil, u.err
}

func (u *unconfiguredKube) Down(context.Context, stack.Identity) error { return u.err }

func (u *unconfiguredKube) Delete(context.Context, stack.Identity, bool) error { return u.err }

var _ runtime.Applier = (*unconfiguredKube)(nil)
