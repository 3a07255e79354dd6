package kube

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// fatalReasons end a rollout at once: retrying will not fix them.
var fatalReasons = map[string]bool{
	"ErrImagePull":      true,
	"ImagePullBackOff":  true,
	"ErrImageNeverPull": true,
	"InvalidImageName":  true,
	"CrashLoopBackOff":  true,
}

// slowReasons end a rollout when they last longer than reasonGrace: a
// Secret or a volume may still be on its way.
var slowReasons = map[string]bool{
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
	"Unschedulable":              true,
}

const (
	reasonGrace  = 30 * time.Second
	pollInterval = 500 * time.Millisecond
)

// workload is a Deployment or StatefulSet being rolled out.
type workload struct {
	kind, name, service string
	selector            labels.Selector
}

// waitRollout waits until every workload of the manifests runs the new
// version on all its replicas, emitting progress when it changes.
func (r *Runtime) waitRollout(ctx context.Context, m *stack.Model, man *render.Manifests, emit func(string, ...any)) error {
	ns := man.Namespace
	var ws []workload
	for _, o := range man.Objects {
		var sel *metav1.LabelSelector
		switch w := o.Obj.(type) {
		case *appsv1.Deployment:
			sel = w.Spec.Selector
		case *appsv1.StatefulSet:
			sel = w.Spec.Selector
		default:
			continue
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return err
		}
		ws = append(ws, workload{kind: o.Kind, name: o.Name, service: o.Obj.GetLabels()[render.LabelService], selector: s})
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	last := map[string]string{}
	firstSeen := map[string]time.Time{}
	for {
		pending := 0
		for _, w := range ws {
			done, progress, rev, err := r.rolloutStatus(ctx, ns, w)
			if err != nil {
				return err
			}
			if progress != last[w.name] {
				emit("%s: %s", w.service, progress)
				last[w.name] = progress
			}
			if done {
				continue
			}
			pending++
			if err := r.checkPods(ctx, m, ns, w, rev, firstSeen, emit); err != nil {
				return err
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var waiting []string
			for _, w := range ws {
				waiting = append(waiting, w.service+" ("+last[w.name]+")")
			}
			return fmt.Errorf("%w: instance %s: not rolled out after %s: %s; the previous version keeps serving", runtime.ErrRolloutFailed, m.Identity, r.timeout, strings.Join(waiting, ", "))
		case <-time.After(pollInterval):
		}
	}
}

// revision tells the pods of the revision being rolled out by one of
// their labels. Until the controller has observed the workload's new spec
// the revision is unknown and matches no pod: the pods there are belong
// to the previous revision (after a failed release, its broken pods),
// whose problems are not the new release's.
type revision struct{ label, value string }

// unknownRevision matches no pod.
var unknownRevision = revision{}

func (v revision) matches(p *corev1.Pod) bool {
	return v.label != "" && p.Labels[v.label] == v.value
}

// rolloutStatus is kubectl rollout status's test for one workload; it also
// returns which pods belong to the revision being rolled out.
func (r *Runtime) rolloutStatus(ctx context.Context, ns string, w workload) (bool, string, revision, error) {
	switch w.kind {
	case "Deployment":
		d, err := r.client.AppsV1().Deployments(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return false, "", revision{}, wrap(err, "deployment %s", w.name)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		progress := fmt.Sprintf("%d/%d ready, %d updated", s.ReadyReplicas, want, s.UpdatedReplicas)
		if s.Replicas > s.UpdatedReplicas {
			progress += fmt.Sprintf(", %d old", s.Replicas-s.UpdatedReplicas)
		}
		if d.Generation > s.ObservedGeneration {
			// The revision annotation still names the previous revision.
			return false, progress, unknownRevision, nil
		}
		done := s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
		rev, err := r.deploymentRevision(ctx, ns, d)
		return done, progress, rev, err
	default:
		st, err := r.client.AppsV1().StatefulSets(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return false, "", revision{}, wrap(err, "statefulset %s", w.name)
		}
		want := int32(1)
		if st.Spec.Replicas != nil {
			want = *st.Spec.Replicas
		}
		s := st.Status
		progress := fmt.Sprintf("%d/%d ready, %d updated", s.ReadyReplicas, want, s.UpdatedReplicas)
		// As kubectl rollout status: every pod ready and of the new
		// revision. A StatefulSet that adopted pods of another template
		// (see replaceStatefulSet) reports them ready but not updated.
		done := st.Generation <= s.ObservedGeneration && s.ReadyReplicas == want && s.Replicas == want &&
			s.UpdatedReplicas == want
		if !done && st.Generation <= s.ObservedGeneration {
			if err := r.replaceStuckPods(ctx, ns, w, s.UpdateRevision); err != nil {
				return false, progress, revision{}, err
			}
			if s.ReadyReplicas == want && s.UpdatedReplicas < want && s.CurrentRevision == s.UpdateRevision {
				if err := r.rollAdoptedPods(ctx, ns, w, s.UpdateRevision); err != nil {
					return false, progress, revision{}, err
				}
			}
		}
		rev := unknownRevision
		if s.UpdateRevision != "" && st.Generation <= s.ObservedGeneration {
			rev = revision{appsv1.ControllerRevisionHashLabelKey, s.UpdateRevision}
		}
		return done, progress, rev, nil
	}
}

// checkPods fails the rollout when a pod of the revision being rolled out
// is stuck for a reason waiting will not fix, naming the pod, the reason
// and the latest warning event about it. Pods of other revisions are on
// their way out (the broken pods of a release being rolled back).
func (r *Runtime) checkPods(ctx context.Context, m *stack.Model, ns string, w workload, rev revision, firstSeen map[string]time.Time, emit func(string, ...any)) error {
	pods, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: w.selector.String()})
	if err != nil {
		return wrap(err, "pods of %s", w.service)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || podReady(p) || !rev.matches(p) {
			continue
		}
		reason, msg := podProblem(p)
		if reason == "" {
			continue
		}
		k := p.Name + "/" + reason
		if _, ok := firstSeen[k]; !ok {
			firstSeen[k] = time.Now()
			emit("%s: pod %s: %s: %s", w.service, p.Name, reason, msg)
		}
		if fatalReasons[reason] || (slowReasons[reason] && time.Since(firstSeen[k]) > reasonGrace) {
			if ev := r.lastWarning(ctx, ns, p.Name); ev != "" && !strings.Contains(msg, ev) {
				msg += " (" + ev + ")"
			}
			err := fmt.Errorf("%w: instance %s, service %s: pod %s: %s: %s; the previous version keeps serving: fix the stack and apply again, or roll back",
				runtime.ErrRolloutFailed, m.Identity, w.service, p.Name, reason, msg)
			return &runtime.ReplicaFailure{Service: w.service, Replica: p.Name, Reason: reason + ": " + msg,
				Logs: r.failedLogs(ctx, p), Err: err}
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podProblem returns why a pod does not run, if it is a known failure.
func podProblem(p *corev1.Pod) (reason, msg string) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Reason, c.Message
		}
	}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if w := cs.State.Waiting; w != nil && (fatalReasons[w.Reason] || slowReasons[w.Reason]) {
			msg := w.Message
			if w.Reason == "CrashLoopBackOff" && cs.LastTerminationState.Terminated != nil {
				t := cs.LastTerminationState.Terminated
				msg = fmt.Sprintf("exited with code %d (%s) %d times", t.ExitCode, t.Reason, cs.RestartCount)
			}
			return w.Reason, msg
		}
	}
	return "", ""
}

