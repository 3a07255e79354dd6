package render

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/quai-dev/quai/internal/stack"
)

// Defaults of KubeOptions, used when a field is empty.
const (
	// DefaultIngressClass matches the ingress-nginx controller's class.
	DefaultIngressClass = "nginx"
	// DefaultIngressNamespace is where ingress-nginx installs its controller;
	// NetworkPolicies admit traffic to routed services from this namespace.
	DefaultIngressNamespace = "ingress-nginx"
	// DefaultClusterIssuer is the cert-manager ClusterIssuer for public hosts
	// with tls: auto (the name cert-manager's ACME tutorial uses).
	DefaultClusterIssuer = "letsencrypt-prod"
	// DefaultLocalClusterIssuer is the cert-manager ClusterIssuer for
	// *.localhost hosts with tls: auto, which no public CA will sign: a CA
	// issuer backed by a cluster-local root, as quai's own proxy uses locally.
	DefaultLocalClusterIssuer = "quai-local-ca"
	// DefaultVolumeSize is the storage requested for each named volume.
	DefaultVolumeSize = "1Gi"
)

// Errors returned by the renderers.
var (
	// ErrInvalidModel: the model lacks what rendering needs (identity, a
	// service image); the message says what.
	ErrInvalidModel = errors.New("invalid model")
	// ErrInvalidOption: a KubeOptions value is malformed.
	ErrInvalidOption = errors.New("invalid render option")
)

// KubeOptions are the cluster-specific choices a stack file cannot know.
// Empty fields take the Default* values above.
type KubeOptions struct {
	// IngressClass is spec.ingressClassName of every Ingress.
	IngressClass string
	// IngressController is the flavour of the controller serving
	// IngressClass, which decides how route rules are rendered: nginx
	// (ingress-nginx annotations), traefik (Middleware objects) or other
	// (security rules refused). Empty: traefik when IngressClass is
	// "traefik", else nginx.
	IngressController string
	// IngressNamespace is the namespace of the ingress controller pods.
	IngressNamespace string
	// ClusterIssuer is the cert-manager ClusterIssuer for tls: auto routes.
	ClusterIssuer string
	// LocalClusterIssuer replaces ClusterIssuer for hosts under .localhost.
	LocalClusterIssuer string
	// StorageClass is the storageClassName of volume claims; empty leaves it
	// unset so the cluster's default class is used.
	StorageClass string
	// VolumeSize is the storage each volume claim requests (a Kubernetes
	// quantity such as 10Gi).
	VolumeSize string
}

func (o KubeOptions) withDefaults() (KubeOptions, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.IngressClass, DefaultIngressClass)
	if o.controller() == ControllerTraefik {
		// Where Traefik's chart is usually installed.
		def(&o.IngressNamespace, ControllerTraefik)
	}
	def(&o.IngressNamespace, DefaultIngressNamespace)
	def(&o.ClusterIssuer, DefaultClusterIssuer)
	def(&o.LocalClusterIssuer, DefaultLocalClusterIssuer)
	def(&o.VolumeSize, DefaultVolumeSize)
	if o.IngressController != "" && !slices.Contains(Controllers, o.IngressController) {
		return o, fmt.Errorf("%w: ingress controller %q: use one of %s", ErrInvalidOption, o.IngressController, strings.Join(Controllers, ", "))
	}
	if _, err := resource.ParseQuantity(o.VolumeSize); err != nil {
		return o, fmt.Errorf("%w: volume size %q is not a quantity such as 10Gi: %w", ErrInvalidOption, o.VolumeSize, err)
	}
	return o, nil
}

// KubeObject is a typed Kubernetes object (Namespace, Deployment, ...).
type KubeObject interface {
	runtime.Object
	metav1.Object
}

// Object is one rendered Kubernetes object.
type Object struct {
	Kind string
	Name string
	Obj  KubeObject
}

// FileName is the file `quai render -o DIR` writes the object to.
func (o Object) FileName() string {
	return strings.ToLower(o.Kind) + "-" + o.Name + ".yaml"
}

// SecretRef is a Kubernetes Secret the manifests reference but do not
// contain: values never leave the user's hands through rendered files.
type SecretRef struct {
	// Name is the Secret's name in the instance namespace.
	Name string `json:"name"`
	// Type is "generic" (one key, Key), "tls" (tls.crt and tls.key) or
	// SecretTypeHtpasswd (the users of basic_auth routes, key Key).
	Type string `json:"type"`
	// Key is the data key of a generic secret.
	Key string `json:"key,omitempty"`
	// File is where the stack reads a generic secret's value, relative to
	// the project directory; Environment names a variable holding it.
	File        string `json:"file,omitempty"`
	Environment string `json:"environment,omitempty"`
	// CertFile and KeyFile are a tls secret's sources, relative to the project.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// Stack is the stack secret a generic secret holds.
	Stack string `json:"-"`
	// Sealed: the platform provides the value (a sealed or generated
	// secret); quai creates the Secret when it deploys.
	Sealed bool `json:"sealed,omitempty"`
}

