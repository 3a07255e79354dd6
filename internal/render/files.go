package render

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quai-dev/quai/internal/stack"
)

// maxConfigMapBytes stays under the API server's 1 MiB object limit with
// room for metadata.
const maxConfigMapBytes = 1000 * 1000

// bindMount renders a bind mount. Files and directories inside the project
// directory become ConfigMaps (the cluster cannot see the project's disk);
// anything outside it is a host path on the node, which only works where the
// node has that path, so it is rendered as hostPath with a warning.
func (r *kubeRenderer) bindMount(s *stack.Service, mt stack.Mount, pod *corev1.PodSpec, c *corev1.Container,
	volName func(string) string, volByKey map[string]string) error {
	rel, inside := "", false
	if r.m.Dir != "" {
		rel, inside = within(r.m.Dir, mt.Source)
	}
	if !inside {
		name := volName("host-" + mt.Source)
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: mt.Source},
		}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mt.Target, ReadOnly: mt.ReadOnly})
		r.warnf(s.Name, "volumes", verdictChange, "service %s bind-mounts host path %s: rendered as a hostPath volume, which only works where every node has that path", s.Name, mt.Source)
		return nil
	}

	cmName, isDir, ok := r.configMapFor(s, mt.Source, rel)
	if !ok {
		name := volName("files-" + rel)
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mt.Target, ReadOnly: mt.ReadOnly})
		return nil
	}
	if !mt.ReadOnly {
		r.warnf(s.Name, "volumes", verdictChange, "service %s bind-mounts %s read-write: rendered read-only from ConfigMap %s; writes need a volume", s.Name, rel, cmName)
	}
	key := "configmap:" + cmName
	name, seen := volByKey[key]
	if !seen {
		name = volName("files-" + cmName)
		volByKey[key] = name
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cmName}},
		}})
	}
	vm := corev1.VolumeMount{Name: name, MountPath: mt.Target, ReadOnly: true}
	if !isDir {
		// A single file lands at the target path, beside whatever the image
		// has in that directory.
		vm.SubPath = configMapKey(path.Base(rel))
	}
	c.VolumeMounts = append(c.VolumeMounts, vm)
	return nil
}

// configMapFor returns the ConfigMap holding the bind source (created on
// first use) and whether the source is a directory. ok is false when the
// source cannot be carried in a ConfigMap; a warning says why.
func (r *kubeRenderer) configMapFor(s *stack.Service, source, rel string) (name string, isDir, ok bool) {
	if n, seen := r.cmBySource[rel]; seen {
		cm := r.configMaps[n]
		return n, cm.Annotations["quai.dev/source-kind"] == "dir", true
	}
	fi, err := os.Stat(source)
	if err != nil {
		r.warnf(s.Name, "volumes", verdictChange, "service %s bind-mounts %s, which cannot be read (%v): rendered as an empty directory", s.Name, rel, err)
		return "", false, false
	}
	data, binary := map[string]string{}, map[string][]byte{}
	total := 0
	addFile := func(p, key string) bool {
		b, err := os.ReadFile(p)
		if err != nil {
			r.warnf(s.Name, "volumes", verdictChange, "service %s bind-mounts %s, which cannot be read (%v): rendered as an empty directory", s.Name, rel, err)
			return false
		}
		total += len(b)
		if utf8.Valid(b) {
			data[key] = string(b)
		} else {
			binary[key] = b
		}
		return true
	}
	if fi.IsDir() {
		isDir = true
		entries, err := os.ReadDir(source)
		if err != nil {
			r.warnf(s.Name, "volumes", verdictChange, "service %s bind-mounts %s, which cannot be read (%v): rendered as an empty directory", s.Name, rel, err)
			return "", false, false
		}
		var skipped []string
		for _, e := range entries {
			if !e.Type().IsRegular() {
				skipped = append(skipped, e.Name())
				continue
			}
			if !addFile(filepath.Join(source, e.Name()), configMapKey(e.Name())) {
				return "", false, false
			}
		}
		if len(skipped) > 0 {
			slices.Sort(skipped)
			r.warnf(s.Name, "volumes", verdictChange, "service %s bind-mounts directory %s: only its top-level files go into a ConfigMap; left out: %s", s.Name, rel, strings.Join(skipped, ", "))
		}
	} else if !addFile(source, configMapKey(path.Base(rel))) {
		return "", false, false
	}
	if total > maxConfigMapBytes {
		r.warnf(s.Name, "volumes", verdictChange, "service %s bind-mounts %s (%d bytes), too large for a ConfigMap: rendered as an empty directory; bake it into the image", s.Name, rel, total)
		return "", false, false
	}

	name = dnsLabel(rel)
	if _, taken := r.configMaps[name]; taken || name == "" {
		name = dnsLabel(rel + "-" + shortHash(rel))
	}
	kind := "file"
	if isDir {
		kind = "dir"
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: r.ns, Labels: r.labels("", r.instanceHash),
			Annotations: map[string]string{"quai.dev/source": rel, "quai.dev/source-kind": kind},
		},
	}
	if len(data) > 0 {
		cm.Data = data
	}
	if len(binary) > 0 {
		cm.BinaryData = binary
	}
	r.configMaps[name] = cm
	r.cmBySource[rel] = name
	return name, isDir, true
}

// configMapKey makes s a valid ConfigMap (and Secret) data key.
func configMapKey(s string) string {
	var b strings.Builder
	for _, c := range s {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out == "." || out == ".." {
		out = fmt.Sprintf("file-%s", shortHash(s))
	}
	return out
}
