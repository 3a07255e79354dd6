package docker

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/stack"
)

// HandleData is what the runtime keeps in Handle.Data: enough to re-attach
// and to pin the release's image.
type HandleData struct {
	// Container is the container's full id (also Handle.ID).
	Container string `json:"container"`
	// Image is the reference the replica was started from; ImageID the
	// image's content-addressed id (sha256:...), RepoDigests its registry
	// digests when it was pulled (name@sha256:...), to pin the release.
	Image       string   `json:"image"`
	ImageID     string   `json:"image_id"`
	RepoDigests []string `json:"repo_digests,omitempty"`
	// Port is the container port published at Handle.Address.
	Port int `json:"port,omitempty"`
}

// DecodeHandleData reads HandleData from a handle of this runtime.
func DecodeHandleData(h runtime.Handle) (HandleData, error) {
	var d HandleData
	if len(h.Data) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(h.Data, &d); err != nil {
		return d, fmt.Errorf("replica %s: handle data: %w", h.Replica, err)
	}
	return d, nil
}

const secretsTarget = "/run/secrets"

// startAttempts bounds retries when a chosen host port turns out taken.
const startAttempts = 5

// Start implements runtime.Runtime: it makes sure the image, the instance
// network and the named volumes exist, creates the container and starts it.
func (r *Runtime) Start(ctx context.Context, spec runtime.ReplicaSpec) (runtime.Handle, error) {
	if spec.Service == nil || spec.Replica == "" {
		return runtime.Handle{}, errors.New("docker runtime: start: the spec names no service or replica")
	}
	svc := spec.Service
	where := fmt.Sprintf("instance %s, service %s, replica %s", spec.Instance.Name(), svc.Name, spec.Replica)
	img, err := r.ensureImage(ctx, spec)
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
	}
	netName, err := r.ensureNetwork(ctx, spec.Instance)
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
	}
	hostCfg, err := r.hostConfig(ctx, spec)
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
	}
	cfg, err := r.containerConfig(spec, img.ref)
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
	}
	isolated := svc.NetworkMode == "" || svc.NetworkMode == "bridge" || svc.NetworkMode == "default"
	var netCfg *network.NetworkingConfig
	if isolated {
		hostCfg.NetworkMode = container.NetworkMode(netName)
		aliases := []string{svc.Name, spec.Replica}
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {Aliases: aliases},
		}}
	} else {
		hostCfg.NetworkMode = container.NetworkMode(svc.NetworkMode)
	}
	port := svc.ServedPort()
	if port > 0 && isolated {
		p, ok := network.PortFrom(uint16(port), network.TCP)
		if !ok {
			return runtime.Handle{}, fmt.Errorf("%s: invalid port %d", where, port)
		}
		cfg.ExposedPorts = network.PortSet{p: {}}
	}
	if len(spec.Secrets) > 0 && r.local {
		mounts, err := r.writeSecrets(spec)
		if err != nil {
			return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
		}
		hostCfg.Mounts = append(hostCfg.Mounts, mounts...)
	}

	name := containerName(spec.Instance, spec.Replica)
	var lastErr error
	for range startAttempts {
		addr := ""
		if port > 0 && isolated {
			hp, err := r.pickHostPort()
			if err != nil {
				return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
			}
			p, _ := network.PortFrom(uint16(port), network.TCP)
			hostCfg.PortBindings = network.PortMap{p: {{HostIP: netip.MustParseAddr(r.pubIP), HostPort: strconv.Itoa(hp)}}}
			addr = net.JoinHostPort(r.advertiseIP(), strconv.Itoa(hp))
			cfg.Labels[LabelAddress] = addr
		}
		id, err := r.create(ctx, spec, name, cfg, hostCfg, netCfg)
		if err != nil {
			return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
		}
		if len(spec.Secrets) > 0 && !r.local {
			if err := r.copySecrets(ctx, id, spec); err != nil {
				r.discard(id)
				return runtime.Handle{}, fmt.Errorf("%s: %w", where, err)
			}
		}
		if _, err := r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			r.discard(id)
			if portTaken(err) {
				lastErr = err
				continue
			}
			return runtime.Handle{}, r.wrap(where+": start container "+name, err)
		}
		data, err := json.Marshal(HandleData{Container: id, Image: img.ref, ImageID: img.id, RepoDigests: img.digests, Port: port})
		if err != nil {
			return runtime.Handle{}, err
		}
		h := runtime.Handle{
			Version: runtime.HandleVersion, Runtime: Name, Instance: spec.Instance, Service: svc.Name,
			Replica: spec.Replica, Release: spec.Release, Hash: svc.Hash, ID: id, Address: addr, Data: data,
		}
		if svc.HealthPath != "" && addr != "" {
			r.watch(id, addr, svc.HealthPath, healthStart(svc))
		}
		return h, nil
	}
	return runtime.Handle{}, fmt.Errorf("%s: no free host port after %d attempts: %w", where, startAttempts, lastErr)
}