// Command is a kubectl command line that creates the secret from its
// sources, for the user to run before applying the manifests.
func (s SecretRef) Command(namespace string) string {
	switch {
	case s.Type == SecretTypeHtpasswd:
		return fmt.Sprintf("quai up (quai creates it, the users of basic_auth, from the bcrypt lines of sealed secret %s)", s.Stack)
	case s.Type == "tls":
		return fmt.Sprintf("kubectl -n %s create secret tls %s --cert=%s --key=%s", namespace, s.Name, s.CertFile, s.KeyFile)
	case s.File != "":
		return fmt.Sprintf("kubectl -n %s create secret generic %s --from-file=%s=%s", namespace, s.Name, s.Key, s.File)
	case s.Environment != "":
		return fmt.Sprintf("kubectl -n %s create secret generic %s --from-literal=%s=\"$%s\"", namespace, s.Name, s.Key, s.Environment)
	case s.Sealed:
		return "quai up (quai creates the Secret of a sealed secret from its value)"
	default:
		return fmt.Sprintf("kubectl -n %s create secret generic %s --from-file=%s=PATH", namespace, s.Name, s.Key)
	}
}

// Manifests is the Kubernetes rendering of one instance.
type Manifests struct {
	Namespace string
	// Objects are in apply order: Namespace, NetworkPolicies, ConfigMaps,
	// PersistentVolumeClaims, Services, Deployments and StatefulSets,
	// PodDisruptionBudgets, Traefik Middlewares, Ingresses; by name within a
	// kind.
	Objects []Object
	// Secrets lists the Secrets the objects reference, sorted by name; they
	// must exist in the namespace before pods can start.
	Secrets []SecretRef
	// Warnings say what of the stack has no faithful Kubernetes equivalent
	// and how it was rendered instead, sorted.
	Warnings []string
	// Findings are the Warnings about a setting of the stack, by service
	// and setting (a warning that changes nothing of what was asked, such
	// as an external volume that must exist, has none).
	Findings []Finding
}

// kindOrder is the apply order: namespaces and policies before anything
// that runs, claims and config before the pods that mount them, routes last.
var kindOrder = map[string]int{
	"Namespace":             0,
	"NetworkPolicy":         1,
	"ConfigMap":             2,
	"PersistentVolumeClaim": 3,
	"Service":               4,
	"Deployment":            5,
	"StatefulSet":           6,
	"PodDisruptionBudget":   7,
	"Middleware":            8,
	"Ingress":               9,
}

// Kubernetes renders the instance described by m as Kubernetes objects.
// Bind mounts of files under the project directory become ConfigMaps, so
// those files are read; nothing else touches the file system.
func Kubernetes(m *stack.Model, opts KubeOptions) (*Manifests, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: no model", ErrInvalidModel)
	}
	if m.Identity.Project == "" || m.Identity.Env == "" {
		return nil, fmt.Errorf("%w: the instance needs a project and an environment (got %q)", ErrInvalidModel, m.Identity.Slug())
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &kubeRenderer{
		m:          m,
		opts:       opts,
		ns:         Namespace(m.Identity),
		out:        &Manifests{Namespace: Namespace(m.Identity)},
		configMaps: map[string]*corev1.ConfigMap{},
		cmBySource: map[string]string{},
		secrets:    map[string]SecretRef{},
	}
	r.instanceHash = instanceHash(m)
	if err := r.render(); err != nil {
		return nil, err
	}
	sort.SliceStable(r.out.Objects, func(i, j int) bool {
		a, b := r.out.Objects[i], r.out.Objects[j]
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		return a.Name < b.Name
	})
	for _, s := range r.secrets {
		r.out.Secrets = append(r.out.Secrets, s)
	}
	sort.Slice(r.out.Secrets, func(i, j int) bool { return r.out.Secrets[i].Name < r.out.Secrets[j].Name })
	slices.Sort(r.out.Warnings)
	r.out.Warnings = slices.Compact(r.out.Warnings)
	return r.out, nil
}

type kubeRenderer struct {
	m            *stack.Model
	opts         KubeOptions
	ns           string
	out          *Manifests
	instanceHash string

	// volumeUsers maps a named volume to the services mounting it.
	volumeUsers map[string][]*stack.Service
	// configMaps by name; cmBySource maps a bind source to its ConfigMap name.
	configMaps map[string]*corev1.ConfigMap
	cmBySource map[string]string
	secrets    map[string]SecretRef
}

