package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/datadir"
	"github.com/quai-dev/quai/internal/registry"
	"github.com/quai-dev/quai/internal/runtime"
	"github.com/quai-dev/quai/internal/runtime/docker"
	"github.com/quai-dev/quai/internal/stack"
)

// DockerOff as Config.DockerHost leaves the docker runtime out.
const DockerOff = "off"

// dockerRetry is how long a failed connection attempt is reported again
// without a new attempt, so that status polls do not dial a dead engine
// for every replica.
const dockerRetry = time.Second

// dockerRuntime is the docker runtime as the daemon offers it: it connects
// to the engine when first needed (at daemon start when the engine answers,
// else at the first call after it does), so a daemon starts without an
// engine and `quai up --runtime docker` then fails with the runtime's own
// error, which names the address tried and how to fix it. On every
// connection it removes what a crash left behind (docker.CleanOrphans)
// before any replica is started, and reports it.
type dockerRuntime struct {
	opts docker.Options
	log  *slog.Logger
	// report receives the orphan clean-up report (the daemon's warnings).
	report func(msg string)
	// recorded is what the daemon's store records, never an orphan.
	recorded func(context.Context) (docker.Recorded, error)

	mu      sync.Mutex
	rt      *docker.Runtime
	lastErr error
	lastTry time.Time
	closed  bool
}

func newDockerRuntime(dataDir, daemonID, host, pool string, log *slog.Logger, report func(string), recorded func(context.Context) (docker.Recorded, error)) *dockerRuntime {
	return &dockerRuntime{
		opts: docker.Options{
			Host:        host,
			NetworkPool: pool,
			Logger:      log,
			StateDir:    filepath.Join(dataDir, "docker"),
			RunDir:      datadir.RunDir(dataDir, os.Getenv, os.Geteuid()),
			DaemonID:    daemonID,
		},
		log:      log,
		report:   report,
		recorded: recorded,
	}
}

// connect returns the connected runtime, connecting (and cleaning orphans)
// if it is not yet.
func (d *dockerRuntime) connect(ctx context.Context) (*docker.Runtime, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rt != nil {
		return d.rt, nil
	}
	if d.closed {
		return nil, fmt.Errorf("docker runtime: closed: %w", runtime.ErrUnavailable)
	}
	if d.lastErr != nil && time.Since(d.lastTry) < dockerRetry {
		return nil, d.lastErr
	}
	d.lastTry = time.Now()
	rt, err := docker.New(ctx, d.opts)
	if err != nil {
		d.lastErr = err
		return nil, err
	}
	d.lastErr = nil
	d.rt = rt
	d.log.Info("connected to the Docker Engine", "host", rt.Host(), "api", rt.APIVersion())
	d.cleanOrphans(ctx, rt)
	return rt, nil
}

// cleanOrphans removes what an interrupted start left on the engine and
// reports it; a failure is reported too, never fatal.
func (d *dockerRuntime) cleanOrphans(ctx context.Context, rt *docker.Runtime) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	rec, err := d.recorded(cctx)
	if err != nil {
		d.log.Warn("docker runtime: orphans left alone: cannot read what the store records", "err", err)
		d.report("docker runtime: orphans left alone: cannot read what the store records: " + err.Error())
		return
	}
	o, err := rt.CleanOrphans(cctx, rec)
	if err != nil {
		d.log.Warn("docker runtime: cannot clean what a crash left behind", "err", err)
		d.report("docker runtime: cannot clean what a crash left behind: " + err.Error())
	}
	if msg := orphansMessage(o); msg != "" {
		d.log.Warn("docker runtime: "+msg, "containers", o.Containers, "networks", o.Networks, "secret_dirs", o.SecretDirs)
		d.report("docker runtime: " + msg)
	}
}

