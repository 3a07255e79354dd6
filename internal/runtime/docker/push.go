package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/runtime"
)

// ErrPush is a push the registry or the engine refused.
var ErrPush = errors.New("push refused")

// pushDigestRe finds the digest in the engine's last push status line
// ("<tag>: digest: sha256:... size: N"), for engines that send no aux
// message.
var pushDigestRe = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// PushImage implements runtime.ImagePusher: it tags the image id as each
// ref and pushes it through the engine with auth in the X-Registry-Auth
// header, and returns the manifest digest the registry stored (the same
// for every tag of one image).
func (r *Runtime) PushImage(ctx context.Context, id string, refs []string, auth registry.Auth, progress func(msg string)) (string, error) {
	if len(refs) == 0 {
		return "", errors.New("docker runtime: push: no reference to push")
	}
	report := func(format string, args ...any) {
		if progress != nil {
			progress(fmt.Sprintf(format, args...))
		}
	}
	digest := ""
	for _, ref := range refs {
		if _, err := r.cli.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: ref}); err != nil {
			return "", r.wrap("tag image "+shortImageID(id)+" as "+ref, err)
		}
		d, err := r.push(ctx, ref, auth, report)
		if err != nil {
			return "", err
		}
		if digest != "" && d != digest {
			return "", fmt.Errorf("push %s: the registry %s stored digest %s, but %s for another tag of the same image", ref, auth.Host, d, digest)
		}
		digest = d
	}
	return digest, nil
}

// push pushes one tag and reads the engine's stream to its end: every
// layer's status changes and its size, an error message, the digest.
func (r *Runtime) push(ctx context.Context, ref string, auth registry.Auth, report func(string, ...any)) (string, error) {
	who := "anonymously"
	if !auth.Anonymous() {
		who = "as " + auth.Username
	}
	report("pushing %s %s", ref, who)
	resp, err := r.cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth.Header()})
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return "", r.unavailable(err)
		}
		return "", fmt.Errorf("push %s to the registry %s %s: %w: %w", ref, auth.Host, who, err, ErrPush)
	}
	defer func() { _ = resp.Close() }()
	last := map[string]string{}
	sizes := map[string]int64{}
	digest := ""
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return "", fmt.Errorf("push %s: read the engine's output: %w", ref, err)
		}
		if msg.Error != nil {
			return "", fmt.Errorf("push %s to the registry %s %s: %s: %w", ref, auth.Host, who, msg.Error.Message, ErrPush)
		}
		if msg.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*msg.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
		if msg.Progress != nil && msg.Progress.Total > 0 {
			sizes[msg.ID] = msg.Progress.Total
		}
		if m := pushDigestRe.FindStringSubmatch(msg.Status); m != nil && digest == "" {
			digest = m[1]
		}
		// Byte counts change many times a second; report each layer's
		// status changes only, with its size once known.
		if msg.ID == "" || msg.Status == "" || last[msg.ID] == msg.Status {
			continue
		}
		last[msg.ID] = msg.Status
		if n := sizes[msg.ID]; n > 0 && (msg.Status == "Pushing" || msg.Status == "Pushed") {
			report("%s: %s (%s)", msg.ID, msg.Status, units.HumanSize(float64(n)))
		} else {
			report("%s: %s", msg.ID, msg.Status)
		}
	}
	if !registryDigest(digest) {
		return "", fmt.Errorf("push %s to the registry %s: the engine reported no digest: %w", ref, auth.Host, ErrPush)
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	report("pushed %s: %s (%d layers, %s uploaded)", ref, digest, len(last), units.HumanSize(float64(total)))
	return digest, nil
}

// RepoDigest implements runtime.ImagePusher: the image's repo digest for
// ref's own repository, as the engine recorded it when it pulled the image.
func (r *Runtime) RepoDigest(ctx context.Context, ref string) (string, error) {
	ins, err := r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", r.wrap("inspect image "+ref, err)
	}
	repo := repositoryOf(ref)
	for _, rd := range ins.RepoDigests {
		if name, _, ok := registry.SplitPinned(rd); ok && repositoryOf(name) == repo {
			return rd, nil
		}
	}
	return "", nil
}

// repositoryOf is a reference's repository in the engine's normalized
// form (docker.io/library/postgres for postgres:15), without tag or digest.
func repositoryOf(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	if registry.HostOf(name) == "docker.io" {
		name = strings.TrimPrefix(name, "docker.io/")
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
		name = "docker.io/" + name
	}
	return name
}

func registryDigest(d string) bool {
	return runtime.IsImageID(d) // a manifest digest has an id's form
}

func shortImageID(id string) string {
	s := strings.TrimPrefix(id, "sha256:")
	return s[:min(12, len(s))]
}

var _ runtime.ImagePusher = (*Runtime)(nil)
