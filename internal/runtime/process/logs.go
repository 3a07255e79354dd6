package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/quai-dev/quai/internal/runtime"
)

// Log files hold one line per line of output:
//
//	2026-01-02T15:04:05.123456789Z o text the app printed
//
// (o for stdout, e for stderr), so that Logs can select by time. They rotate
// by size: app.log → app.log.1 → ... → app.log.<keep>, the oldest dropped.

const logTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// maxLine bounds one log line; longer output is split.
const maxLine = 64 << 10

// rotator is the supervisor's writer of log lines.
type rotator struct {
	mu      sync.Mutex
	path    string
	maxSize int64
	keep    int
	f       *os.File
	size    int64
}

func openRotator(path string, maxSize int64, keep int) (*rotator, error) {
	r := &rotator{path: path, maxSize: maxSize, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotator) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	r.f, r.size = f, fi.Size()
	return nil
}

// writeLine writes one timestamped line, rotating first when it would push
// the file past maxSize.
func (r *rotator) writeLine(stream byte, text []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	b.WriteString(time.Now().UTC().Format(logTimeLayout))
	b.WriteByte(' ')
	b.WriteByte(stream)
	b.WriteByte(' ')
	b.Write(text)
	b.WriteByte('\n')
	if r.maxSize > 0 && r.size > 0 && r.size+int64(b.Len()) > r.maxSize {
		r.rotate()
	}
	if r.f == nil {
		return
	}
	n, _ := r.f.Write(b.Bytes())
	r.size += int64(n)
}

func (r *rotator) rotate() {
	_ = r.f.Close()
	r.f = nil
	if r.keep <= 0 {
		_ = os.Remove(r.path)
	} else {
		_ = os.Remove(r.path + "." + strconv.Itoa(r.keep))
		for i := r.keep - 1; i >= 1; i-- {
			_ = os.Rename(r.path+"."+strconv.Itoa(i), r.path+"."+strconv.Itoa(i+1))
		}
		_ = os.Rename(r.path, r.path+".1")
	}
	_ = r.open()
}

func (r *rotator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// copyLines reads src until EOF and writes each line to r.
func (r *rotator) copyLines(stream byte, src io.Reader) {
	br := bufio.NewReaderSize(src, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			r.writeLine(stream, bytes.TrimRight(line, "\r\n"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// logLine is one parsed line of a log file.
type logLine struct {
	t    time.Time
	text []byte
}

// parseLogLine splits a stored line; a line that does not parse (written by
// hand, truncated) is kept with the zero time.
func parseLogLine(b []byte) logLine {
	ts, rest, ok := bytes.Cut(b, []byte(" "))
	if !ok {
		return logLine{text: b}
	}
	t, err := time.Parse(logTimeLayout, string(ts))
	if err != nil || len(rest) < 2 || rest[1] != ' ' {
		return logLine{text: b}
	}
	return logLine{t: t, text: rest[2:]}
}

// logFiles lists a replica's log files, oldest first.
func logFiles(dir string) []string {
	base := filepath.Join(dir, logsDir, appLog)
	var files []string
	for i := 1; ; i++ {
		if _, err := os.Stat(base + "." + strconv.Itoa(i)); err != nil {
			break
		}
		files = append([]string{base + "." + strconv.Itoa(i)}, files...)
	}
	return append(files, base)
}

// Logs implements runtime.Logger: it reads the replica's rotated log files
// and, with Follow, the current one as it grows, until ctx ends, the reader
// is closed, or the supervisor has exited and everything was read.
func (r *Runtime) Logs(ctx context.Context, h runtime.Handle, opts runtime.LogOptions) (io.ReadCloser, error) {
	dir, err := r.handleDir(h)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("logs of replica %s of %s: %w", h.Replica, h.Instance, runtime.ErrNotFound)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		pw.CloseWithError(streamLogs(ctx, dir, opts, pw))
	}()
	return &logReader{PipeReader: pr, cancel: cancel}, nil
}

type logReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (l *logReader) Close() error {
	l.cancel()
	return l.PipeReader.Close()
}

func streamLogs(ctx context.Context, dir string, opts runtime.LogOptions, w io.Writer) error {
	files := logFiles(dir)
	var tail [][]byte
	emit := func(l logLine) error {
		if !opts.Since.IsZero() && !l.t.IsZero() && l.t.Before(opts.Since) {
			return nil
		}
		if opts.Tail > 0 {
			tail = append(tail, append(append([]byte(nil), l.text...), '\n'))
			if len(tail) > opts.Tail {
				tail = tail[1:]
			}
			return nil
		}
		line := make([]byte, 0, len(l.text)+1)
		_, err := w.Write(append(append(line, l.text...), '\n'))
		return err
	}
	// Read the rotated files completely, then the current one up to its
	// present end; following continues from that exact offset.
	for _, p := range files[:len(files)-1] {
		if err := readLogFile(p, emit); err != nil {
			return err
		}
	}
	cur, err := os.Open(files[len(files)-1])
	if err != nil && !isNotExist(err) {
		return err
	}
	var partial []byte
	readMore := func() error {
		if cur == nil {
			return nil
		}
		buf := make([]byte, 32<<10)
		for {
			n, rerr := cur.Read(buf)
			partial = append(partial, buf[:n]...)
			for {
				i := bytes.IndexByte(partial, '\n')
				if i < 0 {
					break
				}
				if err := emit(parseLogLine(partial[:i])); err != nil {
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
	defer func() {
		if cur != nil {
			_ = cur.Close()
		}
	}()
	if err := readMore(); err != nil {
		return err
	}
	for _, b := range tail {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	opts.Tail = 0
	if !opts.Follow {
		return nil
	}
	path := files[len(files)-1]
	tick := time.NewTicker(200 * time.Millisecond)
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
		if st, err := readState(dir); err == nil && !alive(st.ShimPid, st.ShimStart) {
			return readMore()
		}
	}
}

func sameFile(f *os.File, fi os.FileInfo) bool {
	cfi, err := f.Stat()
	return err == nil && os.SameFile(cfi, fi)
}

func readLogFile(path string, emit func(logLine) error) error {
	f, err := os.Open(path)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4*maxLine)
	for sc.Scan() {
		if err := emit(parseLogLine(sc.Bytes())); err != nil {
			return err
		}
	}
	return sc.Err()
}
