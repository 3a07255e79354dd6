package render

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/quai-dev/quai/internal/stack"
)

func mustRender(t *testing.T, m *stack.Model, opts KubeOptions) *Manifests {
	t.Helper()
	ms, err := Kubernetes(m, opts)
	if err != nil {
		t.Fatalf("Kubernetes: %v", err)
	}
	return ms
}

func find[T KubeObject](t *testing.T, ms *Manifests, kind, name string) T {
	t.Helper()
	for _, o := range ms.Objects {
		if o.Kind == kind && o.Name == name {
			obj, ok := o.Obj.(T)
			if !ok {
				t.Fatalf("%s %s is %T", kind, name, o.Obj)
			}
			return obj
		}
	}
	var names []string
	for _, o := range ms.Objects {
		names = append(names, o.Kind+"/"+o.Name)
	}
	t.Fatalf("no %s %s among %v", kind, name, names)
	var zero T
	return zero
}

func has(ms *Manifests, kind, name string) bool {
	for _, o := range ms.Objects {
		if o.Kind == kind && o.Name == name {
			return true
		}
	}
	return false
}

func TestKubernetesHandModel(t *testing.T) {
	ms := mustRender(t, handModel(t), KubeOptions{})
	b, err := ms.YAML()
	if err != nil {
		t.Fatal(err)
	}
	validateManifests(t, b)

	if ms.Namespace != "acme-shop-prod" {
		t.Errorf("namespace %q, want acme-shop-prod", ms.Namespace)
	}

	t.Run("workload kinds", func(t *testing.T) {
		// proxy has no named volume: a Deployment with zero-downtime rollout.
		dep := find[*appsv1.Deployment](t, ms, "Deployment", "proxy")
		ru := dep.Spec.Strategy.RollingUpdate
		if ru == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.IntValue() != 1 {
			t.Errorf("proxy rolling update = %+v, want maxUnavailable 0, maxSurge 1", ru)
		}
		if *dep.Spec.Replicas != 3 {
			t.Errorf("proxy replicas %d, want 3", *dep.Spec.Replicas)
		}
		// db owns pgdata alone: a claim template, not a standalone claim.
		db := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "db")
		if len(db.Spec.VolumeClaimTemplates) != 1 || db.Spec.VolumeClaimTemplates[0].Name != "pgdata" {
			t.Errorf("db claim templates = %+v, want pgdata", db.Spec.VolumeClaimTemplates)
		}
		if has(ms, "PersistentVolumeClaim", "pgdata") {
			t.Error("private volume pgdata also rendered as a standalone claim")
		}
		// uploads is shared by api and worker: one ReadWriteMany claim.
		pvc := find[*corev1.PersistentVolumeClaim](t, ms, "PersistentVolumeClaim", "uploads")
		if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}) {
			t.Errorf("uploads access modes %v", pvc.Spec.AccessModes)
		}
		api := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "api")
		if len(api.Spec.VolumeClaimTemplates) != 0 {
			t.Errorf("api has claim templates for a shared volume: %+v", api.Spec.VolumeClaimTemplates)
		}
		if !has(ms, "StatefulSet", "worker") || has(ms, "Service", "worker") {
			t.Error("worker (named volume, no ports) should be a StatefulSet without Service")
		}
	})

	t.Run("pdb only for routed services with two replicas or more", func(t *testing.T) {
		for name, want := range map[string]bool{"proxy": true, "api": true, "db": false, "worker": false} {
			if got := has(ms, "PodDisruptionBudget", name); got != want {
				t.Errorf("PDB %s: %t, want %t", name, got, want)
			}
		}
	})

	t.Run("probes", func(t *testing.T) {
		proxy := find[*appsv1.Deployment](t, ms, "Deployment", "proxy").Spec.Template.Spec.Containers[0]
		if g := proxy.ReadinessProbe.HTTPGet; g == nil || g.Path != "/nginx-health" || g.Port.IntValue() != 8080 {
			t.Errorf("proxy readiness = %+v, want HTTP GET /nginx-health on 8080", proxy.ReadinessProbe)
		}
		db := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "db").Spec.Template.Spec.Containers[0]
		if e := db.ReadinessProbe.Exec; e == nil || !slices.Equal(e.Command, []string{"/bin/sh", "-c", "pg_isready -U shop"}) {
			t.Errorf("db readiness = %+v, want the CMD-SHELL check through /bin/sh -c", db.ReadinessProbe)
		}
		if db.ReadinessProbe.PeriodSeconds != 5 || db.LivenessProbe.InitialDelaySeconds != 20 {
			t.Errorf("db probe timing: period %d, liveness delay %d; want 5 and 20 (start_period)",
				db.ReadinessProbe.PeriodSeconds, db.LivenessProbe.InitialDelaySeconds)
		}
		worker := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "worker").Spec.Template.Spec.Containers[0]
		if worker.ReadinessProbe != nil || worker.LivenessProbe != nil {
			t.Error("worker declares no check but got probes")
		}
	})

	t.Run("security context and resources", func(t *testing.T) {
		api := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "api").Spec.Template.Spec.Containers[0]
		sc := api.SecurityContext
		if sc == nil || *sc.RunAsUser != 65532 || *sc.RunAsGroup != 65532 || !*sc.ReadOnlyRootFilesystem ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("api security context = %+v", sc)
		}
		if got := api.Resources.Limits.Cpu().String(); got != "500m" {
			t.Errorf("api cpu limit %s, want 500m", got)
		}
		if got := api.Resources.Requests.Memory().String(); got != "512Mi" {
			t.Errorf("api memory request %s, want 512Mi", got)
		}
		worker := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "worker").Spec.Template.Spec.Containers[0]
		if !slices.Equal(worker.SecurityContext.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
			t.Errorf("worker caps = %+v, want NET_BIND_SERVICE without the CAP_ prefix", worker.SecurityContext.Capabilities)
		}
		if !slices.Equal(worker.Args, []string{"worker"}) {
			t.Errorf("worker args %v", worker.Args)
		}
	})

	t.Run("secrets are referenced, never created", func(t *testing.T) {
		for _, o := range ms.Objects {
			if o.Kind == "Secret" {
				t.Errorf("rendered Secret %s", o.Name)
			}
		}
		db := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "db").Spec.Template.Spec
		var proj *corev1.ProjectedVolumeSource
		for _, v := range db.Volumes {
			if v.Projected != nil {
				proj = v.Projected
			}
		}
		if proj == nil || proj.Sources[0].Secret.Name != "db-password" || proj.Sources[0].Secret.Items[0].Path != "db_password" {
			t.Fatalf("db secrets volume = %+v", proj)
		}
		mounted := false
		for _, vm := range db.Containers[0].VolumeMounts {
			mounted = mounted || vm.MountPath == "/run/secrets"
		}
		if !mounted {
			t.Error("secrets not mounted at /run/secrets")
		}
		var got []string
		for _, s := range ms.Secrets {
			got = append(got, s.Type+":"+s.Name)
		}
		if want := []string{"generic:db-password", "tls:shop-acme-example-api-tls"}; !slices.Equal(got, want) {
			t.Errorf("secret refs %v, want %v", got, want)
		}
		if cmd := ms.Secrets[0].Command(ms.Namespace); cmd != "kubectl -n acme-shop-prod create secret generic db-password --from-file=db_password=secrets/db_password.txt" {
			t.Errorf("command %q", cmd)
		}
	})

	t.Run("ingress TLS modes", func(t *testing.T) {
		auto := find[*networkingv1.Ingress](t, ms, "Ingress", "shop-acme-example")
		if auto.Annotations["cert-manager.io/cluster-issuer"] != DefaultClusterIssuer || len(auto.Spec.TLS) != 1 {
			t.Errorf("auto route: annotations %v, tls %v", auto.Annotations, auto.Spec.TLS)
		}
		if *auto.Spec.IngressClassName != DefaultIngressClass {
			t.Errorf("ingress class %s", *auto.Spec.IngressClassName)
		}
		custom := find[*networkingv1.Ingress](t, ms, "Ingress", "shop-acme-example-api")
		if len(custom.Annotations) != 0 || custom.Spec.TLS[0].SecretName != "shop-acme-example-api-tls" {
			t.Errorf("custom route: annotations %v, tls %v", custom.Annotations, custom.Spec.TLS)
		}
		off := find[*networkingv1.Ingress](t, ms, "Ingress", "shop-prod-acme-localhost")
		if off.Spec.TLS != nil || len(off.Annotations) != 0 {
			t.Errorf("tls: off route has TLS: %v %v", off.Spec.TLS, off.Annotations)
		}
	})

	t.Run("network policies", func(t *testing.T) {
		deny := find[*networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", "default-deny")
		if len(deny.Spec.PodSelector.MatchLabels) != 0 || len(deny.Spec.Ingress) != 0 {
			t.Errorf("default-deny = %+v", deny.Spec)
		}
		toDB := find[*networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", "allow-to-db")
		from := toDB.Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0].Values
		if !slices.Equal(from, []string{"api", "worker"}) {
			t.Errorf("db admits %v, want [api worker]", from)
		}
		if toDB.Spec.Ingress[0].Ports[0].Port.IntValue() != 5432 {
			t.Errorf("db policy ports %+v", toDB.Spec.Ingress[0].Ports)
		}
		ing := find[*networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", "allow-ingress-to-proxy")
		if ns := ing.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; ns != DefaultIngressNamespace {
			t.Errorf("ingress controller namespace %q", ns)
		}
		if has(ms, "NetworkPolicy", "allow-to-worker") || has(ms, "NetworkPolicy", "allow-ingress-to-db") {
			t.Error("policy for a service nothing depends on or routes to")
		}
	})

	t.Run("project files become config maps", func(t *testing.T) {
		cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", "proxy-nginx-conf")
		if cm.Data["nginx.conf"] != "events {}\n" {
			t.Errorf("config map data %v", cm.Data)
		}
		tpl := find[*appsv1.Deployment](t, ms, "Deployment", "proxy").Spec.Template
		if tpl.Annotations["quai.dev/files-hash"] == "" {
			t.Error("pod template does not roll when the mounted file changes")
		}
	})
}

func TestKubernetesOptions(t *testing.T) {
	ms := mustRender(t, handModel(t), KubeOptions{
		IngressClass: "traefik", IngressNamespace: "traefik-system", ClusterIssuer: "acme-issuer",
		StorageClass: "fast-ssd", VolumeSize: "20Gi",
	})
	ing := find[*networkingv1.Ingress](t, ms, "Ingress", "shop-acme-example")
	if *ing.Spec.IngressClassName != "traefik" || ing.Annotations["cert-manager.io/cluster-issuer"] != "acme-issuer" {
		t.Errorf("ingress %v %v", *ing.Spec.IngressClassName, ing.Annotations)
	}
	pvc := find[*corev1.PersistentVolumeClaim](t, ms, "PersistentVolumeClaim", "uploads")
	if *pvc.Spec.StorageClassName != "fast-ssd" || pvc.Spec.Resources.Requests.Storage().String() != "20Gi" {
		t.Errorf("claim %v %v", *pvc.Spec.StorageClassName, pvc.Spec.Resources.Requests)
	}
	db := find[*appsv1.StatefulSet](t, ms, "StatefulSet", "db")
	if *db.Spec.VolumeClaimTemplates[0].Spec.StorageClassName != "fast-ssd" {
		t.Error("claim template ignores the storage class")
	}
	np := find[*networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", "allow-ingress-to-proxy")
	if np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "traefik-system" {
		t.Error("ingress namespace option ignored")
	}

	if _, err := Kubernetes(handModel(t), KubeOptions{VolumeSize: "lots"}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("bad volume size: err %v, want ErrInvalidOption", err)
	}
}

func TestKubernetesLocalhostUsesLocalIssuer(t *testing.T) {
	m := handModel(t)
	m.Routes = []stack.Route{{Host: "shop.prod.acme.localhost", Path: "/", Service: "proxy", Port: 8080, TLS: stack.TLSAuto}}
	ms := mustRender(t, m, KubeOptions{})
	ing := find[*networkingv1.Ingress](t, ms, "Ingress", "shop-prod-acme-localhost")
	if got := ing.Annotations["cert-manager.io/cluster-issuer"]; got != DefaultLocalClusterIssuer {
		t.Errorf("issuer %q, want %q", got, DefaultLocalClusterIssuer)
	}
}

func TestKubernetesDeterministic(t *testing.T) {
	m := handModel(t)
	var first []byte
	for i := range 5 {
		ms := mustRender(t, m, KubeOptions{})
		b, err := ms.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Fatalf("render %d differs from the first", i)
		}
	}
}

// TestKubernetesStopGracePeriod: stop_grace_period is the pods' termination
// grace period, rounded up to whole seconds; without it the cluster's
// default (30s) applies.
func TestKubernetesStopGracePeriod(t *testing.T) {
	m := &stack.Model{
		Identity: stack.Identity{Project: "p", Env: "dev"},
		Services: []*stack.Service{
			{Name: "web", Image: "nginx:1.27", Replicas: 1, StopGracePeriod: 1500 * time.Millisecond},
			{Name: "worker", Image: "nginx:1.27", Replicas: 1},
		},
	}
	ms := mustRender(t, m, KubeOptions{})
	if g := find[*appsv1.Deployment](t, ms, "Deployment", "web").Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 2 {
		t.Errorf("web termination grace = %v, want 2 seconds", g)
	}
	if g := find[*appsv1.Deployment](t, ms, "Deployment", "worker").Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		t.Errorf("worker termination grace = %d, want unset", *g)
	}
}

