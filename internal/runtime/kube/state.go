package kube

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// handle describes a pod as a replica. ID is "<namespace>/<pod>".
func handle(id stack.Identity, p *corev1.Pod) runtime.Handle {
	return runtime.Handle{
		Version:  runtime.HandleVersion,
		Runtime:  Name,
		Instance: id,
		Service:  p.Labels[render.LabelService],
		Replica:  p.Name,
		Hash:     p.Labels[render.LabelConfigHash],
		ID:       p.Namespace + "/" + p.Name,
		Address:  podAddress(p),
	}
}

// podAddress is the pod's IP and first container port; reachable from the
// daemon only when it runs inside the cluster network.
func podAddress(p *corev1.Pod) string {
	if p.Status.PodIP == "" || len(p.Spec.Containers) == 0 || len(p.Spec.Containers[0].Ports) == 0 {
		return ""
	}
	return p.Status.PodIP + ":" + strconv.Itoa(int(p.Spec.Containers[0].Ports[0].ContainerPort))
}

func splitID(h runtime.Handle) (ns, pod string, err error) {
	ns, pod, ok := strings.Cut(h.ID, "/")
	if !ok || ns == "" || pod == "" {
		return "", "", fmt.Errorf("%w: handle %q is not a kubernetes pod", runtime.ErrNotFound, h.ID)
	}
	return ns, pod, nil
}

func (r *Runtime) pod(ctx context.Context, h runtime.Handle) (*corev1.Pod, error) {
	ns, name, err := splitID(h)
	if err != nil {
		return nil, err
	}
	p, err := r.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, wrap(err, "pod %s", h.ID)
	}
	return p, nil
}

// podStatus maps a pod to a replica status.
func podStatus(p *corev1.Pod) runtime.Status {
	st := runtime.Status{State: runtime.StateStarting, Health: runtime.HealthNone}
	switch p.Status.Phase {
	case corev1.PodRunning:
		st.State = runtime.StateRunning
	case corev1.PodSucceeded, corev1.PodFailed:
		st.State = runtime.StateExited
	}
	if p.DeletionTimestamp != nil {
		st.State = runtime.StateStopped
	}
	probed := false
	for _, c := range p.Spec.Containers {
		probed = probed || c.ReadinessProbe != nil
	}
	for _, cs := range p.Status.ContainerStatuses {
		st.Restarts += int(cs.RestartCount)
		switch {
		case cs.State.Running != nil:
			st.Started = cs.State.Running.StartedAt.Time
		case cs.State.Waiting != nil:
			st.Message = strings.TrimSpace(cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message)
			if st.State == runtime.StateRunning {
				st.State = runtime.StateStarting
			}
		case cs.State.Terminated != nil:
			st.ExitCode = int(cs.State.Terminated.ExitCode)
			st.Message = cs.State.Terminated.Reason
		}
	}
	if reason, msg := podProblem(p); reason != "" && st.Message == "" {
		st.Message = reason + ": " + msg
	}
	if probed {
		// Whether a replica that is not ready failed its checks is in its
		// events: see withProbeFailure.
		st.Health = runtime.HealthStarting
		if podReady(p) {
			st.Health = runtime.HealthHealthy
		}
	}
	return st
}

// probeFailed reports whether a running replica that is not ready needs
// the pod's events to tell a check that failed from one not passed yet:
// the pod's status says neither.
func probeFailed(st runtime.Status) bool {
	return st.State == runtime.StateRunning && st.Health == runtime.HealthStarting
}

