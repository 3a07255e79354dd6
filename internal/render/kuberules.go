package render

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/quai-dev/quai/internal/stack"
)

// Ingress controllers whose syntax for route rules the renderer knows
// (KubeOptions.IngressController).
const (
	// ControllerNginx is ingress-nginx: rules become its annotations.
	ControllerNginx = "nginx"
	// ControllerTraefik is Traefik v3: rules become Middleware objects
	// (traefik.io/v1alpha1, its kubernetesCRD provider) the Ingress names.
	ControllerTraefik = "traefik"
	// ControllerOther is any other controller: security rules are
	// refused, the others left out, as quai cannot express them.
	ControllerOther = "other"
)

// Controllers lists the values of KubeOptions.IngressController.
var Controllers = []string{ControllerNginx, ControllerTraefik, ControllerOther}

const (
	// AnnotationTraefikMiddlewares is how a Traefik Ingress router names
	// its middlewares: <namespace>-<name>@kubernetescrd, in order.
	AnnotationTraefikMiddlewares = "traefik.ingress.kubernetes.io/router.middlewares"
	nginxAnnotation              = "nginx.ingress.kubernetes.io/"
	// HtpasswdKey is the data key of the Secret holding a basic_auth
	// route's users as htpasswd lines, the one key both ingress-nginx
	// (auth-secret-type: auth-file) and Traefik read.
	HtpasswdKey = "auth"
	// SecretTypeHtpasswd is the SecretRef.Type of such a Secret.
	SecretTypeHtpasswd = "htpasswd"
	// defaultHSTS is quai's proxy's Strict-Transport-Security default.
	defaultHSTSSeconds = 31536000
)

// controller is the flavour of opts' controller: an explicit choice, else
// traefik for the class named traefik and ingress-nginx otherwise.
func (o KubeOptions) controller() string {
	if o.IngressController != "" {
		return o.IngressController
	}
	if o.IngressClass == ControllerTraefik {
		return ControllerTraefik
	}
	return ControllerNginx
}

// routeRules renders the rules of route i on the Ingress ing for the
// cluster's controller. What the controller cannot express is a Finding:
// a rule that controls who gets in is refused, never dropped, so a route
// declared private never goes out public.
func (r *kubeRenderer) routeRules(i int, rt stack.Route, ing *networkingv1.Ingress) {
	rr := &ruleRenderer{kubeRenderer: r, i: i, rt: rt, ing: ing, where: rt.Host + cmp.Or(rt.Path, "/")}
	switch r.opts.controller() {
	case ControllerTraefik:
		rr.traefik()
	case ControllerNginx:
		rr.nginx()
	default:
		rr.unsupported()
	}
}

type ruleRenderer struct {
	*kubeRenderer
	i     int
	rt    stack.Route
	ing   *networkingv1.Ingress
	where string
}

func (rr *ruleRenderer) rules() *stack.RouteRules {
	if rr.rt.Rules == nil {
		return &stack.RouteRules{}
	}
	return rr.rt.Rules
}

// finding records a Finding about keys of the route.
func (rr *ruleRenderer) finding(verdict string, keys []string, format string, args ...any) {
	setting := stack.Extension + ".routes." + strconv.Itoa(rr.i) + "." + strings.Join(keys, ",")
	rr.warnf(rr.rt.Service, setting, verdict, "route %s: %s", rr.where, fmt.Sprintf(format, args...))
}

// unsupported is the verdict for a controller quai has no syntax for.
func (rr *ruleRenderer) unsupported() {
	keys, security := rr.rt.Rules.Keys()
	if len(keys) == 0 {
		return
	}
	if security {
		rr.finding(verdictRefuse, keys, "%s cannot be enforced: quai renders route rules for ingress-nginx and Traefik only, and the cluster's controller is neither (--ingress-controller other); enforce them in the controller and remove them here, or run the instance on the docker or process runtime", strings.Join(keys, ", "))
		return
	}
	rr.finding(verdictIgnore, keys, "%s not rendered: quai renders route rules for ingress-nginx and Traefik only; configure it in the controller", strings.Join(keys, ", "))
}

func (rr *ruleRenderer) annotate(k, v string) {
	if rr.ing.Annotations == nil {
		rr.ing.Annotations = map[string]string{}
	}
	rr.ing.Annotations[k] = v
}

