package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// managedSelector picks what quai applied in an instance's namespace (one
// namespace per instance, see render.Namespace).
var managedSelector = render.LabelManagedBy + "=" + render.ManagedBy

// prunable lists the kinds Apply removes when a release no longer declares
// them. Claims are absent on purpose: data is removed only by a purge.
var prunable = []schema.GroupVersionResource{
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	// Route rules for Traefik; a cluster without its CRDs has none.
	traefikMiddlewares,
}

var traefikMiddlewares = schema.GroupVersionResource{Group: "traefik.io", Version: "v1alpha1", Resource: "middlewares"}

// wrap classifies a client error: unreachable cluster, missing object.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var ne net.Error
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s: %w", runtime.ErrNotFound, msg, err)
	case errors.As(err, &ne), strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("%w: %s: %w", runtime.ErrUnavailable, msg, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func emitter(opts runtime.ApplyOptions) func(string, ...any) {
	return func(format string, args ...any) {
		if opts.Emit != nil {
			opts.Emit(fmt.Sprintf(format, args...))
		}
	}
}

// Apply implements runtime.Applier.
func (r *Runtime) Apply(ctx context.Context, m *stack.Model, opts runtime.ApplyOptions) error {
	emit := emitter(opts)
	man, err := render.Kubernetes(m, r.render)
	if err != nil {
		return err
	}
	ns := man.Namespace
	for _, w := range man.Warnings {
		emit("warning: %s", w)
	}
	secrets, err := r.secrets(ctx, m, man, opts)
	if err != nil {
		return err
	}
	pull, err := r.pullSecret(m, man)
	if err != nil {
		return err
	}
	if pull != nil {
		secrets = append(secrets, pull)
	}
	objs := make([]render.KubeObject, 0, len(man.Objects)+len(secrets))
	for _, o := range man.Objects {
		objs = append(objs, o.Obj)
		if o.Kind == "Namespace" {
			// Secrets before the workloads that mount them.
			for _, s := range secrets {
				objs = append(objs, s)
			}
		}
	}

	applyNS := ns
	if opts.DryRun {
		// The server validates namespaced objects only in a namespace
		// that exists (and is not being deleted); an instance not
		// installed yet is checked in "default", which every cluster has.
		if cur, err := r.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) ||
			(err == nil && cur.Status.Phase == corev1.NamespaceTerminating) {
			applyNS = metav1.NamespaceDefault
		}
	}
	var errs []error
	for _, obj := range objs {
		err := r.applyObject(ctx, obj, applyNS, opts)
		if immutableStatefulSet(obj, err) {
			if opts.DryRun {
				emit("statefulset %s will be replaced: its volume claim templates change (pods and claims are kept)", obj.GetName())
				continue
			}
			err = r.replaceStatefulSet(ctx, ns, obj, opts, emit)
		}
		if err != nil {
			if opts.DryRun {
				errs = append(errs, err)
				continue
			}
			return err
		}
	}
	if opts.DryRun {
		return errors.Join(errs...)
	}
	emit("applied %d objects to namespace %s", len(objs), ns)

	if err := r.prune(ctx, ns, objs, emit); err != nil {
		return err
	}
	return r.waitRollout(ctx, m, man, emit)
}

// applyObject server-side applies one object, forcing quai's ownership of
// the fields it declares.
func (r *Runtime) applyObject(ctx context.Context, obj render.KubeObject, ns string, opts runtime.ApplyOptions) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	what := fmt.Sprintf("%s %s", gvk.Kind, obj.GetName())
	raw, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	u := &unstructured.Unstructured{Object: raw}
	delete(u.Object, "status")
	dropNullTimestamps(u.Object)
	if opts.Release > 0 {
		ann := u.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationRelease] = strconv.Itoa(opts.Release)
		u.SetAnnotations(ann)
	}
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		r.mapper.Reset()
		if mapping, err = r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			if gvk.Group == "traefik.io" {
				return wrap(err, "%s: the cluster does not serve %s: install Traefik's CRDs and enable its kubernetesCRD provider, or render the route rules for the cluster's controller (quai serve --kube-ingress-controller)", what, gvk.GroupVersion())
			}
			return wrap(err, "%s: the cluster does not serve %s", what, gvk.GroupVersion())
		}
	}
	ri := r.dyn.Resource(mapping.Resource)
	ao := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if opts.DryRun {
		ao.DryRun = []string{metav1.DryRunAll}
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		u.SetNamespace(ns)
		_, err = ri.Namespace(ns).Apply(ctx, u.GetName(), u, ao)
	} else {
		_, err = ri.Apply(ctx, u.GetName(), u, ao)
	}
	return wrap(err, "apply %s", what)
}

// dropNullTimestamps removes the "creationTimestamp: null" typed objects
// serialise, which is not something quai means to apply.
func dropNullTimestamps(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			if k == "creationTimestamp" {
				delete(m, k)
			}
		case map[string]any:
			dropNullTimestamps(v)
		case []any:
			for _, e := range v {
				if em, ok := e.(map[string]any); ok {
					dropNullTimestamps(em)
				}
			}
		}
	}
}

// prune deletes what quai applied to the namespace before and the objects
// no longer declare.
func (r *Runtime) prune(ctx context.Context, ns string, objs []render.KubeObject, emit func(string, ...any)) error {
	want := map[string]bool{}
	for _, o := range objs {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
	}
	bg := metav1.DeletePropagationBackground
	for _, gvr := range prunable {
		list, err := r.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
		if gvr == traefikMiddlewares && apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return wrap(err, "list %s in %s", gvr.Resource, ns)
		}
		for _, item := range list.Items {
			if want[item.GetKind()+"/"+item.GetName()] {
				continue
			}
			err := r.dyn.Resource(gvr).Namespace(ns).Delete(ctx, item.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return wrap(err, "prune %s %s", item.GetKind(), item.GetName())
			}
			emit("removed %s %s (no longer declared)", item.GetKind(), item.GetName())
		}
	}
	return nil
}

