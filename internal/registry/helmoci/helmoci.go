// Package helmoci pushes a packaged Helm chart to an OCI registry as Helm
// itself stores charts there (`helm push`, `helm pull oci://`): an image
// manifest whose config is Chart.yaml as JSON and whose one layer is the
// chart's .tgz, tagged with the chart version. The manifest carries no
// timestamp, so the same package always has the same digest.
//
// Credentials are the ones the rest of quai uses, the Docker config's auths
// (internal/registry, so `docker login` is how a user gives them); the
// registry's certificate is checked against the system roots, the CAs the
// Docker Engine trusts for that registry (/etc/docker/certs.d/<host>/*.crt)
// and an optional extra CA file. Transport and authentication (basic, and
// the token flows of distribution registries) are oras-go's.
//
// It imports internal/registry and oras-go; it must not import the engine,
// the store, runtimes or the CLI.
package helmoci

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/quai-dev/quai/internal/registry"
)

// Helm's OCI media types (helm.sh/helm/v4/pkg/registry).
const (
	ConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	ChartMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// DockerCertsDir is where the Docker Engine looks for a registry's CA.
const DockerCertsDir = "/etc/docker/certs.d"

// Errors of Push; messages wrapping them say which registry and what to do.
var (
	// ErrUnauthorized: the registry refused the credentials (or their
	// absence).
	ErrUnauthorized = errors.New("registry refused the credentials")
	// ErrPush: the registry could not be reached or refused the upload.
	ErrPush = errors.New("cannot push chart")
)

// Ref is where a chart goes: Host/Repository:Tag.
type Ref struct {
	Host       string
	Repository string
	// Tag is empty when the reference names none (the chart version then).
	Tag string
}

// String is the reference as `helm pull` takes it, oci://host/repo[:tag].
func (r Ref) String() string {
	s := "oci://" + r.Host + "/" + r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	return s
}

// ParseRef reads REGISTRY/REPO[:TAG], with or without an oci:// scheme.
func ParseRef(s string) (Ref, error) {
	in := s
	s = strings.TrimPrefix(s, "oci://")
	var r Ref
	if i := strings.LastIndex(s, "/"); i >= 0 {
		if name, tag, ok := strings.Cut(s[i+1:], ":"); ok {
			if !registry.ValidTag(tag) {
				return Ref{}, fmt.Errorf("%w: %q: tag %q must be letters, digits, _ . or -, at most 128", registry.ErrReference, in, tag)
			}
			s, r.Tag = s[:i+1]+name, tag
		}
	}
	host, repo, err := registry.ParseURL(s)
	if err != nil {
		return Ref{}, err
	}
	if repo == "" {
		return Ref{}, fmt.Errorf("%w: %q names a registry but no repository: write REGISTRY/REPO[:TAG], e.g. %s/charts/app", registry.ErrReference, in, host)
	}
	r.Host, r.Repository = host, repo
	return r, nil
}

// Chart is a packaged chart.
type Chart struct {
	Name, Version, Description string
	// Config is Chart.yaml as JSON; Package the .tgz.
	Config, Package []byte
}

// Options configure Push.
type Options struct {
	// DockerConfig is the Docker config directory holding the credentials
	// (see registry.ConfigDir; "" for the default).
	DockerConfig string
	// CAFile is a PEM file of extra CAs to trust for the registry.
	CAFile string
	// CertsDir replaces DockerCertsDir (tests).
	CertsDir string
}

// Result is what was pushed.
type Result struct {
	// Reference is oci://host/repo:tag; Digest the manifest's digest.
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	// Size is the package's size in bytes.
	Size int64 `json:"size"`
}

// Manifest is the OCI image manifest of a chart, and its descriptors.
func Manifest(c Chart) (manifest []byte, config, layer ocispec.Descriptor, err error) {
	config = ocispec.Descriptor{MediaType: ConfigMediaType, Digest: digest.FromBytes(c.Config), Size: int64(len(c.Config))}
	layer = ocispec.Descriptor{MediaType: ChartMediaType, Digest: digest.FromBytes(c.Package), Size: int64(len(c.Package))}
	ann := map[string]string{ocispec.AnnotationTitle: c.Name, ocispec.AnnotationVersion: c.Version}
	if c.Description != "" {
		ann[ocispec.AnnotationDescription] = c.Description
	}
	manifest, err = json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config, Layers: []ocispec.Descriptor{layer}, Annotations: ann,
	})
	if err != nil {
		return nil, config, layer, fmt.Errorf("encode chart manifest: %w", err)
	}
	return manifest, config, layer, nil
}

