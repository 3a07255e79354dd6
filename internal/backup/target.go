package backup

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/repo/blob/filesystem"
	"github.com/kopia/kopia/repo/blob/s3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// target is a parsed Target.
type target struct {
	display string
	fs      *filesystem.Options
	s3      *s3.Options
	addr    string // S3 endpoint host:port, for the reachability probe
	live    *liveStorage
}

// How long a storage call may run before the S3 endpoint is probed, and
// how long a probe may take. Kopia retries a failing call for about ten
// seconds and minio-go retries each attempt again; the probe cuts that
// short when the endpoint does not answer at all.
const (
	guardDelay   = 2 * time.Second
	guardEvery   = time.Second
	probeTimeout = 3 * time.Second
)

func parseTarget(t Target) (*target, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("backup: target %q: %w (want file:///abs/dir or s3://bucket/prefix?endpoint=host:port)", redactURL(t.URL), err)
	}
	display := redactURL(t.URL)
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("backup: target %s: a file URL names a local directory (file:///abs/dir), not host %q", display, u.Host)
		}
		if !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("backup: target %s: the directory must be an absolute path", display)
		}
		return &target{display: display, fs: &filesystem.Options{Path: filepath.Clean(u.Path), FileMode: 0o600, DirectoryMode: 0o700}}, nil
	case "s3":
		return parseS3(u, t, display)
	default:
		return nil, fmt.Errorf("backup: target %s: unsupported scheme %q (want file:// or s3://)", display, u.Scheme)
	}
}

func parseS3(u *url.URL, t Target, display string) (*target, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("backup: target %s: no bucket (want s3://bucket/prefix?endpoint=host:port)", display)
	}
	q := u.Query()
	useTLS := true
	if v := q.Get("tls"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("backup: target %s: tls=%q is not true or false", display, v)
		}
		useTLS = b
	}
	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	addr := endpoint
	if _, _, err := net.SplitHostPort(endpoint); err != nil {
		addr = net.JoinHostPort(endpoint, map[bool]string{true: "443", false: "80"}[useTLS])
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	o := &s3.Options{
		BucketName:      u.Host,
		Prefix:          prefix,
		Endpoint:        endpoint,
		DoNotUseTLS:     !useTLS,
		Region:          q.Get("region"),
		AccessKeyID:     t.AccessKey,
		SecretAccessKey: t.SecretKey,
	}
	if ca := q.Get("ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("backup: target %s: CA bundle: %w", display, err)
		}
		o.RootCA = pem
	}
	return &target{display: display, s3: o, addr: addr}, nil
}

// redactURL drops any user:password from a target URL, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// reachable probes an S3 endpoint with a TCP connection; a directory
// target is always reachable (its errors say what is wrong).
func (t *target) reachable(ctx context.Context) error {
	if t.s3 == nil {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", t.addr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("backup: %s: %w: %s does not answer (%w); check that the S3 endpoint is up and reachable from this host, the next run retries", t.display, ErrUnreachable, t.addr, err)
	}
	if t.live != nil {
		t.live.setDown(nil) // back
	}
	return c.Close()
}

// classify turns an error from a storage call into ErrUnreachable when the
// endpoint no longer answers.
func (t *target) classify(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, ErrUnreachable) {
		return err
	}
	if perr := t.reachable(context.WithoutCancel(ctx)); perr != nil {
		return fmt.Errorf("%w (after: %w)", perr, err)
	}
	return err
}

// storage opens the blob storage, creating the directory or bucket when
// missing, and registers it for kopia's connection (see liveStorage).
func (t *target) storage(ctx context.Context) (*liveStorage, error) {
	var (
		inner blob.Storage
		err   error
	)
	if t.fs != nil {
		if err := os.MkdirAll(t.fs.Path, 0o700); err != nil {
			return nil, err
		}
		inner, err = filesystem.New(ctx, t.fs, true)
	} else {
		if err := t.ensureBucket(ctx); err != nil {
			return nil, err
		}
		inner, err = s3.New(ctx, t.s3, true)
	}
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	l := &liveStorage{Storage: inner, id: hex.EncodeToString(id)}
	if t.s3 != nil {
		l.probe = t.reachable
	}
	live.Store(l.id, l)
	t.live = l
	return l, nil
}

func (t *target) close(ctx context.Context) error {
	if t.live == nil {
		return nil
	}
	live.Delete(t.live.id)
	return t.live.Storage.Close(ctx)
}