// create creates the container; a leftover container of the same name that
// belongs to the same instance (a start interrupted by a crash) is replaced,
// unless another daemon made it: that one is its replica, never removed.
func (r *Runtime) create(ctx context.Context, spec runtime.ReplicaSpec, name string, cfg *container.Config, hostCfg *container.HostConfig, netCfg *network.NetworkingConfig) (string, error) {
	opts := client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: hostCfg, NetworkingConfig: netCfg}
	res, err := r.cli.ContainerCreate(ctx, opts)
	if cerrdefs.IsConflict(err) {
		old, ierr := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if ierr == nil && old.Container.Config != nil {
			if err := r.refuseForeign("container", name, old.Container.Config.Labels, spec.Instance); err != nil {
				return "", err
			}
		}
		if ierr != nil || old.Container.Config == nil || !sameIdentity(identityOf(old.Container.Config.Labels), spec.Instance) ||
			old.Container.Config.Labels[runtime.LabelReplica] != spec.Replica {
			return "", fmt.Errorf("create container %s: a container of that name exists and is not this replica's; remove it (docker rm %s): %w", name, name, err)
		}
		r.log.Warn("replacing a leftover container", "container", name, "id", old.Container.ID)
		if _, err := r.cli.ContainerRemove(ctx, old.Container.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			return "", r.wrap("remove leftover container "+name, err)
		}
		res, err = r.cli.ContainerCreate(ctx, opts)
	}
	if err != nil {
		return "", r.wrap("create container "+name, err)
	}
	for _, w := range res.Warnings {
		r.log.Warn("engine warning", "container", name, "warning", w)
	}
	return res.ID, nil
}

// discard removes a container that failed to start.
func (r *Runtime) discard(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Warn("remove a container that failed to start", "id", id, "err", err)
	}
}

func portTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// pickHostPort chooses the host port a replica is published on. On a local
// engine the kernel picks a port free right now; on a remote one a random
// port in the range Docker leaves alone. A port taken meanwhile makes the
// start fail and Start tries another.
func (r *Runtime) pickHostPort() (int, error) {
	if r.local {
		l, err := net.Listen("tcp", net.JoinHostPort(r.pubIP, "0"))
		if err == nil {
			p := l.Addr().(*net.TCPAddr).Port
			_ = l.Close()
			return p, nil
		}
	}
	return 20000 + rand.IntN(12000), nil //nolint:gosec // a port number, not a secret
}

// advertiseIP is the host part of Handle.Address.
func (r *Runtime) advertiseIP() string {
	if ip := net.ParseIP(r.pubIP); ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return r.pubIP
}

// Docker's healthcheck defaults, for a check that sets no interval or
// retries.
const (
	dockerDefaultInterval = 30 * time.Second
	dockerDefaultRetries  = 3
)

func healthStart(s *stack.Service) time.Duration {
	if s.Healthcheck != nil && s.Healthcheck.StartPeriod > 0 {
		return s.Healthcheck.StartPeriod
	}
	return defaultHealthStart
}