func (r *kubeRenderer) add(kind string, obj KubeObject) {
	r.out.Objects = append(r.out.Objects, Object{Kind: kind, Name: obj.GetName(), Obj: obj})
}

// Verdicts of a Finding, as the runtime contract names them.
const (
	verdictChange = "change"
	verdictIgnore = "ignore"
	verdictRefuse = "refuse"
)

// Finding is a Warning about one setting of one service, for the
// Kubernetes runtime's plan-time assessment: Verdict is "change" (rendered
// differently than written), "ignore" (not rendered) or "refuse" (a rule
// that cannot be left out: the runtime must not apply the stack).
type Finding struct {
	Service string
	Setting string
	Verdict string
	Message string
}

// warnf records a warning; with a setting it is also a Finding of service
// (empty: the stack as a whole).
func (r *kubeRenderer) warnf(service, setting, verdict, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.out.Warnings = append(r.out.Warnings, msg)
	if setting != "" {
		r.out.Findings = append(r.out.Findings, Finding{Service: service, Setting: setting, Verdict: verdict, Message: msg})
	}
}

func (r *kubeRenderer) render() error {
	r.volumeUsers = map[string][]*stack.Service{}
	for _, s := range r.m.Services {
		seen := map[string]bool{}
		for _, mt := range s.Mounts {
			if mt.Type == stack.MountVolume && mt.Source != "" && !seen[mt.Source] {
				seen[mt.Source] = true
				r.volumeUsers[mt.Source] = append(r.volumeUsers[mt.Source], s)
			}
		}
	}

	r.add("Namespace", &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: r.ns, Labels: r.labels("", r.instanceHash)},
	})
	r.networkPolicies()
	r.sharedClaims()
	for _, s := range r.m.Services {
		if err := r.service(s); err != nil {
			return err
		}
	}
	for _, cm := range r.configMaps {
		r.add("ConfigMap", cm)
	}
	r.ingresses()
	return nil
}

// labels are the labels of an object; service is "" for instance-wide ones.
func (r *kubeRenderer) labels(service, hash string) map[string]string {
	id := r.m.Identity
	l := map[string]string{
		LabelInstance:   labelValue(id.Slug()),
		LabelPartOf:     labelValue(id.Project),
		LabelManagedBy:  ManagedBy,
		LabelOrg:        labelValue(id.OrgOrDefault()),
		LabelProject:    labelValue(id.Project),
		LabelEnv:        labelValue(id.Env),
		LabelQInstance:  labelValue(id.Slug()),
		LabelConfigHash: labelValue(hash),
	}
	if service != "" {
		l[LabelName] = labelValue(service)
		l[LabelService] = labelValue(service)
	} else {
		l[LabelName] = labelValue(id.Project)
	}
	return l
}

// selector picks the pods of one service of this instance. It never
// contains the config hash: selectors are immutable and must survive updates.
func (r *kubeRenderer) selector(service string) map[string]string {
	return map[string]string{
		LabelQInstance: labelValue(r.m.Identity.Slug()),
		LabelService:   labelValue(service),
	}
}

func (r *kubeRenderer) meta(name, service, hash string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: r.ns, Labels: r.labels(service, hash)}
}

func serviceHash(s *stack.Service) string {
	if s.Hash != "" {
		return s.Hash
	}
	// Hand-built models have no hash; derive one so labels stay meaningful.
	b, _ := json.Marshal(s)
	return shortHash(string(b))
}