// withProbeFailure makes a running replica that is not ready unhealthy,
// with the kubelet's reason (e.g. "Readiness probe failed: HTTP probe
// failed with statuscode: 503"), when one of its checks failed since its
// container started. Without events (evs is nil: not allowed to read
// them), a replica restarted before is taken for one its checks restarted.
func withProbeFailure(st *runtime.Status, pod types.UID, evs map[types.UID]*corev1.Event) {
	if !probeFailed(*st) {
		return
	}
	if evs == nil {
		if st.Restarts > 0 {
			st.Health = runtime.HealthUnhealthy
		}
		return
	}
	ev := evs[pod]
	// Event and start times have whole seconds; an older event is about the
	// container that ran before a restart.
	if ev == nil || eventTime(ev).Before(st.Started.Truncate(time.Second)) {
		return
	}
	st.Health = runtime.HealthUnhealthy
	st.Message = ev.Message
}

// reasonUnhealthy is the reason of the kubelet's events about failed probes.
const reasonUnhealthy = "Unhealthy"

// probeFailures returns the newest failed-probe event of each pod (by uid:
// a StatefulSet's new pod has the name of the one it replaced) matched by
// the field selector within ns.
func (r *Runtime) probeFailures(ctx context.Context, ns, fieldSelector string) (map[types.UID]*corev1.Event, error) {
	sel := "reason=" + reasonUnhealthy + ",involvedObject.kind=Pod"
	if fieldSelector != "" {
		sel += "," + fieldSelector
	}
	evs, err := r.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, wrap(err, "events of namespace %s", ns)
	}
	out := map[types.UID]*corev1.Event{}
	for i := range evs.Items {
		ev := &evs.Items[i]
		if cur := out[ev.InvolvedObject.UID]; cur == nil || eventTime(ev).After(eventTime(cur)) {
			out[ev.InvolvedObject.UID] = ev
		}
	}
	return out, nil
}

// eventTime is when an event last happened, whichever API recorded it.
func eventTime(ev *corev1.Event) time.Time {
	t := ev.LastTimestamp.Time
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	if ev.EventTime.After(t) {
		t = ev.EventTime.Time
	}
	return t
}

// Inspect implements runtime.Runtime.
func (r *Runtime) Inspect(ctx context.Context, h runtime.Handle) (runtime.Status, error) {
	p, err := r.pod(ctx, h)
	if err != nil {
		return runtime.Status{}, err
	}
	st := podStatus(p)
	if probeFailed(st) {
		evs, _ := r.probeFailures(ctx, p.Namespace, "involvedObject.uid="+string(p.UID))
		withProbeFailure(&st, p.UID, evs)
	}
	return st, nil
}

// List implements runtime.Runtime: the instance's pods.
func (r *Runtime) List(ctx context.Context, id stack.Identity) ([]runtime.Handle, error) {
	pods, err := r.pods(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Handle, 0, len(pods))
	for i := range pods {
		out = append(out, handle(id, &pods[i]))
	}
	return out, nil
}

func (r *Runtime) pods(ctx context.Context, id stack.Identity) ([]corev1.Pod, error) {
	ns := render.Namespace(id)
	list, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return nil, wrap(err, "pods of instance %s", id)
	}
	slices.SortFunc(list.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

// State implements runtime.Applier.
func (r *Runtime) State(ctx context.Context, id stack.Identity) ([]runtime.ServiceState, error) {
	ns := render.Namespace(id)
	deps, err := r.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return nil, wrap(err, "deployments of instance %s", id)
	}
	sts, err := r.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return nil, wrap(err, "statefulsets of instance %s", id)
	}
	pods, err := r.pods(ctx, id)
	if err != nil {
		return nil, err
	}
	byService := map[string]*runtime.ServiceState{}
	add := func(meta metav1.ObjectMeta, desired *int32, ready, updated int32) {
		s := &runtime.ServiceState{Service: meta.Labels[render.LabelService], Ready: int(ready), Updated: int(updated), Desired: 1}
		if desired != nil {
			s.Desired = int(*desired)
		}
		s.Release, _ = strconv.Atoi(meta.Annotations[AnnotationRelease])
		byService[s.Service] = s
	}
	for _, d := range deps.Items {
		add(d.ObjectMeta, d.Spec.Replicas, d.Status.ReadyReplicas, d.Status.UpdatedReplicas)
	}
	for _, s := range sts.Items {
		add(s.ObjectMeta, s.Spec.Replicas, s.Status.ReadyReplicas, s.Status.UpdatedReplicas)
	}
	if len(byService) == 0 {
		return nil, fmt.Errorf("%w: instance %s has no workloads in namespace %s", runtime.ErrNotFound, id, ns)
	}
	var failures map[types.UID]*corev1.Event
	fetched := false
	for i := range pods {
		p := &pods[i]
		s := byService[p.Labels[render.LabelService]]
		if s == nil {
			continue
		}
		st := podStatus(p)
		if probeFailed(st) {
			if !fetched {
				failures, _ = r.probeFailures(ctx, ns, "")
				fetched = true
			}
			withProbeFailure(&st, p.UID, failures)
		}
		s.Replicas = append(s.Replicas, runtime.ReplicaState{Handle: handle(id, p), Node: p.Spec.NodeName, Status: st})
	}
	out := make([]runtime.ServiceState, 0, len(byService))
	for _, s := range byService {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b runtime.ServiceState) int { return strings.Compare(a.Service, b.Service) })
	return out, nil
}

