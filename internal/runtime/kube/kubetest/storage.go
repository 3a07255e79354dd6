package kubetest

import (
	"context"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// provisionerName is the provisioner of StorageClass.
const provisionerName = "quai.dev/test-hostpath"

// createStorageClass makes StorageClass the cluster's default, so claims
// rendered without a class (as quai renders them by default) use it.
func (c *Cluster) createStorageClass(ctx context.Context) error {
	retain := corev1.PersistentVolumeReclaimRetain
	immediate := storagev1.VolumeBindingImmediate
	_, err := c.Client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClass,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       provisionerName,
		ReclaimPolicy:     &retain,
		VolumeBindingMode: &immediate,
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// provision binds every pending claim of StorageClass to a new hostPath
// volume under pv/ in the cluster directory: the part of a real
// provisioner (local-path, a cloud disk driver) the tests need. Volumes are
// retained when their claim goes, as data must be; Stop removes them.
func (c *Cluster) provision(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
		claims, err := c.Client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range claims.Items {
			pvc := &claims.Items[i]
			if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" ||
				pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != StorageClass {
				continue
			}
			name := "pvc-" + string(pvc.UID)
			hostPath := corev1.HostPathDirectoryOrCreate
			pv := &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{
					Name:        name,
					Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName},
				},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
					AccessModes:                   pvc.Spec.AccessModes,
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					StorageClassName:              StorageClass,
					VolumeMode:                    pvc.Spec.VolumeMode,
					ClaimRef: &corev1.ObjectReference{
						Kind: "PersistentVolumeClaim", APIVersion: "v1",
						Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
					},
					PersistentVolumeSource: corev1.PersistentVolumeSource{
						HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(c.Dir, "pv", name), Type: &hostPath},
					},
				},
			}
			if _, err := c.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				c.logf("kubetest: provision %s/%s: %v", pvc.Namespace, pvc.Name, err)
			}
		}
	}
}