// instanceHash covers every service's hash and the routes: it changes when
// anything rendered for the instance as a whole changes. Paths count
// relative to the project, so the same project hashes the same wherever it
// is checked out.
func instanceHash(m *stack.Model) string {
	rel := func(p string) string {
		if r, err := filepath.Rel(m.Dir, p); err == nil && m.Dir != "" && filepath.IsAbs(p) {
			return r
		}
		return p
	}
	// Writes to a hash never fail.
	h := sha256.New()
	for _, s := range m.Services {
		_, _ = fmt.Fprintf(h, "service %s %s\n", s.Name, serviceHash(s))
	}
	for _, rt := range m.Routes {
		_, _ = fmt.Fprintf(h, "route %s %s %s %d %s %s %s\n", rt.Host, rt.Path, rt.Service, rt.Port, rt.TLS, rel(rt.CertFile), rel(rt.KeyFile))
	}
	for _, v := range m.Volumes {
		_, _ = fmt.Fprintf(h, "volume %s %t\n", v.Name, v.External)
	}
	for _, s := range m.Secrets {
		_, _ = fmt.Fprintf(h, "secret %s %s %s\n", s.Name, rel(s.File), s.Environment)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (r *kubeRenderer) routesOf(service string) []stack.Route {
	var out []stack.Route
	for _, rt := range r.m.Routes {
		if rt.Service == service {
			out = append(out, rt)
		}
	}
	return out
}

// containerPort is a port a service listens on.
type containerPort struct {
	port  int
	proto corev1.Protocol
}

func (p containerPort) name() string {
	return strings.ToLower(string(p.proto)) + "-" + strconv.Itoa(p.port)
}

func portsOf(s *stack.Service) []containerPort {
	set := map[containerPort]bool{}
	for _, p := range s.Ports {
		proto := corev1.ProtocolTCP
		switch strings.ToLower(p.Protocol) {
		case "udp":
			proto = corev1.ProtocolUDP
		case "sctp":
			proto = corev1.ProtocolSCTP
		}
		set[containerPort{p.Target, proto}] = true
	}
	for _, p := range s.Expose {
		set[containerPort{p, corev1.ProtocolTCP}] = true
	}
	out := make([]containerPort, 0, len(set))
	for p := range set {
		if p.port > 0 {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].port != out[j].port {
			return out[i].port < out[j].port
		}
		return out[i].proto < out[j].proto
	})
	return out
}

// networkPolicies denies all ingress to the namespace's pods, then admits
// the ingress controller to routed ports and each service to what it
// declares in depends_on. Egress stays open: DNS, external APIs and ACME
// would otherwise need rules no stack file describes.
func (r *kubeRenderer) networkPolicies() {
	r.add("NetworkPolicy", &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: r.meta("default-deny", "", r.instanceHash),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	})

	auth := r.authTargets()
	for _, s := range r.m.Services {
		routes := r.routesOf(s.Name)
		if len(routes) == 0 && len(auth[s.Name]) == 0 {
			continue
		}
		// The controller calls routed ports and forward-auth targets.
		ports := slices.Clone(auth[s.Name])
		for _, rt := range routes {
			ports = append(ports, rt.Port)
		}
		slices.Sort(ports)
		ports = slices.Compact(ports)
		var npPorts []networkingv1.NetworkPolicyPort
		for _, p := range ports {
			npPorts = append(npPorts, networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(int32(p)))})
		}
		r.add("NetworkPolicy", &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: r.meta(dnsLabel("allow-ingress-to-"+s.Name), s.Name, serviceHash(s)),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: r.selector(s.Name)},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
							"kubernetes.io/metadata.name": r.opts.IngressNamespace,
						}},
					}},
					Ports: npPorts,
				}},
			},
		})
	}

	clients := map[string][]string{}
	for _, s := range r.m.Services {
		for _, d := range s.DependsOn {
			if r.m.Service(d.Service) != nil && d.Service != s.Name {
				clients[d.Service] = append(clients[d.Service], labelValue(s.Name))
			}
		}
	}
	for _, target := range r.m.Services {
		from := clients[target.Name]
		if len(from) == 0 {
			continue
		}
		slices.Sort(from)
		from = slices.Compact(from)
		var npPorts []networkingv1.NetworkPolicyPort
		for _, p := range portsOf(target) {
			npPorts = append(npPorts, networkingv1.NetworkPolicyPort{Protocol: ptr(p.proto), Port: ptr(intstr.FromInt32(int32(p.port)))})
		}
		r.add("NetworkPolicy", &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: r.meta(dnsLabel("allow-to-"+target.Name), target.Name, serviceHash(target)),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: r.selector(target.Name)},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{
						PodSelector: &metav1.LabelSelector{
							MatchLabels: map[string]string{LabelQInstance: labelValue(r.m.Identity.Slug())},
							MatchExpressions: []metav1.LabelSelectorRequirement{{
								Key: LabelService, Operator: metav1.LabelSelectorOpIn, Values: from,
							}},
						},
					}},
					Ports: npPorts,
				}},
			},
		})
	}
}

// privateVolume reports whether a named volume can be a per-pod claim of a
// StatefulSet: exactly one single-replica service mounts it. A Compose named
// volume is one volume every container mounting it sees, so per-replica
// claims would silently split shared data (uploads, collected static files);
// anything shared becomes one ReadWriteMany claim instead.
func (r *kubeRenderer) privateVolume(name string) bool {
	if r.isExternal(name) {
		return false
	}
	users := r.volumeUsers[name]
	return len(users) == 1 && users[0].Replicas <= 1
}

func (r *kubeRenderer) isExternal(name string) bool {
	for _, v := range r.m.Volumes {
		if v.Name == name {
			return v.External
		}
	}
	return false
}

func (r *kubeRenderer) claimSpec(mode corev1.PersistentVolumeAccessMode) corev1.PersistentVolumeClaimSpec {
	spec := corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{mode},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceStorage: resource.MustParse(r.opts.VolumeSize),
		}},
	}
	if r.opts.StorageClass != "" {
		spec.StorageClassName = ptr(r.opts.StorageClass)
	}
	return spec
}

