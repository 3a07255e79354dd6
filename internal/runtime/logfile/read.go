package logfile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
)

// errUntil ends a read at the first line at or after LogOptions.Until.
var errUntil = errors.New("past until")

// followPoll is how often a follower looks for new lines.
const followPoll = 200 * time.Millisecond

// Read streams the lines of the replica whose current file is path, as
// opts selects them (Grep aside: the engine applies it). With Follow it
// goes on with the current file as it grows, across rotations, until ctx
// ends, the reader is closed, a line reaches Until, or ended (nil: never)
// reports that nothing will write to the file any more.
func Read(ctx context.Context, path string, opts runtime.LogOptions, ended func() bool) io.ReadCloser {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		err := stream(ctx, path, opts, ended, pw)
		if errors.Is(err, errUntil) {
			err = nil
		}
		pw.CloseWithError(err)
	}()
	return &reader{PipeReader: pr, cancel: cancel}
}

type reader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *reader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// format renders a selected line as Logs returns it.
func format(l Line, timestamps bool) []byte {
	b := make([]byte, 0, len(TimeLayout)+2+len(l.Text))
	if timestamps {
		b = l.Time.UTC().AppendFormat(b, TimeLayout)
		b = append(b, ' ')
	}
	b = append(b, l.Text...)
	return append(b, '\n')
}

func stream(ctx context.Context, path string, opts runtime.LogOptions, ended func() bool, w io.Writer) error {
	files := Files(path)
	var tail [][]byte
	var last time.Time
	emit := func(l Line) error {
		// A line without a time (written by hand, cut by a crash) goes with
		// the line before it.
		if l.Time.IsZero() {
			l.Time = last
		}
		last = l.Time
		if !l.Time.IsZero() {
			if !opts.Since.IsZero() && l.Time.Before(opts.Since) {
				return nil
			}
			if !opts.Until.IsZero() && !l.Time.Before(opts.Until) {
				return errUntil
			}
		}
		b := format(l, opts.Timestamps)
		if opts.Tail > 0 {
			if len(tail) == opts.Tail {
				tail = tail[1:]
			}
			tail = append(tail, b)
			return nil
		}
		_, err := w.Write(b)
		return err
	}
	flushTail := func() error {
		for _, b := range tail {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		tail, opts.Tail = nil, 0
		return nil
	}
	// Read the rotated files completely, then the current one up to its
	// present end; following continues from that exact offset.
	for _, p := range files[:len(files)-1] {
		if err := readFile(p, emit); err != nil {
			if errors.Is(err, errUntil) {
				return flushTail()
			}
			return err
		}
	}
	cur, err := os.Open(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	defer func() {
		if cur != nil {
			_ = cur.Close()
		}
	}()
	var partial []byte
	buf := make([]byte, 32<<10)
	readMore := func() error {
		if cur == nil {
			return nil
		}
		for {
			n, rerr := cur.Read(buf)
			partial = append(partial, buf[:n]...)
			for {
				i := bytes.IndexByte(partial, '\n')
				if i < 0 {
					break
				}
				if err := emit(Parse(partial[:i])); err != nil {
					return err
				}
				partial = partial[i+1:]
			}
			if rerr == io.EOF {
				return nil
			}
			if rerr != nil {
				return rerr
			}
		}
	}
	if err := readMore(); err != nil {
		if errors.Is(err, errUntil) {
			return flushTail()
		}
		return err
	}
	if err := flushTail(); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := readMore(); err != nil {
			return err
		}
		if !opts.Until.IsZero() && !time.Now().Before(opts.Until) {
			return nil
		}
		// A rotation renamed the file being read: finish it, then continue
		// with the new current file from its start.
		fi, err := os.Stat(path)
		if err == nil && (cur == nil || !sameFile(cur, fi)) {
			if cur != nil {
				if err := readMore(); err != nil {
					return err
				}
				_ = cur.Close()
			}
			partial = nil
			if cur, err = os.Open(path); err != nil {
				cur = nil
			}
			continue
		}
		if ended != nil && ended() {
			return readMore()
		}
	}
}

func sameFile(f *os.File, fi os.FileInfo) bool {
	cfi, err := f.Stat()
	return err == nil && os.SameFile(cfi, fi)
}

func readFile(path string, emit func(Line) error) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4*MaxLine)
	for sc.Scan() {
		if err := emit(Parse(sc.Bytes())); err != nil {
			return err
		}
	}
	return sc.Err()
}
