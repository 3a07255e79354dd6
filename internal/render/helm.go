package render

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v2"

	"github.com/quai-dev/quai/internal/stack"
)

// How a stack renders as a Helm chart: the templates are the Kubernetes
// objects of Kubernetes(), one file per object (templates/<kind>-<name>.yaml),
// in which what varies between environments and organizations reads
// .Values; values.yaml holds exactly the values Kubernetes() rendered for
// the instance. So `helm template` with the default values prints the same
// objects, field for field, as `quai render --target kubernetes` for that
// org and env, and a values file per environment is all another team needs
// to change.
//
// In values.yaml: the namespace; the org, env and instance labels; the
// cluster choices (KubeOptions); per Compose service its image, replicas,
// resources (the size class, requests equal to limits) and the environment
// values it declares in clear; per Ingress its host. Secrets are never
// values: the templates reference the Secrets that Manifests.Secrets lists,
// as the Kubernetes target does, and NOTES.txt says how to create them.

// Chart defaults and Helm's fixed names.
const (
	// DefaultChartVersion is the chart version when neither the options
	// nor the app version give a SemVer one.
	DefaultChartVersion = "0.1.0"
	// ChartAPIVersion is Chart.yaml's apiVersion (Helm 3 and 4 charts).
	ChartAPIVersion = "v2"
	// valueToken is the placeholder a templated value holds between the
	// YAML encoding of an object and its template text.
	valueToken = "QUAIHELMVALUE"
)