// redirectHost is the host the route's redirect serves besides its own:
// the Ingress answers it too, and its certificate covers it.
func (rr *ruleRenderer) redirectHost() {
	from := rr.rt.RedirectFrom()
	if from == "" {
		return
	}
	if rr.controllerServesRedirectHost() {
		rules := rr.ing.Spec.Rules
		extra := *rules[0].DeepCopy()
		extra.Host = from
		rr.ing.Spec.Rules = append(rules, extra)
	}
	for j := range rr.ing.Spec.TLS {
		rr.ing.Spec.TLS[j].Hosts = append(rr.ing.Spec.TLS[j].Hosts, from)
	}
}

// controllerServesRedirectHost: ingress-nginx creates the other host's
// server itself (from-to-www-redirect); Traefik needs a rule for it.
func (rr *ruleRenderer) controllerServesRedirectHost() bool {
	return rr.opts.controller() == ControllerTraefik
}

// secureRoute is a route with TLS on a real domain: plain HTTP is
// redirected and HTTPS answers carry HSTS (quai's proxy serves *.localhost
// and addresses over both).
func secureRoute(rt stack.Route) bool {
	if rt.TLS == stack.TLSOff || rt.Host == "" || localHost(rt.Host) {
		return false
	}
	_, err := netip.ParseAddr(rt.Host)
	return err != nil
}

