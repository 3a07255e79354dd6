package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// splitDocs splits a multi-document YAML stream.
func splitDocs(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// newTyped returns an empty typed object for a kind quai renders.
func newTyped(kind string) (KubeObject, error) {
	switch kind {
	case "Namespace":
		return &corev1.Namespace{}, nil
	case "NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "Service":
		return &corev1.Service{}, nil
	case "Deployment":
		return &appsv1.Deployment{}, nil
	case "StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "Ingress":
		return &networkingv1.Ingress{}, nil
	}
	return nil, fmt.Errorf("unexpected kind %q", kind)
}

var wantAPIVersion = map[string]string{
	"Namespace": "v1", "ConfigMap": "v1", "PersistentVolumeClaim": "v1", "Service": "v1",
	"NetworkPolicy": "networking.k8s.io/v1", "Ingress": "networking.k8s.io/v1",
	"Deployment": "apps/v1", "StatefulSet": "apps/v1", "PodDisruptionBudget": "policy/v1",
}

// decodeStrict decodes every document of stream into the k8s.io/api type of
// its kind, refusing unknown fields, and returns the objects in order.
func decodeStrict(t *testing.T, stream []byte) []KubeObject {
	t.Helper()
	var objs []KubeObject
	for i, doc := range splitDocs(stream) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		obj, err := newTyped(tm.Kind)
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("document %d (%s) does not decode strictly: %v\n%s", i, tm.Kind, err, doc)
		}
		if got := wantAPIVersion[tm.Kind]; tm.APIVersion != got {
			t.Errorf("%s: apiVersion %q, want %q", tm.Kind, tm.APIVersion, got)
		}
		objs = append(objs, obj)
	}
	return objs
}

// validateManifests runs the offline checks a cluster would run first:
// names, labels, selectors, references between objects, apply order.
// External claims must already exist in the cluster and are passed in.
func validateManifests(t *testing.T, stream []byte, externalClaims ...string) {
	t.Helper()
	objs := decodeStrict(t, stream)
	if len(objs) == 0 {
		t.Fatal("no objects rendered")
	}
	errf := func(o KubeObject, format string, args ...any) {
		t.Helper()
		t.Errorf("%T %s: %s", o, o.GetName(), fmt.Sprintf(format, args...))
	}
	checkAll := func(o KubeObject, what string, msgs []string) {
		t.Helper()
		for _, m := range msgs {
			errf(o, "%s: %s", what, m)
		}
	}
	checkLabels := func(o KubeObject, where string, l map[string]string) {
		t.Helper()
		for k, v := range l {
			checkAll(o, where+" label key "+k, validation.IsQualifiedName(k))
			checkAll(o, where+" label value "+v, validation.IsValidLabelValue(v))
		}
	}

	ns, ok := objs[0].(*corev1.Namespace)
	if !ok {
		t.Fatalf("first object is %T, want the Namespace", objs[0])
	}
	names := map[string]bool{}
	configMaps, claims, services := map[string]bool{}, map[string]bool{}, map[string]*corev1.Service{}
	for _, c := range externalClaims {
		claims[c] = true
	}
	lastOrder := -1
	for _, o := range objs {
		kind := strings.TrimPrefix(fmt.Sprintf("%T", o), "*v1.")
		if order := kindOrder[kind]; order < lastOrder {
			errf(o, "out of apply order")
		} else {
			lastOrder = order
		}
		key := kind + "/" + o.GetName()
		if names[key] {
			errf(o, "rendered twice")
		}
		names[key] = true
		checkAll(o, "name", validation.IsDNS1123Label(o.GetName()))
		if _, isNS := o.(*corev1.Namespace); !isNS && o.GetNamespace() != ns.Name {
			errf(o, "namespace %q, want %q", o.GetNamespace(), ns.Name)
		}
		checkLabels(o, "object", o.GetLabels())
		for _, k := range []string{LabelName, LabelInstance, LabelOrg, LabelProject, LabelEnv, LabelQInstance, LabelConfigHash} {
			if o.GetLabels()[k] == "" {
				errf(o, "missing label %s", k)
			}
		}
		for k := range o.GetAnnotations() {
			checkAll(o, "annotation key "+k, validation.IsQualifiedName(k))
		}
		switch x := o.(type) {
		case *corev1.ConfigMap:
			configMaps[x.Name] = true
			for k := range x.Data {
				checkAll(o, "key", validation.IsConfigMapKey(k))
			}
		case *corev1.PersistentVolumeClaim:
			claims[x.Name] = true
		case *corev1.Service:
			services[x.Name] = x
			checkAll(o, "service name", validation.IsDNS1035Label(x.Name))
			if len(x.Spec.Selector) == 0 {
				errf(o, "no selector")
			}
			for _, p := range x.Spec.Ports {
				checkAll(o, "port name", validation.IsValidPortName(p.Name))
				checkAll(o, "port", validation.IsValidPortNum(int(p.Port)))
			}
		case *appsv1.Deployment:
			checkPod(t, o, x.Spec.Selector, x.Spec.Template, configMaps, claims, nil)
		case *appsv1.StatefulSet:
			templates := map[string]bool{}
			for _, c := range x.Spec.VolumeClaimTemplates {
				checkAll(o, "claim template name", validation.IsDNS1123Label(c.Name))
				templates[c.Name] = true
			}
			checkPod(t, o, x.Spec.Selector, x.Spec.Template, configMaps, claims, templates)
		case *policyv1.PodDisruptionBudget:
			if x.Spec.Selector == nil || len(x.Spec.Selector.MatchLabels) == 0 {
				errf(o, "no selector")
			}
		case *networkingv1.NetworkPolicy:
			if len(x.Spec.PolicyTypes) == 0 {
				errf(o, "no policy types")
			}
		case *networkingv1.Ingress:
			for _, rule := range x.Spec.Rules {
				if rule.Host != "" {
					checkAll(o, "host", validation.IsDNS1123Subdomain(rule.Host))
				}
				for _, p := range rule.HTTP.Paths {
					svc := services[p.Backend.Service.Name]
					if svc == nil {
						errf(o, "backend service %s not rendered", p.Backend.Service.Name)
						continue
					}
					found := false
					for _, sp := range svc.Spec.Ports {
						found = found || sp.Port == p.Backend.Service.Port.Number
					}
					if !found {
						errf(o, "backend port %d not exposed by service %s", p.Backend.Service.Port.Number, svc.Name)
					}
				}
			}
			for _, tls := range x.Spec.TLS {
				checkAll(o, "tls secret name", validation.IsDNS1123Subdomain(tls.SecretName))
			}
		}
	}
}