// orphansMessage says what CleanOrphans removed; empty when nothing.
func orphansMessage(o docker.Orphans) string {
	var parts []string
	if n := len(o.Containers); n > 0 {
		parts = append(parts, fmt.Sprintf("%d container(s) never started (%s)", n, strings.Join(o.Containers, ", ")))
	}
	if n := len(o.Networks); n > 0 {
		parts = append(parts, fmt.Sprintf("%d network(s) without containers (%s)", n, strings.Join(o.Networks, ", ")))
	}
	if n := len(o.SecretDirs); n > 0 {
		parts = append(parts, fmt.Sprintf("%d secret director(ies) without a container", n))
	}
	if len(parts) == 0 {
		return ""
	}
	return "removed what an interrupted deploy left behind: " + strings.Join(parts, "; ")
}

// Name implements runtime.Runtime.
func (d *dockerRuntime) Name() string { return docker.Name }

// Capabilities implements runtime.Runtime; they do not depend on the
// connection.
func (d *dockerRuntime) Capabilities() runtime.Capabilities {
	return (&docker.Runtime{}).Capabilities()
}

// Start implements runtime.ReplicaRunner.
func (d *dockerRuntime) Start(ctx context.Context, spec runtime.ReplicaSpec) (runtime.Handle, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return runtime.Handle{}, err
	}
	return rt.Start(ctx, spec)
}

// Inspect implements runtime.Runtime.
func (d *dockerRuntime) Inspect(ctx context.Context, h runtime.Handle) (runtime.Status, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return runtime.Status{}, err
	}
	return rt.Inspect(ctx, h)
}

// Stop implements runtime.ReplicaRunner.
func (d *dockerRuntime) Stop(ctx context.Context, h runtime.Handle, grace time.Duration) error {
	rt, err := d.connect(ctx)
	if err != nil {
		return err
	}
	return rt.Stop(ctx, h, grace)
}

// Remove implements runtime.ReplicaRunner.
func (d *dockerRuntime) Remove(ctx context.Context, h runtime.Handle) error {
	rt, err := d.connect(ctx)
	if err != nil {
		return err
	}
	return rt.Remove(ctx, h)
}

// List implements runtime.Runtime.
func (d *dockerRuntime) List(ctx context.Context, id stack.Identity) ([]runtime.Handle, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	return rt.List(ctx, id)
}

// Reattach implements runtime.ReplicaRunner.
func (d *dockerRuntime) Reattach(ctx context.Context, h runtime.Handle) error {
	rt, err := d.connect(ctx)
	if err != nil {
		return err
	}
	return rt.Reattach(ctx, h)
}

// Close implements runtime.Runtime: containers keep running.
func (d *dockerRuntime) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.rt == nil {
		return nil
	}
	err := d.rt.Close()
	d.rt = nil
	return err
}

// Logs implements runtime.Logger.
func (d *dockerRuntime) Logs(ctx context.Context, h runtime.Handle, opts runtime.LogOptions) (io.ReadCloser, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	return rt.Logs(ctx, h, opts)
}

// Exec implements runtime.Execer.
func (d *dockerRuntime) Exec(ctx context.Context, h runtime.Handle, opts runtime.ExecOptions) (int, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return -1, err
	}
	return rt.Exec(ctx, h, opts)
}

// CopyFrom implements runtime.PathCopier (volume and files backups).
func (d *dockerRuntime) CopyFrom(ctx context.Context, h runtime.Handle, path string, w io.Writer) error {
	rt, err := d.connect(ctx)
	if err != nil {
		return err
	}
	return rt.CopyFrom(ctx, h, path, w)
}

// CopyTo implements runtime.PathCopier (volume and files restores).
func (d *dockerRuntime) CopyTo(ctx context.Context, h runtime.Handle, path string, r io.Reader) error {
	rt, err := d.connect(ctx)
	if err != nil {
		return err
	}
	return rt.CopyTo(ctx, h, path, r)
}

// HostPath implements runtime.PathCopier.
func (d *dockerRuntime) HostPath(ctx context.Context, h runtime.Handle, path string) (string, bool) {
	rt, err := d.connect(ctx)
	if err != nil {
		return "", false
	}
	return rt.HostPath(ctx, h, path)
}