// headerSet looks a header up by name, case-insensitively.
func headerSet(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// sourceRange is who an IP rule lets in: the allow list (everyone when
// empty) without the deny list, as CIDR prefixes. quai checks deny before
// allow, so the difference is exactly what gets in; a controller with a
// single allow list then enforces both.
func sourceRange(allow, deny []string) ([]string, error) {
	var in []netip.Prefix
	if len(allow) == 0 {
		in = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	for _, s := range allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		in = append(in, p)
	}
	for _, s := range deny {
		d, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		var next []netip.Prefix
		for _, p := range in {
			switch {
			case p.Addr().Is4() != d.Addr().Is4():
				next = append(next, p)
			case d.Bits() <= p.Bits() && d.Contains(p.Addr()):
				// denied whole
			case p.Bits() < d.Bits() && p.Contains(d.Addr()):
				next = append(next, without(p, d)...)
			default:
				next = append(next, p)
			}
		}
		in = next
	}
	out := make([]string, 0, len(in))
	slices.SortFunc(in, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	for _, p := range slices.Compact(in) {
		out = append(out, p.String())
	}
	return out, nil
}

// without is p minus d, d inside p: the sibling of each prefix of d longer
// than p, down to d itself.
func without(p, d netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for bits := p.Bits() + 1; bits <= d.Bits(); bits++ {
		up, _ := d.Addr().Prefix(bits)
		b := up.Addr().AsSlice()
		b[(bits-1)/8] ^= 1 << (7 - uint((bits-1)%8))
		a, _ := netip.AddrFromSlice(b)
		out = append(out, netip.PrefixFrom(a, bits))
	}
	return out
}

// authURL is the forward-auth URL as the controller calls it: a service
// of the stack by its cluster DNS name (the controller runs in another
// namespace), on the URL's port or the service's first.
func (rr *ruleRenderer) authURL(raw string) (string, *authTarget) {
	u, err := url.Parse(raw)
	if err != nil {
		return raw, nil
	}
	s := rr.m.Service(u.Hostname())
	if s == nil {
		return raw, nil
	}
	port := 0
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	} else if ports := portsOf(s); len(ports) > 0 {
		port = ports[0].port
	}
	if port == 0 {
		return raw, nil
	}
	u.Host = dns1035Label(s.Name) + "." + rr.ns + ".svc.cluster.local:" + strconv.Itoa(port)
	return u.String(), &authTarget{service: s.Name, port: port}
}

// authTarget is a service of the stack a route's forward_auth calls.
type authTarget struct {
	service string
	port    int
}

// authTargets are the stack services the controller calls for forward
// auth, by service: their NetworkPolicy admits the controller to them.
func (r *kubeRenderer) authTargets() map[string][]int {
	if r.opts.controller() == ControllerOther {
		return nil
	}
	out := map[string][]int{}
	for i, rt := range r.m.Routes {
		if rt.Rules == nil || rt.Rules.ForwardAuth == nil {
			continue
		}
		rr := &ruleRenderer{kubeRenderer: r, i: i, rt: rt}
		if _, t := rr.authURL(rt.Rules.ForwardAuth.URL); t != nil {
			out[t.service] = append(out[t.service], t.port)
		}
	}
	return out
}

// traefik renders the rules as Middlewares named by the Ingress, in the
// order quai's proxy checks them.
func (rr *ruleRenderer) traefik() {
	ru := rr.rules()
	var names []string
	add := func(suffix, kind string, spec map[string]any) {
		names = append(names, rr.middleware(suffix, map[string]any{kind: spec}))
	}
	if secureRoute(rr.rt) {
		add("https", "redirectScheme", map[string]any{"scheme": "https", "permanent": true})
	}
	if from := rr.rt.RedirectFrom(); from != "" {
		add("redirect", "redirectRegex", map[string]any{
			"regex":       "^(https?)://" + regexp.QuoteMeta(from) + "(:[0-9]+)?(/.*)?$",
			"replacement": "${1}://" + rr.rt.Host + "${2}${3}",
			"permanent":   true,
		})
		rr.redirectHost()
	}
	strategy := func() map[string]any {
		st := map[string]any{}
		if len(ru.TrustedProxies) > 0 {
			st["excludedIPs"] = anyList(ru.TrustedProxies)
		}
		return st
	}
	switch {
	case len(ru.TrustedProxies) == 0:
	case len(ru.Allow) > 0 || len(ru.Deny) > 0 || ru.RateLimit != nil:
		rr.finding(verdictChange, []string{"trusted_proxies"}, "trusted_proxies rendered as Traefik's ipStrategy.excludedIPs: list them in the entry point's forwardedHeaders.trustedIPs too, or Traefik drops X-Forwarded-For and the route's allow list lets nobody in")
	default:
		rr.finding(verdictIgnore, []string{"trusted_proxies"}, "trusted_proxies not rendered: Traefik trusts X-Forwarded-For from the peers its entry point's forwardedHeaders.trustedIPs lists, for all routes at once")
	}
	if len(ru.Allow) > 0 || len(ru.Deny) > 0 {
		keys := ipKeys(ru)
		src, err := sourceRange(ru.Allow, ru.Deny)
		switch {
		case err != nil || len(src) == 0:
			rr.finding(verdictRefuse, keys, "deny covers every address allow lets in, which Traefik's ipAllowList cannot say; remove the route or narrow deny")
		default:
			spec := map[string]any{"sourceRange": anyList(src)}
			if st := strategy(); len(st) > 0 {
				spec["ipStrategy"] = st
			}
			add("ip", "ipAllowList", spec)
		}
	}
	if rl := ru.RateLimit; rl != nil {
		spec := map[string]any{"burst": int64(burst(rl))}
		if rl.PerSecond == math.Trunc(rl.PerSecond) {
			spec["average"] = int64(rl.PerSecond)
		} else {
			spec["average"] = int64(1)
			spec["period"] = (time.Duration(float64(time.Second) / rl.PerSecond)).Round(time.Millisecond).String()
		}
		st := strategy()
		if len(st) == 0 {
			// quai counts an IPv6 /64 as one client (Traefik applies
			// this to the peer's address only, not to excludedIPs').
			st["ipv6Subnet"] = int64(64)
		}
		spec["sourceCriterion"] = map[string]any{"ipStrategy": st}
		add("rate", "rateLimit", spec)
	}
	if ru.MaxBody > 0 {
		add("body", "buffering", map[string]any{"maxRequestBodyBytes": ru.MaxBody})
		rr.finding(verdictChange, []string{"max_body"}, "max_body rendered as Traefik's buffering middleware, which reads the whole request before passing it on (and holds responses too: server-sent events and streamed downloads wait for their end)")
	}
	if b := ru.BasicAuth; b != nil {
		ref := rr.htpasswd(b.UsersSecret)
		add("auth", "basicAuth", map[string]any{
			"secret": ref.Name, "realm": cmp.Or(b.Realm, "quai"),
			// As quai's proxy: the app gets the user, never the password.
			"removeHeader": true, "headerField": "X-Forwarded-User",
		})
	}
	if f := ru.ForwardAuth; f != nil {
		addr, _ := rr.authURL(f.URL)
		spec := map[string]any{"address": addr}
		if len(f.CopyHeaders) > 0 {
			spec["authResponseHeaders"] = anyList(f.CopyHeaders)
		}
		add("forward-auth", "forwardAuth", spec)
		if f.Timeout > 0 {
			rr.finding(verdictChange, []string{"forward_auth"}, "forward_auth.timeout not rendered: Traefik's forwardAuth has no timeout of its own")
		}
	}
	if spec := rr.traefikHeaders(ru); len(spec) > 0 {
		add("headers", "headers", spec)
	}
	if len(ru.Compress) > 0 {
		add("compress", "compress", map[string]any{"encodings": anyList(ru.Compress), "minResponseBodyBytes": int64(1024)})
	}
	if len(names) > 0 {
		rr.annotate(AnnotationTraefikMiddlewares, strings.Join(names, ","))
	}
}

func (rr *ruleRenderer) traefikHeaders(ru *stack.RouteRules) map[string]any {
	spec := map[string]any{}
	custom := map[string]any{}
	for k, v := range ru.Headers {
		custom[k] = v
	}
	if len(custom) > 0 {
		spec["customResponseHeaders"] = custom
	}
	if _, set := headerSet(ru.Headers, "Strict-Transport-Security"); !set && secureRoute(rr.rt) {
		// stsSeconds applies to HTTPS answers only, as quai's default.
		spec["stsSeconds"] = int64(defaultHSTSSeconds)
	}
	return spec
}

func ipKeys(ru *stack.RouteRules) []string {
	var keys []string
	if len(ru.Allow) > 0 {
		keys = append(keys, "allow")
	}
	if len(ru.Deny) > 0 {
		keys = append(keys, "deny")
	}
	return keys
}

// burst is quai's proxy's bucket size: as written, else one second's worth.
func burst(rl *stack.RouteRateLimit) int {
	if rl.Burst > 0 {
		return rl.Burst
	}
	return max(1, int(math.Ceil(rl.PerSecond)))
}

func anyList(in []string) []any {
	out := make([]any, len(in))
	for i, s := range in {
		out[i] = s
	}
	return out
}

// middleware adds a Traefik Middleware named after the Ingress and
// returns how the Ingress names it.
func (rr *ruleRenderer) middleware(suffix string, spec map[string]any) string {
	name := rr.ing.Name + "-" + suffix
	if len(name) > maxLabel {
		name = dnsLabel(name)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "traefik.io/v1alpha1",
		"kind":       "Middleware",
		"spec":       spec,
	}}
	u.SetName(name)
	u.SetNamespace(rr.ns)
	u.SetLabels(rr.ing.Labels)
	rr.add("Middleware", u)
	return rr.ns + "-" + name + "@kubernetescrd"
}