// Down implements runtime.Applier: every workload scaled to zero, and
// waits (bounded by ctx) until the pods are gone.
func (r *Runtime) Down(ctx context.Context, id stack.Identity) error {
	ns := render.Namespace(id)
	patch := []byte(`{"spec":{"replicas":0}}`)
	po := metav1.PatchOptions{FieldManager: FieldManager}
	deps, err := r.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return wrap(err, "deployments of instance %s", id)
	}
	for _, d := range deps.Items {
		if _, err := r.client.AppsV1().Deployments(ns).Patch(ctx, d.Name, types.MergePatchType, patch, po); err != nil {
			return wrap(err, "scale deployment %s", d.Name)
		}
	}
	sts, err := r.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		return wrap(err, "statefulsets of instance %s", id)
	}
	for _, s := range sts.Items {
		if _, err := r.client.AppsV1().StatefulSets(ns).Patch(ctx, s.Name, types.MergePatchType, patch, po); err != nil {
			return wrap(err, "scale statefulset %s", s.Name)
		}
	}
	for {
		pods, err := r.pods(ctx, id)
		if err != nil {
			return err
		}
		if len(pods) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance %s: %d pods still running: %w", id, len(pods), ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// Delete implements runtime.Applier. Without purge it removes every object
// quai applied but the volume claims, and keeps the namespace that holds
// them; with purge it deletes the namespace and so everything in it.
func (r *Runtime) Delete(ctx context.Context, id stack.Identity, purge bool) error {
	ns := render.Namespace(id)
	bg := metav1.DeletePropagationBackground
	if purge {
		err := r.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &bg})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return wrap(err, "delete namespace %s", ns)
	}
	for _, gvr := range prunable {
		err := r.dyn.Resource(gvr).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &bg}, metav1.ListOptions{LabelSelector: managedSelector})
		if err != nil && !apierrors.IsNotFound(err) {
			return wrap(err, "delete %s of instance %s", gvr.Resource, id)
		}
	}
	return nil
}

// Volumes implements runtime.VolumeManager: the instance's claims.
func (r *Runtime) Volumes(ctx context.Context, id stack.Identity) ([]string, error) {
	list, err := r.client.CoreV1().PersistentVolumeClaims(render.Namespace(id)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, wrap(err, "volume claims of instance %s", id)
	}
	var out []string
	for _, c := range list.Items {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out, nil
}

// RemoveVolumes implements runtime.VolumeManager.
func (r *Runtime) RemoveVolumes(ctx context.Context, id stack.Identity) error {
	err := r.client.CoreV1().PersistentVolumeClaims(render.Namespace(id)).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return wrap(err, "delete volume claims of instance %s", id)
}