func (r *kubeRenderer) sharedClaims() {
	names := make([]string, 0, len(r.volumeUsers))
	for n := range r.volumeUsers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if r.privateVolume(n) {
			continue
		}
		if r.isExternal(n) {
			r.warnf("", "", "", "volume %s is external: the PersistentVolumeClaim %s must already exist in namespace %s", n, dnsLabel(n), r.ns)
			continue
		}
		users := r.volumeUsers[n]
		var who string
		if len(users) == 1 {
			who = fmt.Sprintf("by the %d replicas of %s", users[0].Replicas, users[0].Name)
		} else {
			names := make([]string, len(users))
			for i, s := range users {
				names[i] = s.Name
			}
			who = "by " + strings.Join(names, ", ")
		}
		r.warnf("", "volumes", verdictChange, "volume %s is shared %s: rendered as one ReadWriteMany claim; the storage class must support ReadWriteMany", n, who)
		r.add("PersistentVolumeClaim", &corev1.PersistentVolumeClaim{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: r.meta(dnsLabel(n), "", r.instanceHash),
			Spec:       r.claimSpec(corev1.ReadWriteMany),
		})
	}
}

// service renders the Service, workload and PodDisruptionBudget of s.
func (r *kubeRenderer) service(s *stack.Service) error {
	hash := serviceHash(s)
	name := dns1035Label(s.Name)
	ports := portsOf(s)
	routed := len(r.routesOf(s.Name)) > 0

	if len(ports) > 0 {
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: r.meta(name, s.Name, hash),
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeClusterIP,
				Selector: r.selector(s.Name),
			},
		}
		for _, p := range ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
				Name: p.name(), Protocol: p.proto, Port: int32(p.port), TargetPort: intstr.FromInt32(int32(p.port)),
			})
		}
		r.add("Service", svc)
	}
	for _, p := range s.Ports {
		if p.Published != "" {
			r.warnf(s.Name, "ports", verdictChange, "service %s publishes port %s on the host: not rendered; reach it through its Service or a route", s.Name, p.Published)
		}
	}

	pod, claims, err := r.podSpec(s, ports)
	if err != nil {
		return err
	}
	podMeta := metav1.ObjectMeta{Labels: r.labels(s.Name, hash)}
	if h := r.filesHash(pod); h != "" {
		// ConfigMap contents are not part of the service hash: this
		// annotation rolls the pods when a mounted project file changes.
		podMeta.Annotations = map[string]string{"quai.dev/files-hash": h}
	}
	template := corev1.PodTemplateSpec{ObjectMeta: podMeta, Spec: pod}
	replicas := ptr(int32(max(s.Replicas, 0)))
	sel := &metav1.LabelSelector{MatchLabels: r.selector(s.Name)}

	if hasNamedVolume(s) {
		sts := &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: r.meta(name, s.Name, hash),
			Spec: appsv1.StatefulSetSpec{
				Replicas:    replicas,
				Selector:    sel,
				ServiceName: name,
				Template:    template,
				// Removing or scaling an instance keeps its data (never lose data).
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				},
			},
		}
		// A StatefulSet's claim templates cannot change once it exists: their
		// labels leave out the config hash, which changes with every change
		// of the service and would make the cluster refuse the update.
		claimLabels := r.labels(s.Name, "")
		delete(claimLabels, LabelConfigHash)
		for _, c := range claims {
			sts.Spec.VolumeClaimTemplates = append(sts.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: metav1.ObjectMeta{Name: c, Labels: maps.Clone(claimLabels)},
				Spec:       r.claimSpec(corev1.ReadWriteOnce),
			})
		}
		r.add("StatefulSet", sts)
	} else {
		dep := &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: r.meta(name, s.Name, hash),
			Spec: appsv1.DeploymentSpec{
				Replicas: replicas,
				Selector: sel,
				Template: template,
			},
		}
		switch {
		case s.StopFirst:
			// deploy.update_config.order: stop-first: the old pods go
			// before new ones start (the application locks its data).
			dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		case routed:
			// Zero-downtime: a new pod must be ready before an old one goes.
			dep.Spec.Strategy = appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr(intstr.FromInt32(0)),
					MaxSurge:       ptr(intstr.FromInt32(1)),
				},
			}
		}
		r.add("Deployment", dep)
	}

	if routed && s.Replicas >= 2 {
		r.add("PodDisruptionBudget", &policyv1.PodDisruptionBudget{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: r.meta(name, s.Name, hash),
			Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable: ptr(intstr.FromInt32(1)),
				Selector:       &metav1.LabelSelector{MatchLabels: r.selector(s.Name)},
			},
		})
	}
	return nil
}

