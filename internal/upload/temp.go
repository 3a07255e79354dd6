package upload

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// Packed is a project folder packed into a temporary gzip file, ready to
// send; Close removes it.
type Packed struct {
	Summary
	// File is the gzip-compressed tar, positioned at its start.
	File *os.File
	// Size is the compressed size.
	Size int64
}

// Close closes and removes the temporary file.
func (p *Packed) Close() error {
	err := p.File.Close()
	if rerr := os.Remove(p.File.Name()); err == nil {
		err = rerr
	}
	return err
}

// PackTemp packs dir (as Pack) into a temporary gzip file, as a client
// sends it to a daemon (PUT /api/v1/uploads/HASH).
func PackTemp(dir string, limits Limits) (*Packed, error) {
	tmp, err := os.CreateTemp("", "quai-upload-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("pack the project folder: %w", err)
	}
	p := &Packed{File: tmp}
	fail := func(err error) (*Packed, error) {
		_ = p.Close()
		return nil, err
	}
	zw, err := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if err != nil {
		return fail(err)
	}
	if p.Summary, err = Pack(dir, zw, limits); err != nil {
		return fail(fmt.Errorf("pack the project folder %s: %w", dir, err))
	}
	if err := zw.Close(); err != nil {
		return fail(fmt.Errorf("pack the project folder: %w", err))
	}
	if p.Size, err = tmp.Seek(0, io.SeekCurrent); err != nil {
		return fail(err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return p, nil
}
