package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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

	ingressController = "traefik.io/ingress-controller"
)

// startIngress creates the IngressClass and starts Traefik with an HTTP
// and an HTTPS entry point on loopback ports, recorded in IngressHTTP and
// IngressHTTPS.
func (c *Cluster) startIngress(ctx context.Context) error {
	class := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: IngressClass},
		Spec:       networkingv1.IngressClassSpec{Controller: ingressController},
	}
	if _, err := c.Client.NetworkingV1().IngressClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ingress class %s: %w", IngressClass, err)
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