func hasNamedVolume(s *stack.Service) bool {
	for _, mt := range s.Mounts {
		if mt.Type == stack.MountVolume && mt.Source != "" {
			return true
		}
	}
	return false
}

// filesHash hashes the contents of the ConfigMaps a pod mounts.
func (r *kubeRenderer) filesHash(pod corev1.PodSpec) string {
	var names []string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			names = append(names, v.ConfigMap.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		b, _ := json.Marshal(r.configMaps[n])
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// podSpec builds the pod of s and returns the names of the volume claim
// templates it needs (private named volumes).
func (r *kubeRenderer) podSpec(s *stack.Service, ports []containerPort) (corev1.PodSpec, []string, error) {
	image := s.Image
	if image == "" {
		if s.Build == nil {
			return corev1.PodSpec{}, nil, fmt.Errorf("%w: service %s has neither image nor build; add an image", ErrInvalidModel, s.Name)
		}
		image = r.m.Identity.Project + "-" + s.Name
		r.warnf(s.Name, "build", verdictChange, "service %s is built from source without an image name: rendered as image %s, which must be built and pushed to a registry the cluster can pull from", s.Name, image)
	} else if s.Build != nil {
		r.warnf(s.Name, "build", verdictChange, "service %s is built from source: the image %s must be built and pushed to a registry the cluster can pull from", s.Name, image)
	}

	c := corev1.Container{
		Name:       dnsLabel(s.Name),
		Image:      image,
		Command:    s.Entrypoint,
		Args:       s.Command,
		WorkingDir: s.WorkingDir,
	}
	for _, p := range ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.name(), ContainerPort: int32(p.port), Protocol: p.proto})
	}
	keys := make([]string, 0, len(s.Environment))
	for k := range s.Environment {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: s.Environment[k]})
	}
	// x-quai.secret_env: the value stays in its Secret.
	for _, k := range slices.Sorted(maps.Keys(s.SecretEnv)) {
		ref := r.secretRef(s.SecretEnv[k])
		c.Env = append(c.Env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: ref.Key}}})
	}
	c.Resources = resources(s.Resources)
	c.SecurityContext = r.securityContext(s)
	c.ReadinessProbe, c.LivenessProbe = r.probes(s, ports)

	pod := corev1.PodSpec{
		// Kubernetes would otherwise inject DB_PORT=tcp://... style variables
		// that clash with what Compose apps (and quai's process runtime) use.
		EnableServiceLinks: ptr(false),
		// Stack services do not talk to the Kubernetes API.
		AutomountServiceAccountToken: ptr(false),
		HostNetwork:                  s.NetworkMode == "host",
		HostPID:                      s.Pid == "host",
		HostIPC:                      s.Ipc == "host",
	}
	if s.StopGracePeriod > 0 {
		pod.TerminationGracePeriodSeconds = ptr(int64(seconds(s.StopGracePeriod, 0)))
	}
	if s.NetworkMode != "" && s.NetworkMode != "host" && s.NetworkMode != "bridge" && s.NetworkMode != "default" {
		r.warnf(s.Name, "network_mode", verdictIgnore, "service %s uses network_mode %s: not rendered; pods share the namespace network", s.Name, s.NetworkMode)
	}

	used := map[string]bool{}
	volName := func(want string) string {
		n := dnsLabel(want)
		if used[n] {
			n = dnsLabel(want + "-" + shortHash(want))
		}
		used[n] = true
		return n
	}
	var claims []string
	volByKey := map[string]string{}
	for _, mt := range s.Mounts {
		switch mt.Type {
		case stack.MountVolume:
			if mt.Source == "" {
				name := volName("anon-" + mt.Target)
				pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mt.Target, ReadOnly: mt.ReadOnly})
				r.warnf(s.Name, "volumes", verdictChange, "service %s has an anonymous volume at %s: rendered as an emptyDir, lost when the pod goes", s.Name, mt.Target)
				continue
			}
			key := "volume:" + mt.Source
			name, ok := volByKey[key]
			if !ok {
				name = volName(mt.Source)
				volByKey[key] = name
				if r.privateVolume(mt.Source) {
					claims = append(claims, name)
				} else {
					pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: dnsLabel(mt.Source)},
					}})
				}
			}
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mt.Target, ReadOnly: mt.ReadOnly})
		case stack.MountTmpfs:
			name := volName("tmpfs-" + mt.Target)
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory},
			}})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mt.Target})
		case stack.MountBind:
			if err := r.bindMount(s, mt, &pod, &c, volName, volByKey); err != nil {
				return corev1.PodSpec{}, nil, err
			}
		}
	}

	if len(s.Secrets) > 0 {
		proj := &corev1.ProjectedVolumeSource{}
		for _, name := range s.Secrets {
			ref := r.secretRef(name)
			proj.Sources = append(proj.Sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
				Items:                []corev1.KeyToPath{{Key: ref.Key, Path: name}},
			}})
		}
		vname := volName("secrets")
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vname, VolumeSource: corev1.VolumeSource{Projected: proj}})
		// Compose mounts secret <name> at /run/secrets/<name>; so does this.
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vname, MountPath: "/run/secrets", ReadOnly: true})
	}

	pod.Containers = []corev1.Container{c}
	return pod, claims, nil
}