// checkPod validates a workload's selector, pod template and references.
func checkPod(t *testing.T, o KubeObject, sel *metav1.LabelSelector, tpl corev1.PodTemplateSpec,
	configMaps, claims, templates map[string]bool) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%T %s: %s", o, o.GetName(), fmt.Sprintf(format, args...))
	}
	if sel == nil || len(sel.MatchLabels) == 0 {
		fail("no selector")
		return
	}
	if _, hasHash := sel.MatchLabels[LabelConfigHash]; hasHash {
		fail("selector contains the config hash, which changes on update")
	}
	if !labels.SelectorFromSet(sel.MatchLabels).Matches(labels.Set(tpl.Labels)) {
		fail("selector %v does not match template labels %v", sel.MatchLabels, tpl.Labels)
	}
	for k, v := range tpl.Labels {
		for _, m := range validation.IsValidLabelValue(v) {
			fail("template label %s: %s", k, m)
		}
	}
	vols := map[string]bool{}
	for _, v := range tpl.Spec.Volumes {
		for _, m := range validation.IsDNS1123Label(v.Name) {
			fail("volume %s: %s", v.Name, m)
		}
		if vols[v.Name] {
			fail("volume %s declared twice", v.Name)
		}
		vols[v.Name] = true
		if v.ConfigMap != nil && !configMaps[v.ConfigMap.Name] {
			fail("volume %s references ConfigMap %s, not rendered", v.Name, v.ConfigMap.Name)
		}
		if v.PersistentVolumeClaim != nil && !claims[v.PersistentVolumeClaim.ClaimName] {
			fail("volume %s references claim %s, neither rendered nor declared external", v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	if len(tpl.Spec.Containers) == 0 {
		fail("no containers")
	}
	for _, c := range tpl.Spec.Containers {
		for _, m := range validation.IsDNS1123Label(c.Name) {
			fail("container %s: %s", c.Name, m)
		}
		if c.Image == "" {
			fail("container %s has no image", c.Name)
		}
		for _, e := range c.Env {
			for _, m := range validation.IsEnvVarName(e.Name) {
				fail("env %s: %s", e.Name, m)
			}
		}
		for _, p := range c.Ports {
			for _, m := range validation.IsValidPortName(p.Name) {
				fail("port %s: %s", p.Name, m)
			}
		}
		for _, vm := range c.VolumeMounts {
			if !vols[vm.Name] && !templates[vm.Name] {
				fail("mount %s at %s names no volume", vm.Name, vm.MountPath)
			}
		}
		for _, pr := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
			if pr == nil {
				continue
			}
			handlers := 0
			for _, set := range []bool{pr.Exec != nil, pr.HTTPGet != nil, pr.TCPSocket != nil, pr.GRPC != nil} {
				if set {
					handlers++
				}
			}
			if handlers != 1 {
				fail("container %s: probe has %d handlers, want 1", c.Name, handlers)
			}
		}
	}
}