// failedLogLines is how many of a failing pod's last log lines a failed
// rollout reports.
const failedLogLines = 20

// failedLogs returns the last log lines of the pod's failing container:
// of its previous run when it crashed (CrashLoopBackOff), else of the
// current one; "" when it has none (an image that cannot be pulled).
func (r *Runtime) failedLogs(ctx context.Context, p *corev1.Pod) string {
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		previous := cs.LastTerminationState.Terminated != nil
		if !previous && cs.State.Terminated == nil {
			continue
		}
		tail := int64(failedLogLines)
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err := r.client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{
			Container: cs.Name, Previous: previous, TailLines: &tail, LimitBytes: ptrTo(int64(16 << 10)),
		}).DoRaw(lctx)
		cancel()
		if err == nil && len(b) > 0 {
			return string(b)
		}
	}
	return ""
}

func ptrTo[T any](v T) *T { return &v }

// lastWarning is the newest Warning event about a pod.
func (r *Runtime) lastWarning(ctx context.Context, ns, pod string) string {
	evs, err := r.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",type=Warning"})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	slices.SortFunc(evs.Items, func(a, b corev1.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp.Time) })
	return evs.Items[len(evs.Items)-1].Message
}

// replaceStuckPods deletes the pods of a StatefulSet that are not ready
// and run another revision than the one being rolled out. A StatefulSet
// replaces a pod only once it is ready, so a pod of a broken revision (an
// image that cannot be pulled, a crash loop) would stay forever after the
// template is set back — the rollback after a failed release. Such a pod
// serves nothing; its successor gets the same name and claim.
func (r *Runtime) replaceStuckPods(ctx context.Context, ns string, w workload, revision string) error {
	if revision == "" {
		return nil
	}
	pods, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: w.selector.String()})
	if err != nil {
		return wrap(err, "pods of %s", w.service)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		rev := p.Labels[appsv1.ControllerRevisionHashLabelKey]
		if p.DeletionTimestamp != nil || podReady(p) || rev == "" || rev == revision {
			continue
		}
		if reason, _ := podProblem(p); reason == "" {
			continue // still starting: give it its chance
		}
		err := r.client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return wrap(err, "replace stuck pod %s", p.Name)
		}
	}
	return nil
}