// secrets builds the Secrets the manifests reference from the values the
// caller resolved, the stack's files or environment. A secret without a
// value must exist in the cluster already (created with the command
// render.SecretRef gives).
func (r *Runtime) secrets(ctx context.Context, m *stack.Model, man *render.Manifests, opts runtime.ApplyOptions) ([]*corev1.Secret, error) {
	// The pods' projected volumes say which stack secret each Secret key
	// holds: the item's path is the stack secret's name.
	type key struct{ secret, key string }
	stackName := map[key]string{}
	for _, o := range man.Objects {
		var spec *corev1.PodSpec
		switch w := o.Obj.(type) {
		case *appsv1.Deployment:
			spec = &w.Spec.Template.Spec
		case *appsv1.StatefulSet:
			spec = &w.Spec.Template.Spec
		default:
			continue
		}
		for _, v := range spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if src.Secret == nil {
					continue
				}
				for _, it := range src.Secret.Items {
					stackName[key{src.Secret.Name, it.Key}] = it.Path
				}
			}
		}
	}
	var labels map[string]string
	for _, o := range man.Objects {
		if o.Kind == "Namespace" {
			labels = o.Obj.GetLabels()
		}
	}
	var out []*corev1.Secret
	var missing []string
	for _, ref := range man.Secrets {
		sec := &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: ref.Name, Namespace: man.Namespace, Labels: labels},
			Data:       map[string][]byte{},
		}
		var err error
		switch ref.Type {
		case render.SecretTypeHtpasswd:
			// A basic_auth route's users, as the ingress controller reads
			// them, from the sealed secret.
			sec.Type = corev1.SecretTypeOpaque
			v, ok := opts.Secrets[ref.Stack]
			if !ok {
				err = errors.New("no value")
			} else if sec.Data[ref.Key], err = render.Htpasswd(v); err != nil {
				return nil, fmt.Errorf("instance %s: basic_auth users of secret %s: %w", m.Identity, ref.Stack, err)
			}
		case "tls":
			sec.Type = corev1.SecretTypeTLS
			if sec.Data[corev1.TLSCertKey], err = readProjectFile(m, ref.CertFile); err == nil {
				sec.Data[corev1.TLSPrivateKeyKey], err = readProjectFile(m, ref.KeyFile)
			}
		default:
			name := cmp.Or(ref.Stack, stackName[key{ref.Name, ref.Key}])
			v, ok := opts.Secrets[name]
			switch {
			case ok:
			case ref.File != "":
				v, err = readProjectFile(m, ref.File)
			case ref.Environment != "" && os.Getenv(ref.Environment) != "":
				v = []byte(os.Getenv(ref.Environment))
			default:
				err = errors.New("no value")
			}
			sec.Type = corev1.SecretTypeOpaque
			sec.Data[ref.Key] = v
		}
		if err != nil {
			// A Secret created by hand (as `quai render` suggests) will do.
			if _, gerr := r.client.CoreV1().Secrets(man.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); gerr == nil {
				continue
			}
			missing = append(missing, fmt.Sprintf("%s (%v; create it with: %s)", ref.Name, err, ref.Command(man.Namespace)))
			continue
		}
		out = append(out, sec)
	}
	if len(missing) > 0 && !opts.DryRun {
		slices.Sort(missing)
		return nil, fmt.Errorf("%w: instance %s: secrets without a value: %s", runtime.ErrMissingDependency, m.Identity, strings.Join(missing, "; "))
	}
	return out, nil
}

func readProjectFile(m *stack.Model, p string) ([]byte, error) {
	if p == "" {
		return nil, errors.New("no file")
	}
	// The same check the loader and the engine make: the model comes from a
	// client, and the file is read with the daemon's rights.
	real, err := m.HostPath(p)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(real)
}

// immutableStatefulSet reports that applying a StatefulSet failed because
// it changes fields the cluster never updates in place: the volume claim
// templates (a service gets another named volume), the selector, the
// service name.
func immutableStatefulSet(obj render.KubeObject, err error) bool {
	return err != nil && obj.GetObjectKind().GroupVersionKind().Kind == "StatefulSet" && apierrors.IsInvalid(err) &&
		strings.Contains(err.Error(), "updates to statefulset spec for fields other than")
}

// replaceStatefulSet deletes the StatefulSet but not its pods (orphan
// propagation, what `kubectl delete --cascade=orphan` does) and applies the
// new one, which adopts the pods and rolls them to its template. Claims of
// volumes the service keeps are kept and found again by name; new volumes
// get new claims.
func (r *Runtime) replaceStatefulSet(ctx context.Context, ns string, obj render.KubeObject, opts runtime.ApplyOptions, emit func(string, ...any)) error {
	name := obj.GetName()
	emit("statefulset %s: its volume claim templates change; replacing it, keeping its pods and claims", name)
	orphan := metav1.DeletePropagationOrphan
	sts := r.client.AppsV1().StatefulSets(ns)
	if err := sts.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil && !apierrors.IsNotFound(err) {
		return wrap(err, "replace statefulset %s", name)
	}
	for {
		_, err := sts.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return wrap(err, "replace statefulset %s", name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replace statefulset %s: %w", name, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
	return r.applyObject(ctx, obj, ns, opts)
}