// htpasswd records the Secret holding a basic_auth route's users as the
// controller reads them; quai fills it from the sealed secret when it
// deploys (Htpasswd), so no hash is ever in a rendered file.
func (rr *ruleRenderer) htpasswd(usersSecret string) SecretRef {
	ref := SecretRef{Name: dnsLabel(usersSecret + "-htpasswd"), Type: SecretTypeHtpasswd, Key: HtpasswdKey, Stack: usersSecret, Sealed: true}
	rr.secrets[ref.Name] = ref
	return ref
}

// nginx renders the rules as ingress-nginx annotations.
func (rr *ruleRenderer) nginx() {
	ru := rr.rules()
	a := func(k, v string) { rr.annotate(nginxAnnotation+k, v) }
	if rr.rt.RedirectFrom() != "" {
		a("from-to-www-redirect", "true")
		rr.redirectHost()
	}
	if len(ru.TrustedProxies) > 0 {
		rr.finding(verdictIgnore, []string{"trusted_proxies"}, "trusted_proxies not rendered: ingress-nginx takes the client address from X-Forwarded-For for all routes at once, when its ConfigMap sets use-forwarded-headers: \"true\" and proxy-real-ip-cidr")
	}
	switch {
	case len(ru.Allow) > 0:
		src, err := sourceRange(ru.Allow, ru.Deny)
		if err != nil || len(src) == 0 {
			rr.finding(verdictRefuse, ipKeys(ru), "deny covers every address allow lets in, which ingress-nginx's whitelist-source-range cannot say; remove the route or narrow deny")
			break
		}
		a("whitelist-source-range", strings.Join(src, ","))
	case len(ru.Deny) > 0:
		a("denylist-source-range", strings.Join(ru.Deny, ","))
	}
	if rl := ru.RateLimit; rl != nil {
		if rl.PerSecond == math.Trunc(rl.PerSecond) {
			a("limit-rps", strconv.Itoa(int(rl.PerSecond)))
			a("limit-burst-multiplier", strconv.Itoa(max(1, burst(rl)/int(rl.PerSecond))))
		} else {
			// Rounded down: a limit is never loosened.
			rpm := max(1, int(rl.PerSecond*60))
			a("limit-rpm", strconv.Itoa(rpm))
			a("limit-burst-multiplier", strconv.Itoa(max(1, burst(rl)/rpm)))
		}
		rr.finding(verdictChange, []string{"rate_limit"}, "rate_limit rendered as ingress-nginx's limit-rps (or limit-rpm), whose burst is a multiple of the rate; past it ingress-nginx answers 503 unless its ConfigMap sets limit-req-status-code: \"429\"")
	}
	if ru.MaxBody > 0 {
		a("proxy-body-size", strconv.FormatInt(ru.MaxBody, 10))
	}
	if b := ru.BasicAuth; b != nil {
		ref := rr.htpasswd(b.UsersSecret)
		a("auth-type", "basic")
		a("auth-secret", ref.Name)
		a("auth-secret-type", "auth-file")
		a("auth-realm", cmp.Or(b.Realm, "quai"))
		rr.finding(verdictChange, []string{"basic_auth"}, "basic_auth rendered for ingress-nginx, which passes the Authorization header on to the app and sets no X-Forwarded-User")
	}
	if f := ru.ForwardAuth; f != nil {
		addr, _ := rr.authURL(f.URL)
		a("auth-url", addr)
		if len(f.CopyHeaders) > 0 {
			a("auth-response-headers", strings.Join(f.CopyHeaders, ","))
		}
		rr.finding(verdictChange, []string{"forward_auth"}, "forward_auth rendered as ingress-nginx's auth-url: the authenticator's 401 and 403 go to the client, any other refusal (a redirect to a login page) becomes 500; set auth-signin for a login redirect, and forward_auth.timeout is the controller's proxy timeouts")
	}
	var ignored []string
	if len(ru.Headers) > 0 {
		ignored = append(ignored, "headers")
	}
	if len(ru.Compress) > 0 {
		ignored = append(ignored, "compress")
	}
	if len(ignored) > 0 {
		rr.finding(verdictIgnore, ignored, "%s not rendered: ingress-nginx sets response headers (add-headers, hsts) and gzip (use-gzip) in its ConfigMap, for all routes at once", strings.Join(ignored, ", "))
	}
}