// Volumes implements runtime.VolumeManager.
func (d *dockerRuntime) Volumes(ctx context.Context, id stack.Identity) ([]string, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	return rt.Volumes(ctx, id)
}

// RemoveVolumes implements runtime.VolumeManager.
func (d *dockerRuntime) RemoveVolumes(ctx context.Context, id stack.Identity) error {
	rt, err := d.connect(ctx)
	if err != nil {
		return err
	}
	return rt.RemoveVolumes(ctx, id)
}

// PrepareImage implements runtime.ImageManager.
func (d *dockerRuntime) PrepareImage(ctx context.Context, spec runtime.ReplicaSpec, progress func(string)) (string, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return "", err
	}
	return rt.PrepareImage(ctx, spec, progress)
}

// PushImage implements runtime.ImagePusher.
func (d *dockerRuntime) PushImage(ctx context.Context, id string, refs []string, auth registry.Auth, progress func(string)) (string, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return "", err
	}
	return rt.PushImage(ctx, id, refs, auth, progress)
}

// RepoDigest implements runtime.ImagePusher.
func (d *dockerRuntime) RepoDigest(ctx context.Context, ref string) (string, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return "", err
	}
	return rt.RepoDigest(ctx, ref)
}

// PruneImages implements runtime.ImageManager.
func (d *dockerRuntime) PruneImages(ctx context.Context, keep []string, dryRun bool) ([]runtime.PrunedImage, error) {
	rt, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	return rt.PruneImages(ctx, keep, dryRun)
}

// The daemon's docker runtime offers everything the runtime does.
var (
	_ runtime.ReplicaRunner = (*dockerRuntime)(nil)
	_ runtime.Logger        = (*dockerRuntime)(nil)
	_ runtime.Execer        = (*dockerRuntime)(nil)
	_ runtime.VolumeManager = (*dockerRuntime)(nil)
	_ runtime.ImageManager  = (*dockerRuntime)(nil)
	_ runtime.ImagePusher   = (*dockerRuntime)(nil)
	_ runtime.PathCopier    = (*dockerRuntime)(nil)
)

// startDocker builds the docker runtime unless it is turned off, and
// connects at once when the engine answers, so that orphans are cleaned
// and instances re-attached before the API serves. An engine that does not
// answer is a warning: the daemon serves the other runtimes and connects
// when the engine is there.
func (d *Daemon) startDocker(ctx context.Context) *dockerRuntime {
	if d.cfg.DockerHost == DockerOff {
		return nil
	}
	dk := newDockerRuntime(d.cfg.DataDir, d.id, d.cfg.DockerHost, d.cfg.DockerNetworkPool, d.log.With("runtime", docker.Name), func(msg string) {
		d.warnings = append(d.warnings, msg)
	}, d.recorded)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := dk.connect(cctx); err != nil {
		d.log.Warn("the docker runtime is unavailable until the engine answers", "err", err)
		d.warnings = append(d.warnings, err.Error())
	}
	// Later reports (a connection made after start) go to the log only:
	// the daemon's info is fixed once it serves.
	dk.report = func(string) {}
	return dk
}

// recorded is what the store records on the docker runtime: the containers
// of recorded replicas and every instance.
func (d *Daemon) recorded(ctx context.Context) (docker.Recorded, error) {
	rec := docker.Recorded{Containers: map[string]bool{}, Instances: map[string]bool{}}
	list, err := d.store.Instances(ctx)
	if err != nil {
		return rec, err
	}
	for _, in := range list {
		rec.Instances[in.Identity.Slug()] = true
		hs, err := d.store.Handles(ctx, in.Name)
		if err != nil {
			return rec, err
		}
		for _, h := range hs {
			if h.Runtime == docker.Name {
				rec.Containers[h.ID] = true
			}
		}
	}
	return rec, nil
}
