package kube

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRevisionBeforeTheControllerObserved: right after a release is
// applied, the Deployment's revision annotation still names the previous
// revision until the controller observes the new spec. The pods of that
// revision (here a broken release's pod stuck on its image pull) must not
// be judged as the new release's, or a good release fails at once.
func TestRevisionBeforeTheControllerObserved(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d1", Generation: 2,
			Annotations: map[string]string{deploymentRevisionAnnotation: "1"}},
		Spec:   appsv1.DeploymentSpec{Selector: sel},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1},
	}
	yes := true
	owner := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d1", Controller: &yes}}
	oldRS := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-old", Namespace: "ns", OwnerReferences: owner,
		Labels:      map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "old"},
		Annotations: map[string]string{deploymentRevisionAnnotation: "1"}}}
	broken := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-old-x", Namespace: "ns",
			Labels: map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "old"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "web",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "401 Unauthorized"}}}}},
	}
	r := &Runtime{client: fake.NewClientset([]runtime.Object{dep, oldRS, broken}...)}
	w := workload{kind: "Deployment", name: "web", service: "web", selector: labels.SelectorFromSet(sel.MatchLabels)}
	ctx := context.Background()

	done, _, rev, err := r.rolloutStatus(ctx, "ns", w)
	if err != nil || done {
		t.Fatalf("rolloutStatus before the controller observed: done %v, err %v", done, err)
	}
	if rev.matches(broken) {
		t.Errorf("revision %+v matches the previous revision's pod before the controller observed the new spec", rev)
	}

	// Once observed: the new ReplicaSet is the revision; the old pod is
	// still not the new release's, a pod of the new one is.
	dep.Status.ObservedGeneration = 2
	dep.Annotations[deploymentRevisionAnnotation] = "2"
	newRS := oldRS.DeepCopy()
	newRS.Name, newRS.Labels[appsv1.DefaultDeploymentUniqueLabelKey], newRS.Annotations[deploymentRevisionAnnotation] = "web-new", "new", "2"
	r = &Runtime{client: fake.NewClientset([]runtime.Object{dep, oldRS, newRS, broken}...)}
	_, _, rev, err = r.rolloutStatus(ctx, "ns", w)
	if err != nil {
		t.Fatal(err)
	}
	fresh := broken.DeepCopy()
	fresh.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "new"
	if rev.matches(broken) || !rev.matches(fresh) {
		t.Errorf("revision %+v after the controller observed: matches old pod %v, new pod %v; want only the new", rev, rev.matches(broken), rev.matches(fresh))
	}
}