func (r *Runtime) containerConfig(spec runtime.ReplicaSpec, image string) (*container.Config, error) {
	svc := spec.Service
	env := map[string]string{}
	for k, v := range svc.Environment {
		env[k] = v
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	// x-quai.secret_env: the value is in the container's configuration,
	// as any environment value; the engine passes it only when the stack
	// asks for it by name.
	for k, v := range spec.SecretEnv {
		env[k] = string(v)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	envList := make([]string, 0, len(keys))
	for _, k := range keys {
		envList = append(envList, k+"="+env[k])
	}
	labels := r.replicaLabels(spec)
	if svc.HealthPath != "" {
		labels[LabelHealthPath] = svc.HealthPath
		labels[LabelHealthStart] = healthStart(svc).String()
	}
	cfg := &container.Config{
		Image:      image,
		Hostname:   hostname(spec.Replica),
		Env:        envList,
		Cmd:        svc.Command,
		Entrypoint: svc.Entrypoint,
		WorkingDir: svc.WorkingDir,
		User:       svc.User,
		Labels:     labels,
	}
	if hc := svc.Healthcheck; hc != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout, Retries: hc.Retries, StartPeriod: hc.StartPeriod,
		}
		if hc.StartPeriod == 0 {
			// Probe often while the replica starts, so a deploy (and the
			// services that wait for this one) waits for the replica, not
			// for the next interval: during the time the check allows
			// (interval × retries) Docker probes every startProbeInterval
			// and the replica is healthy at its first pass; failures then
			// do not count, as in any start period.
			cfg.Healthcheck.StartPeriod = cmp.Or(hc.Interval, dockerDefaultInterval) * time.Duration(cmp.Or(hc.Retries, dockerDefaultRetries))
			cfg.Healthcheck.StartInterval = startProbeInterval * 2
		}
		if hc.Disable {
			cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		}
	}
	return cfg, nil
}

// hostname is a DNS-label-safe form of the replica name.
func hostname(replica string) string {
	h := strings.ToLower(replica)
	if len(h) > 63 {
		h = h[:63]
	}
	return strings.Trim(h, "-")
}

func (r *Runtime) hostConfig(ctx context.Context, spec runtime.ReplicaSpec) (*container.HostConfig, error) {
	svc := spec.Service
	rp, err := restartPolicy(svc.Restart)
	if err != nil {
		return nil, err
	}
	hc := &container.HostConfig{
		LogConfig:      r.logConfig(),
		RestartPolicy:  rp,
		Privileged:     svc.Privileged,
		ReadonlyRootfs: svc.ReadOnly,
		CapAdd:         svc.CapAdd,
		CapDrop:        svc.CapDrop,
		Resources: container.Resources{
			NanoCPUs: svc.Resources.MilliCPU * 1_000_000,
			Memory:   svc.Resources.MemoryBytes,
		},
	}
	if svc.Pid != "" {
		hc.PidMode = container.PidMode(svc.Pid)
	}
	if svc.Ipc != "" {
		hc.IpcMode = container.IpcMode(svc.Ipc)
	}
	for _, m := range svc.Mounts {
		switch m.Type {
		case stack.MountVolume:
			if m.Source == "" {
				// An anonymous volume lives and dies with the container.
				hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: m.Target, ReadOnly: m.ReadOnly})
				continue
			}
			name, err := r.ensureVolume(ctx, spec.Instance, m.Source)
			if err != nil {
				return nil, err
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: m.Target, ReadOnly: m.ReadOnly})
		case stack.MountBind:
			src := m.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(spec.ProjectDir, src)
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: m.Target, ReadOnly: m.ReadOnly})
		case stack.MountTmpfs:
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: m.Target})
		default:
			return nil, fmt.Errorf("mount %s: unknown type %q", m.Target, m.Type)
		}
	}
	return hc, nil
}

// DefaultRestart is the policy of services that set no `restart`: as on the
// process runtime (and unlike Docker's own default "no"), a replica that
// fails is restarted and one that exits with status 0 is left alone.
const DefaultRestart = "on-failure"

func restartPolicy(s string) (container.RestartPolicy, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultRestart
	}
	mode, arg, hasArg := strings.Cut(s, ":")
	switch mode {
	case "no", "always", "unless-stopped":
		if hasArg {
			return container.RestartPolicy{}, fmt.Errorf("restart policy %q takes no argument: use %q", s, mode)
		}
		return container.RestartPolicy{Name: container.RestartPolicyMode(mode)}, nil
	case "on-failure":
		p := container.RestartPolicy{Name: container.RestartPolicyOnFailure}
		if hasArg {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 {
				return p, fmt.Errorf("restart policy %q: the retry count must be a non-negative integer, e.g. on-failure:5", s)
			}
			p.MaximumRetryCount = n
		}
		return p, nil
	}
	return container.RestartPolicy{}, fmt.Errorf("unknown restart policy %q: use no, always, on-failure[:N] or unless-stopped", s)
}

