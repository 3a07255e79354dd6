package kube

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// AnnotationRestarted is set on a pod template by Restart; changing it makes
// the controller replace the pods, as `kubectl rollout restart` does.
const AnnotationRestarted = "quai.dev/restarted-at"

// restartManager owns the restart annotation. It is not FieldManager, so
// the next apply, which does not declare the annotation, leaves it (and the
// pods) alone.
const restartManager = "quai-restart"

// Restart implements runtime.Restarter: it stamps the pod templates of the
// services' workloads and waits for the rollout like Apply does.
func (r *Runtime) Restart(ctx context.Context, m *stack.Model, services []string, emit func(string)) error {
	man, err := render.Kubernetes(m, r.render)
	if err != nil {
		return err
	}
	ns := man.Namespace
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`,
		AnnotationRestarted, time.Now().UTC().Format(time.RFC3339Nano))
	po := metav1.PatchOptions{FieldManager: restartManager}
	var kept []render.Object
	for _, o := range man.Objects {
		svc := o.Obj.GetLabels()[render.LabelService]
		if len(services) > 0 && !slices.Contains(services, svc) {
			continue
		}
		switch o.Kind {
		case "Deployment":
			_, err = r.client.AppsV1().Deployments(ns).Patch(ctx, o.Name, types.StrategicMergePatchType, patch, po)
		case "StatefulSet":
			_, err = r.client.AppsV1().StatefulSets(ns).Patch(ctx, o.Name, types.StrategicMergePatchType, patch, po)
		default:
			continue
		}
		if err != nil {
			return wrap(err, "restart %s %s", o.Kind, o.Name)
		}
		kept = append(kept, o)
	}
	if len(kept) == 0 {
		return fmt.Errorf("%w: instance %s has no workload for %v", runtime.ErrNotFound, m.Identity, services)
	}
	man.Objects = kept
	return r.waitRollout(ctx, m, man, func(format string, args ...any) {
		if emit != nil {
			emit(fmt.Sprintf(format, args...))
		}
	})
}

var _ runtime.Restarter = (*Runtime)(nil)
