package kubetest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var shared Shared

func TestMain(m *testing.M) { os.Exit(Main(m, &shared)) }

// TestClusterRunsServices runs a Deployment behind a Service and checks the
// paths the runtime's tests rely on: the Service answers from the host
// through kube-proxy, and a pod reaches it by its short DNS name.
func TestClusterRunsServices(t *testing.T) {
	c := shared.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.GoImage(t, "quai.test/kubetest-app:1", filepath.Join(sourceDir(), "..", "..", "runtimetest"), "./testapp", v1.Config{})

	ns := "kubetest-smoke"
	cs := c.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	labels := map[string]string{"app": "web"}
	one := int32(1)
	container := corev1.Container{
		Name: "web", Image: "quai.test/kubetest-app:1", ImagePullPolicy: corev1.PullNever,
		Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
			PeriodSeconds: 1,
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{container}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	url := fmt.Sprintf("http://%s:8080/", svc.Spec.ClusterIP)
	// No keep-alive: a connection opened before kube-proxy programmed the
	// Service went elsewhere and must not be reused.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last string
	for {
		res, err := hc.Get(url)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK && strings.HasPrefix(string(b), "ok pid=") {
				break
			}
			last = fmt.Sprintf("%d %s", res.StatusCode, b)
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			t.Fatalf("service %s never answered: %s\nkubelet:\n%s", url, last, c.LogTail("kubelet", 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("service answered from the host %s after the deployment was created", time.Since(t0).Round(time.Millisecond))

	never := corev1.RestartPolicyNever
	dialer := container
	dialer.Name, dialer.Args, dialer.ReadinessProbe, dialer.Ports = "dial", []string{"dial", "web:8080"}, nil, nil
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "dial"},
		Spec:       corev1.PodSpec{RestartPolicy: never, Containers: []corev1.Container{dialer}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "dial", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase == corev1.PodSucceeded {
			break
		}
		if p.Status.Phase == corev1.PodFailed {
			logs, _ := cs.CoreV1().Pods(ns).GetLogs("dial", &corev1.PodLogOptions{}).DoRaw(ctx)
			t.Fatalf("a pod could not reach the service by its DNS name: %s", logs)
		}
		if ctx.Err() != nil {
			t.Fatalf("dial pod still %s", p.Status.Phase)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