// Push uploads the chart to ref (tag: ref.Tag, else the chart version; a
// '+' in it becomes '_' as Helm does) and returns what it pushed. Blobs the
// repository already holds are not uploaded again.
func Push(ctx context.Context, ref Ref, c Chart, opts Options) (Result, error) {
	if ref.Tag == "" {
		ref.Tag = strings.ReplaceAll(c.Version, "+", "_")
	}
	creds, err := registry.Lookup(opts.DockerConfig, ref.Host)
	if err != nil {
		return Result{}, err
	}
	cfgFile := creds.ConfigFile
	client, err := httpClient(ref.Host, opts)
	if err != nil {
		return Result{}, err
	}
	repo, err := remote.NewRepository(ref.Host + "/" + ref.Repository)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s: %w", registry.ErrReference, ref, err)
	}
	repo.Client = &auth.Client{
		Client: client,
		Header: http.Header{"User-Agent": {"quai"}},
		Cache:  auth.NewCache(),
		Credential: auth.StaticCredential(ref.Host, auth.Credential{
			Username: creds.Username, Password: creds.Password, RefreshToken: creds.IdentityToken,
		}),
	}

	manifest, config, layer, err := Manifest(c)
	if err != nil {
		return Result{}, err
	}
	explain := func(what string, err error) error {
		var resp *errcode.ErrorResponse
		refused := errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden)
		if refused || errors.Is(err, auth.ErrBasicCredentialNotFound) {
			if creds.Anonymous() {
				return fmt.Errorf("%w: push %s: %s asks for credentials and %s holds none for it: run docker login %s", ErrUnauthorized, ref, ref.Host, cfgFile, ref.Host)
			}
			who := "user " + creds.Username
			if creds.Username == "" {
				who = "the identity token"
			}
			code := http.StatusUnauthorized
			if refused {
				code = resp.StatusCode
			}
			return fmt.Errorf("%w: push %s: %s answered %d %s to %s (credentials from %s): check them with docker login %s",
				ErrUnauthorized, ref, ref.Host, code, http.StatusText(code), who, cfgFile, ref.Host)
		}
		return fmt.Errorf("%w to %s: %s: %w", ErrPush, ref, what, err)
	}
	for _, blob := range []struct {
		desc ocispec.Descriptor
		data []byte
		what string
	}{{config, c.Config, "config"}, {layer, c.Package, "chart package"}} {
		exists, err := repo.Exists(ctx, blob.desc)
		if err != nil {
			return Result{}, explain("check "+blob.what, err)
		}
		if exists {
			continue
		}
		if err := repo.Push(ctx, blob.desc, bytes.NewReader(blob.data)); err != nil {
			return Result{}, explain("upload "+blob.what, err)
		}
	}
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := repo.PushReference(ctx, mdesc, bytes.NewReader(manifest), ref.Tag); err != nil {
		return Result{}, explain("upload manifest", err)
	}
	return Result{Reference: ref.String(), Digest: mdesc.Digest.String(), Size: int64(len(c.Package))}, nil
}

// httpClient trusts the system roots, the Docker Engine's CAs for host and
// opts.CAFile.
func httpClient(host string, opts Options) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	certsDir := opts.CertsDir
	if certsDir == "" {
		certsDir = DockerCertsDir
	}
	files, _ := filepath.Glob(filepath.Join(certsDir, host, "*.crt"))
	if opts.CAFile != "" {
		files = append(files, opts.CAFile)
	}
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read CA file for %s: %w", host, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s for %s holds no PEM certificate", f, host)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}, nil
}
