package kube_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/kube"
	"github.com/quai-dev/quai/internal/runtime/kube/kubetest"
	"github.com/quai-dev/quai/internal/stack"
)

const echoImage = "quai.test/echo:1"

// echoModel is an instance of one echo service answering message, routed
// at host over plain HTTP and at "secure."+host over HTTPS with the
// certificate in dir (tls: custom).
func echoModel(project, host, message, dir string) *stack.Model {
	return &stack.Model{
		Identity: stack.Identity{Org: "default", Project: project, Env: "test"},
		Dir:      dir,
		Services: []*stack.Service{{
			Name: "web", Image: echoImage, Replicas: 1, Expose: []int{8080},
			User:        "65532:65532",
			Environment: map[string]string{"MESSAGE": message},
		}},
		Routes: []stack.Route{
			{Host: host, Path: "/", Service: "web", Port: 8080, TLS: stack.TLSOff},
			{Host: "secure." + host, Path: "/", Service: "web", Port: 8080, TLS: stack.TLSCustom, CertFile: "site.pem", KeyFile: "site.key"},
		},
	}
}

// viaIngress sends GET / to the ingress controller's address with host as
// the Host header (and TLS server name when pool is set) and returns the
// status and body.
func viaIngress(addr, host string, pool *x509.CertPool) (int, string, error) {
	scheme, tr := "http", &http.Transport{DisableKeepAlives: true}
	if pool != nil {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	res, err := (&http.Client{Timeout: 3 * time.Second, Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b)), err
}

// awaitRoute polls the controller until host answers want, and fails the
// test with the last answer after a minute: the controller picks an
// Ingress up from its watch, a moment after Apply returns.
func awaitRoute(t *testing.T, c *kubetest.Cluster, addr, host string, pool *x509.CertPool, want string) {
	t.Helper()
	var last string
	for range 300 {
		code, body, err := viaIngress(addr, host, pool)
		if err == nil && code == http.StatusOK && body == want {
			return
		}
		last = fmt.Sprintf("%d %q %v", code, body, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s through the ingress controller: %s, want 200 %q\ntraefik:\n%s", host, last, want, c.LogTail("traefik", 30))
}

// selfSigned writes a certificate for host and its key to dir/site.pem and
// dir/site.key, and returns a pool that trusts it.
func selfSigned(t *testing.T, dir, host string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// TestIngressRoutes applies instances with routes and reaches them through
// the cluster's ingress controller, by Host header over HTTP and by server
// name over HTTPS with the certificate the stack declares (which must be
// the one served, so the TLS Secret quai renders is the Ingress's). An
// instance rendered for another IngressClass (the default, nginx) is not
// served until it is applied again with the controller's class.
func TestIngressRoutes(t *testing.T) {
	c := shared.Require(t)
	c.GoImage(t, echoImage, filepath.Join(repoRoot(t), "internal", "runtime", "kube"), "./testdata/echo", v1.Config{
		Entrypoint: []string{"/app"}, User: "65532:65532", ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	})
	served, err := kube.New(kube.Options{Config: c.Config, RolloutTimeout: 3 * time.Minute, Render: render.KubeOptions{IngressClass: kubetest.IngressClass}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = served.Close() })
	other := newRuntime(t, c) // renders the default class

	apply := func(r *kube.Runtime, m *stack.Model, release int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		if err := r.Apply(ctx, m, runtime.ApplyOptions{Release: release}); err != nil {
			t.Fatalf("apply %s: %v\nkubelet:\n%s", m.Identity.Slug(), err, c.LogTail("kubelet", 30))
		}
	}
	purge := func(id stack.Identity) {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := served.Delete(ctx, id, true); err != nil {
				t.Errorf("purge %s: %v", id.Slug(), err)
			}
		})
	}

	// The unserved instance goes first: once the controller serves the
	// later one, it has seen this one's Ingress too.
	otherDir := t.TempDir()
	otherPool := selfSigned(t, otherDir, "secure.other.ingress.test")
	mOther := echoModel("ingress-other", "other.ingress.test", "hello from other", otherDir)
	purge(mOther.Identity)
	apply(other, mOther, 1)

	dir := t.TempDir()
	pool := selfSigned(t, dir, "secure.app.ingress.test")
	m := echoModel("ingress-app", "app.ingress.test", "hello from app", dir)
	purge(m.Identity)
	apply(served, m, 1)

	awaitRoute(t, c, c.IngressHTTP, "app.ingress.test", nil, "hello from app")
	awaitRoute(t, c, c.IngressHTTPS, "secure.app.ingress.test", pool, "hello from app")

	// The controller publishes its address in the status of what it serves.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ings, err := c.Client.NetworkingV1().Ingresses(render.Namespace(m.Identity)).List(ctx, metav1.ListOptions{})
	if err != nil || len(ings.Items) != 2 {
		t.Fatalf("Ingresses of %s: %v %v, want 2", m.Identity.Slug(), ings, err)
	}
	for _, ing := range ings.Items {
		if *ing.Spec.IngressClassName != kubetest.IngressClass {
			t.Errorf("Ingress %s has class %q", ing.Name, *ing.Spec.IngressClassName)
		}
	}

	// A host nobody routes, and the instance of another class, answer 404
	// from the controller itself.
	if code, body, err := viaIngress(c.IngressHTTP, "nowhere.ingress.test", nil); err != nil || code != http.StatusNotFound {
		t.Errorf("unrouted host: %d %q %v, want 404", code, body, err)
	}
	if code, body, err := viaIngress(c.IngressHTTP, "other.ingress.test", nil); err != nil || code != http.StatusNotFound {
		t.Errorf("instance of class %q: %d %q %v, want 404 from a controller of class %q", render.DefaultIngressClass, code, body, err, kubetest.IngressClass)
	}
	// The other instance itself works: its Service answers from the host.
	svc, err := c.Client.CoreV1().Services(render.Namespace(mOther.Identity)).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var direct string
	for range 50 {
		code, body, err := call(http.MethodGet, "http://"+svc.Spec.ClusterIP+":8080/", "")
		if direct = fmt.Sprintf("%d %q %v", code, body, err); err == nil && code == http.StatusOK && strings.TrimSpace(body) == "hello from other" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(direct, "hello from other") {
		t.Fatalf("the other instance's Service: %s", direct)
	}

	// Applied again with the controller's class, it is served.
	apply(served, mOther, 2)
	awaitRoute(t, c, c.IngressHTTP, "other.ingress.test", nil, "hello from other")
	awaitRoute(t, c, c.IngressHTTPS, "secure.other.ingress.test", otherPool, "hello from other")
	// Each host still reaches its own instance.
	awaitRoute(t, c, c.IngressHTTP, "app.ingress.test", nil, "hello from app")
}
