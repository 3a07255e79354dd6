package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
			done, progress, err := r.rolloutStatus(ctx, ns, w)
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
			if err := r.checkPods(ctx, m, ns, w, firstSeen, emit); err != nil {
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

// rolloutStatus is kubectl rollout status's test for one workload.
func (r *Runtime) rolloutStatus(ctx context.Context, ns string, w workload) (bool, string, error) {
	switch w.kind {
	case "Deployment":
		d, err := r.client.AppsV1().Deployments(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return false, "", wrap(err, "deployment %s", w.name)
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
		done := d.Generation <= s.ObservedGeneration && s.UpdatedReplicas == want &&
			s.Replicas == want && s.AvailableReplicas == want
		return done, progress, nil
	default:
		st, err := r.client.AppsV1().StatefulSets(ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return false, "", wrap(err, "statefulset %s", w.name)
		}
		want := int32(1)
		if st.Spec.Replicas != nil {
			want = *st.Spec.Replicas
		}
		s := st.Status
		progress := fmt.Sprintf("%d/%d ready, %d updated", s.ReadyReplicas, want, s.UpdatedReplicas)
		done := st.Generation <= s.ObservedGeneration && s.ReadyReplicas == want && s.Replicas == want &&
			(s.UpdateRevision == "" || s.UpdateRevision == s.CurrentRevision || s.UpdatedReplicas == want)
		return done, progress, nil
	}
}

// checkPods fails the rollout when a pod of the workload is stuck for a
// reason waiting will not fix, naming the pod, the reason and the latest
// warning event about it.
func (r *Runtime) checkPods(ctx context.Context, m *stack.Model, ns string, w workload, firstSeen map[string]time.Time, emit func(string, ...any)) error {
	pods, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: w.selector.String()})
	if err != nil {
		return wrap(err, "pods of %s", w.service)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || podReady(p) {
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
			return fmt.Errorf("%w: instance %s, service %s: pod %s: %s: %s; the previous version keeps serving: fix the stack and apply again, or roll back",
				runtime.ErrRolloutFailed, m.Identity, w.service, p.Name, reason, msg)
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

// lastWarning is the newest Warning event about a pod.
func (r *Runtime) lastWarning(ctx context.Context, ns, pod string) string {
	evs, err := r.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",type=Warning"})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	slices.SortFunc(evs.Items, func(a, b corev1.Event) int { return a.LastTimestamp.Compare(b.LastTimestamp.Time) })
	return evs.Items[len(evs.Items)-1].Message
}