// secretRef records (once) the Kubernetes Secret holding stack secret name.
func (r *kubeRenderer) secretRef(name string) SecretRef {
	ref := SecretRef{Name: dnsLabel(name), Type: "generic", Key: configMapKey(name), Stack: name}
	for _, sec := range r.m.Secrets {
		if sec.Name == name {
			ref.File = r.relToDir(sec.File)
			ref.Environment = sec.Environment
			ref.Sealed = sec.Sealed()
		}
	}
	r.secrets[ref.Name] = ref
	return ref
}

// relToDir makes p relative to the project directory when it lies inside it,
// so rendered output and hints do not depend on where the project sits.
func (r *kubeRenderer) relToDir(p string) string {
	if p == "" || !path.IsAbs(p) || r.m.Dir == "" {
		return p
	}
	if rel, ok := within(r.m.Dir, p); ok {
		return rel
	}
	return p
}

// within returns p relative to dir if p is dir or lies below it.
func within(dir, p string) (string, bool) {
	dir = path.Clean(dir)
	p = path.Clean(p)
	if p == dir {
		return ".", true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir)+1:], true
	}
	return "", false
}

func resources(res stack.Resources) corev1.ResourceRequirements {
	if res.MilliCPU == 0 && res.MemoryBytes == 0 {
		return corev1.ResourceRequirements{}
	}
	// Requests equal limits: a size class is a reservation, like a cloud
	// flavor, and pods get the Guaranteed QoS class (evicted last).
	l := corev1.ResourceList{}
	if res.MilliCPU > 0 {
		l[corev1.ResourceCPU] = *resource.NewMilliQuantity(res.MilliCPU, resource.DecimalSI)
	}
	if res.MemoryBytes > 0 {
		l[corev1.ResourceMemory] = *resource.NewQuantity(res.MemoryBytes, resource.BinarySI)
	}
	return corev1.ResourceRequirements{Limits: l, Requests: l.DeepCopy()}
}

func (r *kubeRenderer) securityContext(s *stack.Service) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{}
	set := false
	if s.User != "" {
		user, group, _ := strings.Cut(s.User, ":")
		if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
			sc.RunAsUser = ptr(uid)
			set = true
		} else if user == "root" {
			sc.RunAsUser = ptr(int64(0))
			set = true
		} else {
			r.warnf(s.Name, "user", verdictIgnore, "service %s runs as user %q: Kubernetes needs a numeric uid, so the image's default user is kept", s.Name, s.User)
		}
		if group != "" {
			if gid, err := strconv.ParseInt(group, 10, 64); err == nil {
				sc.RunAsGroup = ptr(gid)
				set = true
			}
		}
	}
	if s.ReadOnly {
		sc.ReadOnlyRootFilesystem = ptr(true)
		set = true
	}
	if s.Privileged {
		sc.Privileged = ptr(true)
		set = true
	}
	if len(s.CapAdd) > 0 || len(s.CapDrop) > 0 {
		sc.Capabilities = &corev1.Capabilities{Add: capabilities(s.CapAdd), Drop: capabilities(s.CapDrop)}
		set = true
	}
	if !set {
		return nil
	}
	return sc
}

// capabilities maps Compose capability names (CAP_NET_ADMIN or NET_ADMIN)
// to Kubernetes ones (NET_ADMIN).
func capabilities(in []string) []corev1.Capability {
	var out []corev1.Capability
	for _, c := range in {
		c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		out = append(out, corev1.Capability(c))
	}
	return out
}

