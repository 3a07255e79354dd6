package kubetest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// traefikCRDs are the CustomResourceDefinitions of the Traefik that
// tools/traefik pins (v3.6.12), copied from its module's
// docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml:
// the kubernetesCRD provider serves the Middlewares quai renders for route
// rules. Update the file with the version in tools/traefik/go.mod.
//
//go:embed testdata/traefik-crds-v3.6.12.yaml
var traefikCRDs []byte

// The cluster's ingress controller is Traefik (built by tools/kube/build.sh
// from tools/traefik), run on the host with the admin kubeconfig as a
// managed cluster's controller would run in a pod: it watches Ingresses of
// IngressClass and proxies to the pods' addresses on the bridge.
const (
	// IngressClass is the IngressClass the controller serves; Ingresses of
	// any other class are ignored, as on a cluster with several controllers.
	IngressClass = "quai-test"
	// IngressAddress is the address the controller publishes in the
	// status of the Ingresses it serves.
	IngressAddress = "127.0.0.1"

	// IngressNginxClass is served by Traefik's ingress-nginx provider,
	// which reads a subset of ingress-nginx's annotations (basic and
	// forward auth among them): the test cluster has no ingress-nginx.
	IngressNginxClass = "quai-test-nginx"

	ingressController      = "traefik.io/ingress-controller"
	ingressNginxController = "quai.dev/test-ingress-nginx"
)

// startIngress creates the IngressClass and starts Traefik with an HTTP
// and an HTTPS entry point on loopback ports, recorded in IngressHTTP and
// IngressHTTPS.
func (c *Cluster) startIngress(ctx context.Context) error {
	for name, ctl := range map[string]string{IngressClass: ingressController, IngressNginxClass: ingressNginxController} {
		class := &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       networkingv1.IngressClassSpec{Controller: ctl},
		}
		if _, err := c.Client.NetworkingV1().IngressClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("ingress class %s: %w", name, err)
		}
	}
	if err := c.installCRDs(ctx, traefikCRDs); err != nil {
		return fmt.Errorf("traefik CRDs: %w", err)
	}
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	// The admin kubeconfig is how Traefik finds a cluster it does not run in.
	if _, err := c.runEnv("traefik", filepath.Join(c.BinDir, "traefik"), []string{"KUBECONFIG=" + c.Kubeconfig},
		"--entryPoints.web.address="+addr(ports[0]),
		"--entryPoints.websecure.address="+addr(ports[1]),
		// TLS on every router of the HTTPS entry point, with the
		// certificates of the Ingresses' spec.tls, as ingress-nginx does.
		"--entryPoints.websecure.http.tls=true",
		"--entryPoints.traefik.address="+addr(ports[2]),
		"--ping=true",
		"--providers.kubernetesingress=true",
		"--providers.kubernetesingress.ingressClass="+IngressClass,
		"--providers.kubernetesingress.ingressEndpoint.ip="+IngressAddress,
		// Middlewares: route rules rendered for Traefik.
		"--providers.kubernetescrd=true",
		// ingress-nginx's annotations, for IngressNginxClass only.
		"--providers.kubernetesingressnginx=true",
		"--providers.kubernetesingressnginx.controllerClass="+ingressNginxController,
		"--providers.kubernetesingressnginx.ingressClass="+IngressNginxClass,
		// Apply a change as soon as it is seen: tests wait for routes.
		"--providers.providersThrottleDuration=0s",
		"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
		"--log.level=INFO",
	); err != nil {
		return err
	}
	c.IngressHTTP, c.IngressHTTPS = addr(ports[0]), addr(ports[1])
	return c.waitHTTP(ctx, "traefik", "http://"+addr(ports[2])+"/ping", nil)
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs creates the CustomResourceDefinitions of a multi-document
// YAML file and waits until the apiserver serves them.
func (c *Cluster) installCRDs(ctx context.Context, docs []byte) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	crds := dyn.Resource(crdResource)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(docs), 4096)
	var names []string
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if _, err := crds.Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		for {
			u, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			established := false
			for _, cd := range conds {
				m, _ := cd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					established = true
				}
			}
			if established {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not established: %w", name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}