// TestKubernetesClaimTemplatesStable: a StatefulSet's claim templates are
// immutable, so a change of the service must render the same ones.
func TestKubernetesClaimTemplatesStable(t *testing.T) {
	model := func(version string) *stack.Model {
		return &stack.Model{
			Identity: stack.Identity{Project: "p", Env: "dev"},
			Services: []*stack.Service{{
				Name: "db", Image: "postgres:16", Replicas: 1, Hash: "hash-" + version,
				Environment: map[string]string{"VERSION": version},
				Mounts:      []stack.Mount{{Type: stack.MountVolume, Source: "data", Target: "/data"}},
			}},
		}
	}
	v1 := find[*appsv1.StatefulSet](t, mustRender(t, model("1"), KubeOptions{}), "StatefulSet", "db")
	v2 := find[*appsv1.StatefulSet](t, mustRender(t, model("2"), KubeOptions{}), "StatefulSet", "db")
	if v1.Labels[LabelConfigHash] == v2.Labels[LabelConfigHash] {
		t.Fatal("the two versions have the same config hash: the test changes nothing")
	}
	if !equality.Semantic.DeepEqual(v1.Spec.VolumeClaimTemplates, v2.Spec.VolumeClaimTemplates) {
		t.Errorf("claim templates differ between two versions of the service:\n%+v\n%+v", v1.Spec.VolumeClaimTemplates, v2.Spec.VolumeClaimTemplates)
	}
}