// probes derive readiness and liveness from the service's checks, in order
// of preference: the x-quai health path over HTTP (what quai's own proxy
// gates traffic on), the Compose healthcheck command, and for routed
// services without either a TCP readiness check on the routed port, so the
// Ingress never sends traffic to a pod that is not listening yet.
func (r *kubeRenderer) probes(s *stack.Service, ports []containerPort) (readiness, liveness *corev1.Probe) {
	hc := s.Healthcheck
	if hc != nil && (hc.Disable || (len(hc.Test) > 0 && strings.EqualFold(hc.Test[0], "NONE"))) {
		hc = nil
	}
	timing := func(p *corev1.Probe) *corev1.Probe {
		p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold = 10, 3, 3
		if hc != nil {
			// Compose's defaults: 30s interval, 30s timeout, 3 retries.
			p.PeriodSeconds = seconds(hc.Interval, 30)
			p.TimeoutSeconds = seconds(hc.Timeout, 30)
			if hc.Retries > 0 {
				p.FailureThreshold = int32(hc.Retries)
			}
		}
		return p
	}
	routes := r.routesOf(s.Name)
	var ph corev1.ProbeHandler
	switch {
	case s.HealthPath != "" && (len(routes) > 0 || len(ports) > 0):
		port := 0
		if len(routes) > 0 {
			port = routes[0].Port
		} else {
			port = ports[0].port
		}
		// The kubelet's probes say who they are as quai's own do
		// (runtime.HealthUserAgent), so an app can leave them out of its
		// access log.
		ph.HTTPGet = &corev1.HTTPGetAction{Path: s.HealthPath, Port: intstr.FromInt32(int32(port)),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "User-Agent", Value: "quai-health"}}}
	case hc != nil && len(hc.Test) > 1 && strings.EqualFold(hc.Test[0], "CMD"):
		ph.Exec = &corev1.ExecAction{Command: slices.Clone(hc.Test[1:])}
	case hc != nil && len(hc.Test) > 1 && strings.EqualFold(hc.Test[0], "CMD-SHELL"):
		ph.Exec = &corev1.ExecAction{Command: []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}}
	case len(routes) > 0:
		ph.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(routes[0].Port))}
		return timing(&corev1.Probe{ProbeHandler: ph}), nil
	default:
		return nil, nil
	}
	readiness = timing(&corev1.Probe{ProbeHandler: ph})
	liveness = timing(&corev1.Probe{ProbeHandler: *ph.DeepCopy()})
	if hc != nil && hc.StartPeriod > 0 {
		// Compose ignores failures during start_period; liveness must too.
		liveness.InitialDelaySeconds = seconds(hc.StartPeriod, 0)
	}
	return readiness, liveness
}

// seconds rounds d up to whole seconds (at least 1), or def when d is zero.
func seconds(d time.Duration, def int32) int32 {
	if d <= 0 {
		return def
	}
	return int32(max((d+time.Second-1)/time.Second, 1))
}

// ingresses renders one Ingress per route, named after its host and path.
func (r *kubeRenderer) ingresses() {
	taken := map[string]bool{}
	for i, rt := range r.m.Routes {
		s := r.m.Service(rt.Service)
		if s == nil {
			continue
		}
		name := routeName(rt)
		if taken[name] {
			name = dnsLabel(name + "-" + shortHash(rt.Host+rt.Path))
		}
		taken[name] = true

		p := cmp.Or(rt.Path, "/")
		ing := &networkingv1.Ingress{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
			ObjectMeta: r.meta(name, s.Name, serviceHash(s)),
			Spec: networkingv1.IngressSpec{
				IngressClassName: ptr(r.opts.IngressClass),
				Rules: []networkingv1.IngressRule{{
					Host: rt.Host,
					IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
						Paths: []networkingv1.HTTPIngressPath{{
							Path:     p,
							PathType: ptr(networkingv1.PathTypePrefix),
							Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
								Name: dns1035Label(s.Name),
								Port: networkingv1.ServiceBackendPort{Number: int32(rt.Port)},
							}},
						}},
					}},
				}},
			},
		}
		tlsSecret := name + "-tls"
		if len(tlsSecret) > maxLabel {
			tlsSecret = dnsLabel(tlsSecret)
		}
		switch {
		case rt.TLS == stack.TLSOff:
		case rt.Host == "":
			r.warnf(rt.Service, stack.Extension+".routes", verdictChange, "route %s to %s has no host: rendered without TLS", rt.Path, rt.Service)
		case rt.TLS == stack.TLSCustom:
			ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{rt.Host}, SecretName: tlsSecret}}
			r.secrets[tlsSecret] = SecretRef{Name: tlsSecret, Type: "tls", CertFile: r.relToDir(rt.CertFile), KeyFile: r.relToDir(rt.KeyFile)}
		default:
			issuer := r.opts.ClusterIssuer
			if localHost(rt.Host) {
				issuer = r.opts.LocalClusterIssuer
			}
			ing.Annotations = map[string]string{"cert-manager.io/cluster-issuer": issuer}
			ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{rt.Host}, SecretName: tlsSecret}}
		}
		r.routeRules(i, rt, ing)
		r.add("Ingress", ing)
	}
}

// localHost reports whether host is under .localhost, which no public CA
// signs for.
func localHost(host string) bool {
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

func routeName(rt stack.Route) string {
	host := cmp.Or(rt.Host, "default")
	return dnsLabel(host + "-" + strings.Trim(rt.Path, "/"))
}

func ptr[T any](v T) *T { return &v }
