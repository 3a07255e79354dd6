// Package kube is quai's Kubernetes runtime: it applies the manifests
// internal/render makes of an instance to a cluster with server-side apply
// (field manager "quai"), prunes what a release no longer declares, waits
// for rollouts while reporting progress and the reasons pods fail, and
// reads pods back for status, logs and exec. It talks to any conformant
// cluster through client-go: a kubeconfig (with a context), or the
// in-cluster service account.
//
// Kubernetes is declarative, so the runtime implements runtime.Applier
// (and not runtime.ReplicaRunner): replicas are started and stopped by
// applying a model (Down scales to zero), and the cluster watches and
// replaces pods itself. Of the core contract, a replica is a pod: Inspect,
// List, Logs and Exec read pods.
//
// It imports internal/runtime, internal/stack and internal/render; never
// the engine, the store or the API.
package kube

import (
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
)

// Name is the runtime's name as users type it.
const Name = "kubernetes"

// FieldManager owns the fields quai applies.
const FieldManager = "quai"

// AnnotationRelease records on every applied object the release that last
// applied it.
const AnnotationRelease = "quai.dev/release"

// DefaultRolloutTimeout bounds how long Apply waits for a rollout.
const DefaultRolloutTimeout = 5 * time.Minute

// Options configure the runtime.
type Options struct {
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG or
	// ~/.kube/config, or the in-cluster service account when quai runs in
	// a pod and neither exists.
	Kubeconfig string
	// Context selects a kubeconfig context; empty means the current one.
	Context string
	// Config, when set, is used as is (tests, embedding).
	Config *rest.Config
	// Render holds the cluster-specific rendering choices (ingress class,
	// storage class, issuers).
	Render render.KubeOptions
	// RolloutTimeout bounds Apply's wait; default DefaultRolloutTimeout.
	RolloutTimeout time.Duration
	// DockerConfigDir holds the config.json whose credentials for the
	// registries of a stack's images become the namespace's pull Secret;
	// default DOCKER_CONFIG, else ~/.docker.
	DockerConfigDir string
}

// Runtime is the Kubernetes runtime.
type Runtime struct {
	cfg     *rest.Config
	client  kubernetes.Interface
	dyn     dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper
	render  render.KubeOptions
	timeout time.Duration
	// dockerConfig is Options.DockerConfigDir.
	dockerConfig string
}

// New connects to the cluster. It does not contact it: an unreachable
// cluster is reported by the first call, as runtime.ErrUnavailable.
func New(opts Options) (*Runtime, error) {
	cfg := opts.Config
	if cfg == nil {
		var err error
		if cfg, err = loadConfig(opts.Kubeconfig, opts.Context); err != nil {
			return nil, err
		}
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "quai"
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: kubernetes client: %w", runtime.ErrUnavailable, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: kubernetes client: %w", runtime.ErrUnavailable, err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: kubernetes client: %w", runtime.ErrUnavailable, err)
	}
	timeout := opts.RolloutTimeout
	if timeout <= 0 {
		timeout = DefaultRolloutTimeout
	}
	return &Runtime{
		cfg:          cfg,
		client:       client,
		dyn:          dyn,
		mapper:       restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		render:       opts.Render,
		timeout:      timeout,
		dockerConfig: opts.DockerConfigDir,
	}, nil
}

// loadConfig follows kubectl's rules: an explicit file, else $KUBECONFIG,
// else ~/.kube/config; in a pod without any of them, the service account.
func loadConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		if _, err := os.Stat(rules.GetDefaultFilename()); err != nil {
			cfg, err := rest.InClusterConfig()
			if err != nil {
				return nil, fmt.Errorf("%w: in-cluster configuration: %w", runtime.ErrUnavailable, err)
			}
			return cfg, nil
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("%w: no kubeconfig found (neither Options.Kubeconfig, $KUBECONFIG, ~/.kube/config nor an in-cluster service account)", runtime.ErrUnavailable)
		}
		return nil, fmt.Errorf("%w: kubeconfig: %w", runtime.ErrUnavailable, err)
	}
	return cfg, nil
}

// Name implements runtime.Runtime.
func (r *Runtime) Name() string { return Name }

// Capabilities implements runtime.Runtime.
func (r *Runtime) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Logs: true, Exec: true, Volumes: true, Limits: true, Isolation: true}
}

// Close implements runtime.Runtime; the cluster keeps running everything.
func (r *Runtime) Close() error { return nil }

// The kubernetes runtime deploys declaratively: runtime.Applier, never
// runtime.ReplicaRunner.
var (
	_ runtime.Runtime        = (*Runtime)(nil)
	_ runtime.Applier        = (*Runtime)(nil)
	_ runtime.Logger         = (*Runtime)(nil)
	_ runtime.InstanceLogger = (*Runtime)(nil)
	_ runtime.Execer         = (*Runtime)(nil)
	_ runtime.VolumeManager  = (*Runtime)(nil)
)