// ensureNetwork creates the instance's bridge network unless it exists.
func (r *Runtime) ensureNetwork(ctx context.Context, id stack.Identity) (string, error) {
	name := networkName(id)
	l := r.instanceLock(id.Slug())
	l.Lock()
	defer l.Unlock()
	if n, err := r.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{}); err == nil {
		return name, r.refuseForeign("network", name, n.Network.Labels, id)
	} else if !cerrdefs.IsNotFound(err) {
		return "", r.wrap("inspect network "+name, err)
	}
	err := r.createNetwork(ctx, name, r.instanceLabels(id))
	if err != nil && !cerrdefs.IsConflict(err) {
		return "", r.wrap("create network "+name, err)
	}
	return name, nil
}

// ensureVolume creates the instance's named volume unless it exists.
func (r *Runtime) ensureVolume(ctx context.Context, id stack.Identity, name string) (string, error) {
	full := volumeName(id, name)
	if v, err := r.cli.VolumeInspect(ctx, full, client.VolumeInspectOptions{}); err == nil {
		return full, r.refuseForeign("volume", full, v.Volume.Labels, id)
	} else if !cerrdefs.IsNotFound(err) {
		return "", r.wrap("inspect volume "+full, err)
	}
	labels := r.instanceLabels(id)
	labels[LabelVolume] = name
	if _, err := r.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: full, Labels: labels}); err != nil {
		return "", r.wrap("create volume "+full, err)
	}
	return full, nil
}

// secretsRoot holds the secret files of local replicas, one directory per
// instance and replica.
func (r *Runtime) secretsRoot() string { return filepath.Join(r.opts.RunDir, "secrets") }

// secretsDir is where a local replica's secret files live.
func (r *Runtime) secretsDir(id stack.Identity, replica string) string {
	return filepath.Join(r.secretsRoot(), id.Slug(), replica)
}

// writeSecrets writes one file per secret and returns the read-only bind
// mounts at /run/secrets/<name>. The directories are private to the
// daemon's user. A file is the container user's alone (0400) when the
// service names it by number and the daemon may give files away;
// otherwise it is readable by any user, because the container's user
// (often not root, unknown before the image runs) must read it through
// the bind mount, which ignores the directories above it.
func (r *Runtime) writeSecrets(spec runtime.ReplicaSpec) ([]mount.Mount, error) {
	if err := datadir.MkdirRun(r.opts.RunDir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	dir := r.secretsDir(spec.Instance, spec.Replica)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	uid, gid, owned := numericUser(spec.Service.User)
	names := make([]string, 0, len(spec.Secrets))
	for n := range spec.Secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	var mounts []mount.Mount
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "/\\") || n == "." || n == ".." {
			return nil, fmt.Errorf("secret %q: a secret name must be a plain file name", n)
		}
		p := filepath.Join(dir, n)
		mode := os.FileMode(0o444)
		if owned && os.Geteuid() == 0 {
			mode = 0o400
		}
		if err := fsutil.WriteFile(p, spec.Secrets[n], mode); err != nil {
			return nil, fmt.Errorf("secret %s: %w", n, err)
		}
		if mode == 0o400 {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, fmt.Errorf("secret %s: give it to the service's user %s: %w", n, spec.Service.User, err)
			}
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: p, Target: secretsTarget + "/" + n, ReadOnly: true})
	}
	return mounts, nil
}

// numericUser parses a Compose `user:` of the form UID or UID:GID.
func numericUser(u string) (uid, gid int, ok bool) {
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, err := strconv.Atoi(us)
	if err != nil || uid < 0 {
		return 0, 0, false
	}
	gid = uid
	if hasGroup {
		if gid, err = strconv.Atoi(gs); err != nil || gid < 0 {
			return 0, 0, false
		}
	}
	return uid, gid, true
}

// copySecrets puts the secret files into a created container of a remote
// engine, whose file system the daemon cannot bind-mount from.
func (r *Runtime) copySecrets(ctx context.Context, id string, spec runtime.ReplicaSpec) error {
	if spec.Service.ReadOnly {
		return fmt.Errorf("secrets on a remote engine are copied into the container, which needs a writable root file system: drop read_only for this service or use a local engine: %w", runtime.ErrUnsupported)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(spec.Secrets))
	for n := range spec.Secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "run/secrets/", Mode: 0o755}); err != nil {
		return err
	}
	for _, n := range names {
		if strings.ContainsAny(n, "/\\") {
			return fmt.Errorf("secret %q: a secret name must be a plain file name", n)
		}
		v := spec.Secrets[n]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "run/secrets/" + n, Mode: 0o444, Size: int64(len(v))}); err != nil {
			return err
		}
		if _, err := tw.Write(v); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err := r.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf})
	return r.wrap("copy secrets into the container", err)
}