// releaseRe is a release version (MAJOR.MINOR.PATCH, optionally with a
// leading v): an image tag such as 29.0.8-apache is SemVer too, but a
// pre-release one, which is not what its chart is.
var releaseRe = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$`)

// semverRe is a SemVer 2 version, optionally with a leading v.
var semverRe = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// HelmOptions are the choices of a chart rendering.
type HelmOptions struct {
	// Kube are the cluster choices; they become the chart's cluster values.
	Kube KubeOptions
	// ChartVersion is Chart.yaml's version, a SemVer 2 version; empty means
	// the app version when it is a release version (MAJOR.MINOR.PATCH,
	// without a leading v), else DefaultChartVersion.
	ChartVersion string
	// AppVersion is Chart.yaml's appVersion; empty means the tag (or the
	// digest) of the instance's main image (see appVersionOf).
	AppVersion string
}

// ChartFile is one file of a chart.
type ChartFile struct {
	// Path is slash-separated, relative to the chart directory.
	Path string
	Data []byte
}

// Chart is the Helm chart of one instance.
type Chart struct {
	Name        string
	Version     string
	AppVersion  string
	Description string
	// Manifests is the Kubernetes rendering the templates reproduce with
	// the default values (its Secrets and Warnings apply to the chart).
	Manifests *Manifests
	// Files are Chart.yaml, values.yaml and templates/*, sorted by path.
	Files []ChartFile

	annotations map[string]string
}

// chartMetadata is Chart.yaml, and, as JSON, the config of the chart's OCI
// artifact (Helm's chart.Metadata field names).
type chartMetadata struct {
	APIVersion  string            `json:"apiVersion" yaml:"apiVersion"`
	Name        string            `json:"name" yaml:"name"`
	Description string            `json:"description,omitempty" yaml:"description,omitempty"`
	Type        string            `json:"type" yaml:"type"`
	Version     string            `json:"version" yaml:"version"`
	AppVersion  string            `json:"appVersion,omitempty" yaml:"appVersion,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty" yaml:"annotations,omitempty"`
}

func (c *Chart) metadata() chartMetadata {
	return chartMetadata{
		APIVersion: ChartAPIVersion, Name: c.Name, Description: c.Description, Type: "application",
		Version: c.Version, AppVersion: c.AppVersion, Annotations: c.annotations,
	}
}

// ConfigJSON is Chart.yaml as JSON: the config blob of the chart's OCI
// artifact (media type application/vnd.cncf.helm.config.v1+json).
func (c *Chart) ConfigJSON() ([]byte, error) {
	b, err := json.Marshal(c.metadata())
	if err != nil {
		return nil, fmt.Errorf("encode chart metadata: %w", err)
	}
	return b, nil
}

// Helm renders the instance described by m as a Helm chart whose default
// values reproduce Kubernetes(m, opts.Kube).
func Helm(m *stack.Model, opts HelmOptions) (*Chart, error) {
	ms, err := Kubernetes(m, opts.Kube)
	if err != nil {
		return nil, err
	}
	kopts, err := opts.Kube.withDefaults()
	if err != nil {
		return nil, err
	}
	id := m.Identity
	c := &Chart{
		Name:        dnsLabel(id.Project),
		AppVersion:  cmp.Or(opts.AppVersion, appVersionOf(m)),
		Description: fmt.Sprintf("The %s instance of %s (org %s), rendered by quai", id.Env, id.Project, id.OrgOrDefault()),
		Manifests:   ms,
		annotations: map[string]string{
			"quai.dev/org": id.OrgOrDefault(), "quai.dev/project": id.Project,
			"quai.dev/env": id.Env, "quai.dev/instance": id.Slug(),
		},
	}
	switch {
	case opts.ChartVersion != "":
		if !semverRe.MatchString(opts.ChartVersion) {
			return nil, fmt.Errorf("%w: chart version %q is not a SemVer 2 version such as 1.4.2", ErrInvalidOption, opts.ChartVersion)
		}
		c.Version = strings.TrimPrefix(opts.ChartVersion, "v")
	case releaseRe.MatchString(c.AppVersion):
		c.Version = strings.TrimPrefix(c.AppVersion, "v")
	default:
		c.Version = DefaultChartVersion
	}

	t := &templater{values: map[string]any{}, tokens: map[string]string{}, kopts: kopts, services: map[string]string{}}
	for _, s := range m.Services {
		t.services[dns1035Label(s.Name)] = s.Name
	}
	for _, o := range ms.Objects {
		b, err := t.template(o)
		if err != nil {
			return nil, err
		}
		c.Files = append(c.Files, ChartFile{Path: "templates/" + o.FileName(), Data: b})
	}
	values, err := t.valuesYAML(c)
	if err != nil {
		return nil, err
	}
	chartYAML, err := yaml.Marshal(c.metadata())
	if err != nil {
		return nil, fmt.Errorf("encode Chart.yaml: %w", err)
	}
	c.Files = append(c.Files,
		ChartFile{Path: "Chart.yaml", Data: chartYAML},
		ChartFile{Path: "values.yaml", Data: values},
		ChartFile{Path: "templates/NOTES.txt", Data: escapeTemplate(notes(ms))},
	)
	slices.SortFunc(c.Files, func(a, b ChartFile) int { return strings.Compare(a.Path, b.Path) })
	return c, nil
}

// appVersionOf is the version of the instance's main image: the image
// named after the project, else the first one built from source, else the
// first routed service's, else the first service's.
func appVersionOf(m *stack.Model) string {
	routed := map[string]bool{}
	for _, rt := range m.Routes {
		routed[rt.Service] = true
	}
	best, bestRank := "", 0
	for _, s := range m.Services {
		if s.Image == "" {
			continue
		}
		rank := 1
		switch {
		case imageName(s.Image) == m.Identity.Project:
			rank = 4
		case s.Build != nil:
			rank = 3
		case routed[s.Name]:
			rank = 2
		}
		if rank > bestRank {
			best, bestRank = s.Image, rank
		}
	}
	if best == "" {
		return ""
	}
	return imageVersion(best)
}

// imageName is the last path element of an image's repository.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	last := ref[strings.LastIndex(ref, "/")+1:]
	name, _, _ := strings.Cut(last, ":")
	return name
}

// imageVersion is the digest of a pinned reference, else its tag ("latest"
// when it has none).
func imageVersion(ref string) string {
	if _, digest, ok := strings.Cut(ref, "@"); ok {
		return digest
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	return "latest"
}

// notes is templates/NOTES.txt, which `helm install` prints: the Secrets
// the chart references and what it could not carry over.
func notes(ms *Manifests) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Installed into namespace %s.\n", ms.Namespace)
	if len(ms.Secrets) > 0 {
		fmt.Fprintf(&b, "\nThe chart references %d Secret(s) that must exist in the namespace before the pods can start; create them with:\n", len(ms.Secrets))
		for _, s := range ms.Secrets {
			fmt.Fprintf(&b, "  %s\n", s.Command(ms.Namespace))
		}
	}
	if len(ms.Warnings) > 0 {
		b.WriteString("\nRendered as closely as Kubernetes allows:\n")
		for _, w := range ms.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	return b.Bytes()
}

// escapeTemplate makes literal text survive Helm's template engine: a "{{"
// in a project file or an environment value is printed, not run.
func escapeTemplate(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte("{{"), []byte("{{`{{`}}"))
}

// templater turns objects into templates and collects the values they read.
type templater struct {
	values map[string]any
	// tokens maps each placeholder to the template action replacing it.
	tokens map[string]string
	n      int
	kopts  KubeOptions
	// services maps an object name to its Compose service's name.
	services map[string]string
}

// template is o as template text.
func (t *templater) template(o Object) ([]byte, error) {
	doc, err := o.tree()
	if err != nil {
		return nil, err
	}
	plain, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	if bytes.Contains(plain, []byte(valueToken)) {
		return nil, fmt.Errorf("%w: %s %s contains the text %s, which the Helm renderer uses as a placeholder; change it", ErrInvalidModel, o.Kind, o.Name, valueToken)
	}
	first := t.n
	t.parameterize(o, doc)
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", o.Kind, o.Name, err)
	}
	out = escapeTemplate(out)
	// Later tokens first: token 1 is a prefix of token 10 otherwise.
	for i := t.n - 1; i >= first; i-- {
		tok := tokenName(i)
		out = bytes.ReplaceAll(out, []byte(tok), []byte(t.tokens[tok]))
	}
	return out, nil
}

func tokenName(i int) string { return valueToken + strconv.Itoa(i) + "X" }

// param replaces node[key] with a read of .Values at path, recording its
// value there. A value the path already holds differently stays literal.
func (t *templater) param(node map[any]any, key string, path ...string) {
	if node == nil {
		return
	}
	if v, ok := node[key]; ok && v != nil && t.setValue(path, v) {
		node[key] = t.token(path)
	}
}

// paramNamespace replaces node[key], a string holding the namespace (a
// Traefik middleware reference, a service's DNS name), with a template
// that writes .Values.namespace at each place it held it.
func (t *templater) paramNamespace(node map[any]any, key string) {
	ns, _ := t.values["namespace"].(string)
	v, _ := node[key].(string)
	if ns == "" || !strings.Contains(v, ns) {
		return
	}
	parts := strings.Split(v, ns)
	args := strings.Repeat(` (index .Values "namespace")`, len(parts)-1)
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "%", "%%")
	}
	tok := tokenName(t.n)
	t.n++
	t.tokens[tok] = "{{ toJson (printf " + strconv.Quote(strings.Join(parts, "%s")) + args + ") }}"
	node[key] = tok
}

// paramAt is param for an element of a list.
func (t *templater) paramAt(list []any, i int, path ...string) {
	if i < len(list) && list[i] != nil && t.setValue(path, list[i]) {
		list[i] = t.token(path)
	}
}

func (t *templater) token(path []string) string {
	tok := tokenName(t.n)
	t.n++
	quoted := make([]string, len(path))
	for i, p := range path {
		quoted[i] = strconv.Quote(p)
	}
	// toJson writes any value as YAML reads it back: a quoted string, a
	// number, a flow mapping.
	t.tokens[tok] = "{{ toJson (index .Values " + strings.Join(quoted, " ") + ") }}"
	return tok
}

func (t *templater) setValue(path []string, v any) bool {
	m := t.values
	for _, p := range path[:len(path)-1] {
		child, ok := m[p]
		if !ok {
			child = map[string]any{}
			m[p] = child
		}
		cm, ok := child.(map[string]any)
		if !ok {
			return false
		}
		m = cm
	}
	last := path[len(path)-1]
	if old, ok := m[last]; ok {
		return reflect.DeepEqual(old, v)
	}
	m[last] = v
	return true
}

// child walks maps by key; nil when a step is missing.
func child(node map[any]any, keys ...string) map[any]any {
	for _, k := range keys {
		next, _ := node[k].(map[any]any)
		if next == nil {
			return nil
		}
		node = next
	}
	return node
}

func list(node map[any]any, key string) []any {
	if node == nil {
		return nil
	}
	l, _ := node[key].([]any)
	return l
}

// labelValues are the label keys whose values come from values.yaml.
var labelValues = map[string][]string{
	LabelOrg:                      {"org"},
	LabelEnv:                      {"env"},
	LabelInstance:                 {"instance"},
	LabelQInstance:                {"instance"},
	"kubernetes.io/metadata.name": {"cluster", "ingressNamespace"},
}

// parameterize replaces what varies between environments and orgs in doc.
func (t *templater) parameterize(o Object, doc map[any]any) {
	meta := child(doc, "metadata")
	if o.Kind == "Namespace" {
		t.param(meta, "name", "namespace")
	}
	t.param(meta, "namespace", "namespace")
	t.labels(doc)

	spec := child(doc, "spec")
	claim := func(spec map[any]any) {
		t.param(spec, "storageClassName", "cluster", "storageClass")
		t.param(child(spec, "resources", "requests"), "storage", "cluster", "volumeSize")
	}
	switch o.Kind {
	case "PersistentVolumeClaim":
		claim(spec)
	case "Deployment", "StatefulSet":
		svc, ok := t.services[o.Name]
		if !ok {
			return
		}
		base := []string{"services", svc}
		at := func(p ...string) []string { return append(slices.Clone(base), p...) }
		t.param(spec, "replicas", at("replicas")...)
		for _, ct := range list(spec, "volumeClaimTemplates") {
			if ctm, ok := ct.(map[any]any); ok {
				claim(child(ctm, "spec"))
			}
		}
		containers := list(child(spec, "template", "spec"), "containers")
		if len(containers) != 1 {
			return
		}
		c, _ := containers[0].(map[any]any)
		t.param(c, "image", at("image")...)
		t.param(c, "resources", at("resources")...)
		for _, e := range list(c, "env") {
			em, _ := e.(map[any]any)
			name, _ := em["name"].(string)
			if name != "" {
				t.param(em, "value", at("env", name)...)
			}
		}
	case "Middleware":
		// A forward-auth service of the stack is called by its cluster
		// DNS name, which holds the namespace.
		t.paramNamespace(child(spec, "forwardAuth"), "address")
	case "Ingress":
		t.paramNamespace(child(meta, "annotations"), AnnotationTraefikMiddlewares)
		t.paramNamespace(child(meta, "annotations"), nginxAnnotation+"auth-url")
		t.param(spec, "ingressClassName", "cluster", "ingressClass")
		route := []string{"routes", o.Name, "host"}
		for _, r := range list(spec, "rules") {
			rm, _ := r.(map[any]any)
			host, _ := rm["host"].(string)
			t.param(rm, "host", route...)
			issuer := []string{"cluster", "clusterIssuer"}
			if localHost(host) {
				issuer = []string{"cluster", "localClusterIssuer"}
			}
			t.param(child(meta, "annotations"), "cert-manager.io/cluster-issuer", issuer...)
		}
		for _, tl := range list(spec, "tls") {
			hosts := list(tl.(map[any]any), "hosts")
			for i := range hosts {
				t.paramAt(hosts, i, route...)
			}
		}
	}
}

// labels parameterizes every labels and matchLabels map below node.
func (t *templater) labels(node any) {
	switch n := node.(type) {
	case map[any]any:
		for k, v := range n {
			if k == "labels" || k == "matchLabels" {
				if lm, ok := v.(map[any]any); ok {
					for _, key := range slices.Sorted(func(yield func(string) bool) {
						for lk := range lm {
							if s, ok := lk.(string); ok && !yield(s) {
								return
							}
						}
					}) {
						if path, ok := labelValues[key]; ok {
							t.param(lm, key, path...)
						}
					}
					continue
				}
			}
			t.labels(v)
		}
	case []any:
		for _, v := range n {
			t.labels(v)
		}
	}
}

// valuesSections are values.yaml's top-level keys, in order, with what each
// says about itself.
var valuesSections = []struct{ key, doc string }{
	{"namespace", "The namespace every object goes to; the chart creates it."},
	{"org", "The instance's organization, environment and name, as the quai.dev/org,\n# quai.dev/env and instance labels carry them."},
	{"env", ""},
	{"instance", ""},
	{"cluster", "Choices of the target cluster: the ingress controller's class and namespace,\n# the cert-manager ClusterIssuers of tls: auto routes, the volume claims'\n# storage class and size."},
	{"services", "Per Compose service: its image, replicas, resources (its size class:\n# requests equal limits) and the environment values it sets in clear.\n# Secrets are not values: the pods read Secrets that must exist in the\n# namespace (NOTES.txt says which and how to create them)."},
	{"routes", "Per Ingress (one per route): the host it answers."},
}

// valuesYAML is values.yaml: the values the templates read, as rendered.
func (t *templater) valuesYAML(c *Chart) ([]byte, error) {
	// Every cluster choice is a value, whether or not an object reads it,
	// so a values file can set what this rendering did not need.
	cluster, _ := t.values["cluster"].(map[string]any)
	if cluster == nil {
		cluster = map[string]any{}
		t.values["cluster"] = cluster
	}
	for k, v := range map[string]string{
		"ingressClass": t.kopts.IngressClass, "ingressNamespace": t.kopts.IngressNamespace,
		"clusterIssuer": t.kopts.ClusterIssuer, "localClusterIssuer": t.kopts.LocalClusterIssuer,
		"volumeSize": t.kopts.VolumeSize,
	} {
		if _, ok := cluster[k]; !ok {
			cluster[k] = v
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Default values of the %s chart: with them, `helm template` prints the\n", c.Name)
	fmt.Fprintf(&b, "# objects `quai render --target kubernetes` renders for %s.\n", c.annotations["quai.dev/instance"])
	b.WriteString("# Another environment or organization is another values file.\n")
	for _, sec := range valuesSections {
		v, ok := t.values[sec.key]
		if !ok {
			continue
		}
		if sec.doc != "" {
			fmt.Fprintf(&b, "\n# %s\n", sec.doc)
		}
		out, err := yaml.Marshal(map[string]any{sec.key: v})
		if err != nil {
			return nil, fmt.Errorf("encode values.yaml: %w", err)
		}
		b.Write(out)
	}
	return b.Bytes(), nil
}