// ensureBucket creates the bucket on first use.
func (t *target) ensureBucket(ctx context.Context) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(t.s3.RootCA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.s3.RootCA) {
			return errors.New("the CA bundle holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := minio.New(t.s3.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(t.s3.AccessKeyID, t.s3.SecretAccessKey, ""),
		Secure:    !t.s3.DoNotUseTLS,
		Region:    t.s3.Region,
		Transport: tr,
	})
	if err != nil {
		return err
	}
	ok, err := c.BucketExists(ctx, t.s3.BucketName)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", t.s3.BucketName, err)
	}
	if ok {
		return nil
	}
	if err := c.MakeBucket(ctx, t.s3.BucketName, minio.MakeBucketOptions{Region: t.s3.Region}); err != nil {
		return fmt.Errorf("create bucket %s: %w", t.s3.BucketName, err)
	}
	return nil
}

// Kopia reopens storage from the connection file it writes, which would
// hold the S3 secret key in the clear. Instead the file names a storage of
// type "quai-live" by a random ID, and the factory hands back the storage
// this process already opened: no credential ever reaches the disk.
const liveType = "quai-live"

type liveOptions struct {
	ID string `json:"id"`
}

var live sync.Map // id -> *liveStorage

func init() {
	blob.AddSupportedStorage(liveType, liveOptions{}, func(_ context.Context, o *liveOptions, _ bool) (blob.Storage, error) {
		if l, ok := live.Load(o.ID); ok {
			return l.(*liveStorage), nil
		}
		return nil, fmt.Errorf("backup: storage %s is closed", o.ID)
	})
}

// liveStorage is the storage kopia sees. Kopia closes the storage it
// opened each time it closes a connection; the real close is the Repo's.
// On S3, a call that runs longer than guardDelay is watched: when the
// endpoint stops answering, the call is cancelled with ErrUnreachable
// rather than left in kopia's and minio-go's nested retry loops.
//
// Once a call failed that way the storage is down: further calls fail at
// once (kopia would otherwise retry every pending pack in turn) until a
// probe, at most once per guardEvery, finds the endpoint back.
type liveStorage struct {
	blob.Storage
	id    string
	probe func(context.Context) error

	mu        sync.Mutex
	down      error
	lastProbe time.Time
}

// Down is the error that put the storage down, or nil.
func (l *liveStorage) Down(ctx context.Context) error {
	if l.probe == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down == nil || time.Since(l.lastProbe) < guardEvery {
		return l.down
	}
	l.lastProbe = time.Now()
	if err := l.probe(ctx); err != nil {
		if ctx.Err() == nil {
			l.down = err
		}
		return err
	}
	l.down = nil
	return nil
}

func (l *liveStorage) setDown(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down, l.lastProbe = err, time.Now()
}

func (l *liveStorage) ConnectionInfo() blob.ConnectionInfo {
	return blob.ConnectionInfo{Type: liveType, Config: &liveOptions{ID: l.id}}
}

func (l *liveStorage) Close(context.Context) error { return nil }

func (l *liveStorage) GetBlob(ctx context.Context, id blob.ID, offset, length int64, out blob.OutputBuffer) error {
	return l.guard(ctx, func(ctx context.Context) error { return l.Storage.GetBlob(ctx, id, offset, length, out) })
}

func (l *liveStorage) GetMetadata(ctx context.Context, id blob.ID) (m blob.Metadata, err error) {
	err = l.guard(ctx, func(ctx context.Context) error {
		m, err = l.Storage.GetMetadata(ctx, id)
		return err
	})
	return m, err
}

func (l *liveStorage) PutBlob(ctx context.Context, id blob.ID, data blob.Bytes, opts blob.PutOptions) error {
	return l.guard(ctx, func(ctx context.Context) error { return l.Storage.PutBlob(ctx, id, data, opts) })
}

func (l *liveStorage) DeleteBlob(ctx context.Context, id blob.ID) error {
	return l.guard(ctx, func(ctx context.Context) error { return l.Storage.DeleteBlob(ctx, id) })
}

func (l *liveStorage) ListBlobs(ctx context.Context, prefix blob.ID, cb func(blob.Metadata) error) error {
	return l.guard(ctx, func(ctx context.Context) error { return l.Storage.ListBlobs(ctx, prefix, cb) })
}

func (l *liveStorage) guard(ctx context.Context, op func(context.Context) error) error {
	if l.probe == nil {
		return op(ctx)
	}
	if err := l.Down(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTimer(guardDelay)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if err := l.probe(ctx); err != nil {
				cancel(err)
				return
			}
			t.Reset(guardEvery)
		}
	})
	err := op(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrUnreachable) {
			l.setDown(cause)
			return cause
		}
	}
	return err
}