// ErrHtpasswd: a basic_auth users secret holds a line the ingress
// controller cannot check.
var ErrHtpasswd = errors.New("users not checkable by the ingress controller")

// Htpasswd turns the value of a basic_auth users secret into the htpasswd
// lines ingress controllers read: blank lines and # comments dropped, and
// only bcrypt hashes, the one scheme quai accepts that both ingress-nginx
// and Traefik check (argon2id is quai's proxy's only).
func Htpasswd(users []byte) ([]byte, error) {
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(users)))
	n, lines := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%w: line %d is not name:hash", ErrHtpasswd, n)
		case strings.HasPrefix(hash, "$argon2id$"):
			return nil, fmt.Errorf("%w: line %d (user %s) is an argon2id hash, which only quai's own proxy checks; on Kubernetes hash with bcrypt (htpasswd -nbB %s PASSWORD) and set the secret again", ErrHtpasswd, n, name, name)
		case !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$"):
			return nil, fmt.Errorf("%w: line %d (user %s) is not a bcrypt hash", ErrHtpasswd, n, name)
		}
		out.WriteString(name + ":" + hash + "\n")
		lines++
	}
	if lines == 0 {
		return nil, fmt.Errorf("%w: no users", ErrHtpasswd)
	}
	return []byte(out.String()), nil
}
