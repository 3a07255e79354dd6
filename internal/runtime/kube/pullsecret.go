package kube

import (
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/stack"
)

// PullSecretName is the kubernetes.io/dockerconfigjson Secret Apply keeps
// in an instance's namespace when its images come from a registry that
// needs credentials; every pod names it in imagePullSecrets.
const PullSecretName = "quai-registry-auth" //nolint:gosec // a Secret's name, not a credential

// pullSecret returns the pull Secret for the registries m's images come
// from (x-quai.registry, and the host of every repo@sha256 pin), with the
// credentials the Docker config holds for them, and names it in the pod
// templates of man; nil when no such registry needs credentials. The
// cluster pulls with them, so a release that pins images pushed from
// another runtime runs here too.
func (r *Runtime) pullSecret(m *stack.Model, man *render.Manifests) (*corev1.Secret, error) {
	hosts := map[string]bool{}
	if m.Registry != nil {
		hosts[m.Registry.Host()] = true
	}
	for _, s := range m.Services {
		if registry.IsPinned(s.Image) {
			hosts[registry.HostOf(s.Image)] = true
		}
	}
	var auths []registry.Auth
	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		a, err := registry.Lookup(r.dockerConfig, h)
		if err != nil {
			return nil, fmt.Errorf("instance %s: image pull credentials: %w", m.Identity, err)
		}
		if !a.Anonymous() {
			auths = append(auths, a)
		}
	}
	if len(auths) == 0 {
		return nil, nil
	}
	var labels map[string]string
	for _, o := range man.Objects {
		ref := []corev1.LocalObjectReference{{Name: PullSecretName}}
		switch obj := o.Obj.(type) {
		case *corev1.Namespace:
			labels = obj.GetLabels()
		case *appsv1.Deployment:
			obj.Spec.Template.Spec.ImagePullSecrets = ref
		case *appsv1.StatefulSet:
			obj.Spec.Template.Spec.ImagePullSecrets = ref
		}
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: PullSecretName, Namespace: man.Namespace, Labels: labels},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: registry.DockerConfigJSON(auths...)},
	}, nil
}