// deploymentRevision finds the pod-template-hash of the Deployment's
// newest ReplicaSet, the one its rollout creates pods for; zero when the
// controller has not created it yet.
func (r *Runtime) deploymentRevision(ctx context.Context, ns string, d *appsv1.Deployment) (revision, error) {
	want := d.Annotations[deploymentRevisionAnnotation]
	if want == "" {
		return unknownRevision, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return revision{}, err
	}
	list, err := r.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return revision{}, wrap(err, "replica sets of %s", d.Name)
	}
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) && rs.Annotations[deploymentRevisionAnnotation] == want {
			if h := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; h != "" {
				return revision{appsv1.DefaultDeploymentUniqueLabelKey, h}, nil
			}
		}
	}
	return unknownRevision, nil // its ReplicaSet is not created yet
}

// deploymentRevisionAnnotation numbers a Deployment's revisions, on it and
// on its ReplicaSets.
const deploymentRevisionAnnotation = "deployment.kubernetes.io/revision"

// rollAdoptedPods rolls, one pod at a time and the highest ordinal first
// as the controller would, the pods a replaced StatefulSet adopted from
// its predecessor (see replaceStatefulSet): the controller counts them as
// its current revision and never replaces them itself. It deletes a pod
// only while every pod is ready, so one replica at most is away.
func (r *Runtime) rollAdoptedPods(ctx context.Context, ns string, w workload, revision string) error {
	pods, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: w.selector.String()})
	if err != nil {
		return wrap(err, "pods of %s", w.service)
	}
	var stale *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || !podReady(p) {
			return nil
		}
		if rev := p.Labels[appsv1.ControllerRevisionHashLabelKey]; rev != revision && (stale == nil || ordinal(p.Name) > ordinal(stale.Name)) {
			stale = p
		}
	}
	if stale == nil {
		return nil
	}
	err = r.client.CoreV1().Pods(ns).Delete(ctx, stale.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return wrap(err, "roll pod %s", stale.Name)
	}
	return nil
}

// ordinal is a StatefulSet pod's index, from its name's last dash.
func ordinal(pod string) int {
	n, _ := strconv.Atoi(pod[strings.LastIndexByte(pod, '-')+1:])
	return n
}
