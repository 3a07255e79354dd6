package render

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"time"
)

// PackageModTime is the modification time of every entry of a chart
// package: the Unix epoch, so the same chart always packs to the same bytes
// (and the same OCI digest).
var PackageModTime = time.Unix(0, 0).UTC()

// PackageName is the package's file name, as `helm package` names it.
func (c *Chart) PackageName() string {
	return c.Name + "-" + c.Version + ".tgz"
}

// Package is the chart as the .tgz `helm package` writes and `helm install`
// and registries take: every file under "<name>/", entries sorted by path,
// fixed times, owners and modes, so the bytes depend on the chart only.
func (c *Chart) Package() ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("package chart %s: %w", c.Name, err)
	}
	// The gzip header carries no name and no time.
	zw.ModTime = PackageModTime
	tw := tar.NewWriter(zw)
	for _, f := range c.Files { // sorted by path
		if strings.Contains(f.Path, "..") || strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("package chart %s: file path %q leaves the chart", c.Name, f.Path)
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     c.Name + "/" + f.Path,
			Mode:     0o644,
			Size:     int64(len(f.Data)),
			ModTime:  PackageModTime,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("package chart %s: %w", c.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("package chart %s: %w", c.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("package chart %s: %w", c.Name, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("package chart %s: %w", c.Name, err)
	}
	return buf.Bytes(), nil
}