func TestKubernetesInvalidModel(t *testing.T) {
	for name, m := range map[string]*stack.Model{
		"nil":        nil,
		"no project": {Identity: stack.Identity{Env: "dev"}},
		"no image":   {Identity: stack.Identity{Project: "p", Env: "dev"}, Services: []*stack.Service{{Name: "web", Replicas: 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Kubernetes(m, KubeOptions{}); !errors.Is(err, ErrInvalidModel) {
				t.Errorf("err %v, want ErrInvalidModel", err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("verylongname", 8)
	for _, in := range []string{"acme-users-api-prod", "My_Service", "--x--", "/var/cache/nginx", long, "a.b.c", "ÜBER"} {
		if out := dnsLabel(in); len(validation.IsDNS1123Label(out)) != 0 {
			t.Errorf("dnsLabel(%q) = %q, not a DNS-1123 label", in, out)
		}
		if out := dns1035Label("1" + in); len(validation.IsDNS1035Label(out)) != 0 {
			t.Errorf("dns1035Label(%q) = %q, not a DNS-1035 label", "1"+in, out)
		}
		if out := labelValue(in + ":x"); len(validation.IsValidLabelValue(out)) != 0 {
			t.Errorf("labelValue(%q) = %q, not a label value", in, out)
		}
	}
	if a, b := dnsLabel(long+"a"), dnsLabel(long+"b"); a == b {
		t.Errorf("shortened names collide: %q", a)
	}
	if got := Namespace(stack.Identity{Project: "users-api", Env: "dev"}); got != "default-users-api-dev" {
		t.Errorf("namespace of the default org: %q", got)
	}
}

// TestKubernetesSecretEnv: x-quai.secret_env becomes an environment
// variable taken from the secret's Secret (secretKeyRef), never a value;
// the sealed secret is listed for quai to create.
func TestKubernetesSecretEnv(t *testing.T) {
	m := &stack.Model{
		Identity: stack.Identity{Project: "p", Env: "prod"},
		Secrets:  []stack.Secret{{Name: "db_password", External: true}},
		Services: []*stack.Service{
			{Name: "db", Image: "postgres:16", Replicas: 1, SecretEnv: map[string]string{"POSTGRES_PASSWORD": "db_password"}},
		},
	}
	ms := mustRender(t, m, KubeOptions{})
	c := find[*appsv1.Deployment](t, ms, "Deployment", "db").Spec.Template.Spec.Containers[0]
	var got *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "POSTGRES_PASSWORD" {
			got = &c.Env[i]
		}
	}
	if got == nil || got.Value != "" || got.ValueFrom == nil || got.ValueFrom.SecretKeyRef == nil ||
		got.ValueFrom.SecretKeyRef.Name != "db-password" || got.ValueFrom.SecretKeyRef.Key != "db_password" {
		t.Fatalf("POSTGRES_PASSWORD = %+v, want a secretKeyRef to db-password/db_password", got)
	}
	if len(ms.Secrets) != 1 || !ms.Secrets[0].Sealed || ms.Secrets[0].Stack != "db_password" {
		t.Fatalf("secrets = %+v, want db_password, sealed", ms.Secrets)
	}
}
