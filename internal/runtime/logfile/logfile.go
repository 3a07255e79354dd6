// Package logfile keeps replica logs in files on the daemon's host: one
// timestamped line per line of output, rotated by size, kept after the
// replica is gone within a budget per service, and read back by time.
//
// The process runtime writes its replicas' output with it; the Docker
// runtime archives there the output of the containers it removes, so that
// both show what a replica printed before a restart or a new release.
// It imports nothing of quai but the runtime contract.
//
// A service's logs live in one directory, a replica's in files named after
// it:
//
//	<dir>/<replica>.log      the current file
//	<dir>/<replica>.log.1    the previous one, ... up to .log.<Keep>
//
// and every line is
//
//	2026-01-02T15:04:05.123456789Z o text the app printed
//
// (o for stdout, e for stderr).
package logfile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TimeLayout is the layout of a line's time: RFC 3339, UTC, with a fixed
// nine-digit fraction so that lines sort as text too.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Ext is the extension of the current file of a replica.
const Ext = ".log"

// MaxLine bounds one log line; longer output is split.
const MaxLine = 64 << 10

// Limits bound a replica's files.
type Limits struct {
	// MaxSize is the size at which the current file is rotated; 0 never
	// rotates.
	MaxSize int64
	// Keep is the number of rotated files kept beside the current one.
	Keep int
}

// PerReplica is the most a replica's files take on disk (a line longer
// than MaxSize aside).
func (l Limits) PerReplica() int64 { return l.MaxSize * int64(l.Keep+1) }

// Path is the current file of replica in a service's directory.
func Path(dir, replica string) string { return filepath.Join(dir, replica+Ext) }

// Writer appends timestamped lines to a replica's current file, rotating
// it by size. It is safe for concurrent use (stdout and stderr).
type Writer struct {
	mu   sync.Mutex
	path string
	lim  Limits
	f    *os.File
	size int64
	// last is the newest time written: stdout and stderr are read by two
	// goroutines, so a line can reach the lock after a later-stamped one;
	// it is written with that later time, so a file's times never go back
	// (readers merge files assuming each is in order).
	last time.Time
}

// Open opens (creating it and its directory) the current file at path for
// appending; lines already there are kept.
func Open(path string, lim Limits) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	w := &Writer{path: path, lim: lim}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// WriteLine writes one line recorded now.
func (w *Writer) WriteLine(stream byte, text []byte) {
	w.WriteLineAt(time.Now(), stream, text)
}

// WriteLineAt writes one line recorded at t, rotating first when it would
// push the current file past MaxSize. Write errors are dropped: a full
// disk must not stop the app whose output this is.
func (w *Writer) WriteLineAt(t time.Time, stream byte, text []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.Before(w.last) {
		t = w.last
	}
	w.last = t
	var b bytes.Buffer
	b.Grow(len(TimeLayout) + 4 + len(text))
	b.WriteString(t.UTC().Format(TimeLayout))
	b.WriteByte(' ')
	b.WriteByte(stream)
	b.WriteByte(' ')
	b.Write(text)
	b.WriteByte('\n')
	if w.lim.MaxSize > 0 && w.size > 0 && w.size+int64(b.Len()) > w.lim.MaxSize {
		w.rotate()
	}
	if w.f == nil {
		return
	}
	n, _ := w.f.Write(b.Bytes())
	w.size += int64(n)
}

func (w *Writer) rotate() {
	_ = w.f.Close()
	w.f = nil
	if w.lim.Keep <= 0 {
		_ = os.Remove(w.path)
	} else {
		_ = os.Remove(w.path + "." + strconv.Itoa(w.lim.Keep))
		for i := w.lim.Keep - 1; i >= 1; i-- {
			_ = os.Rename(w.path+"."+strconv.Itoa(i), w.path+"."+strconv.Itoa(i+1))
		}
		_ = os.Rename(w.path, w.path+".1")
	}
	_ = w.open()
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// CopyLines reads src until EOF or an error and writes each line of it.
func (w *Writer) CopyLines(stream byte, src io.Reader) {
	br := bufio.NewReaderSize(src, MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.WriteLine(stream, bytes.TrimRight(line, "\r\n"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// Line is one parsed line of a log file.
type Line struct {
	// Time is zero for a line that does not parse (written by hand,
	// truncated); such a line is kept as it is.
	Time   time.Time
	Stream byte
	Text   []byte
}

// Parse splits a stored line (without its newline).
func Parse(b []byte) Line {
	ts, rest, ok := bytes.Cut(b, []byte(" "))
	if !ok {
		return Line{Text: b}
	}
	t, err := time.Parse(TimeLayout, string(ts))
	if err != nil || len(rest) < 2 || rest[1] != ' ' {
		return Line{Text: b}
	}
	return Line{Time: t, Stream: rest[0], Text: rest[2:]}
}

// Files lists the files of the replica whose current file is path, oldest
// first; the current file is last even when it does not exist yet.
func Files(path string) []string {
	var files []string
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		files = append(files, p)
	}
	// Rotated files are numbered newest first.
	for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
		files[i], files[j] = files[j], files[i]
	}
	return append(files, path)
}

// replicaOf returns the replica a file name belongs to, or "".
func replicaOf(name string) string {
	if r, ok := strings.CutSuffix(name, Ext); ok {
		return r
	}
	i := strings.LastIndex(name, Ext+".")
	if i <= 0 {
		return ""
	}
	if _, err := strconv.Atoi(name[i+len(Ext)+1:]); err != nil {
		return ""
	}
	return name[:i]
}

// Replicas lists the replicas that have files in dir, sorted.
func Replicas(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range ents {
		if r := replicaOf(e.Name()); r != "" && !e.IsDir() && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Prune bounds the files of the replicas in dir that live does not name
// (removed replicas, whose files no longer grow) to budget bytes in all,
// deleting the oldest files first. The files of live replicas are bounded
// by their rotation and left alone.
func Prune(dir string, live func(replica string) bool, budget int64) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	type file struct {
		path string
		mod  time.Time
		size int64
	}
	var files []file
	var total int64
	for _, e := range ents {
		r := replicaOf(e.Name())
		if r == "" || e.IsDir() || live(r) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{filepath.Join(dir, e.Name()), fi.ModTime(), fi.Size()})
		total += fi.Size()
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	var errs []error
	for _, f := range files {
		if total <= budget {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		total -= f.size
	}
	return errors.Join(errs...)
}
