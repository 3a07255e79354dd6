package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The exec protocol. POST .../exec with "Connection: Upgrade" and
// "Upgrade: quai-exec/1" switches the connection (101) to a raw stream of
// frames in both directions: 1 byte of type, 4 bytes of big-endian payload
// length, the payload. The client sends stdin, stdin-EOF and resize frames;
// the daemon sends stdout, stderr and, last, exactly one exit or error frame.
const ExecUpgrade = "quai-exec/1"

// Query parameters of POST .../exec.
const (
	ExecService = "service"
	ExecCmd     = "cmd" // repeated, one per argument
	ExecTTY     = "tty"
	ExecStdin   = "stdin" // attach stdin
	ExecRows    = "rows"  // initial terminal size, with tty
	ExecCols    = "cols"
)

// FrameType is the kind of an exec frame.
type FrameType byte

// Frame types.
const (
	FrameStdin    FrameType = 0
	FrameStdout   FrameType = 1
	FrameStderr   FrameType = 2
	FrameResize   FrameType = 3 // 2 bytes rows, 2 bytes cols
	FrameExit     FrameType = 4 // 4 bytes exit code (int32)
	FrameError    FrameType = 5 // message: the command could not run
	FrameStdinEOF FrameType = 6
)

// MaxFrame bounds a frame's payload so a broken peer cannot make the other
// side allocate without limit.
const MaxFrame = 1 << 20

// ErrFrameTooLarge is returned when a peer announces a frame over MaxFrame.
var ErrFrameTooLarge = errors.New("exec frame too large")

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, t FrameType, payload []byte) error {
	if len(payload) > MaxFrame {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = byte(t)
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	_, err := w.Write(buf)
	return err
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (FrameType, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:5])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("read exec frame: %w", err)
	}
	return FrameType(hdr[0]), payload, nil
}

// ResizePayload encodes a terminal size.
func ResizePayload(rows, cols uint16) []byte {
	var b [4]byte
	binary.BigEndian.PutUint16(b[0:2], rows)
	binary.BigEndian.PutUint16(b[2:4], cols)
	return b[:]
}

// ParseResize decodes a resize payload.
func ParseResize(p []byte) (rows, cols uint16, ok bool) {
	if len(p) != 4 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(p[0:2]), binary.BigEndian.Uint16(p[2:4]), true
}

// ExitPayload encodes an exit code.
func ExitPayload(code int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	return b[:]
}

// ParseExit decodes an exit payload.
func ParseExit(p []byte) (int, bool) {
	if len(p) != 4 {
		return 0, false
	}
	return int(int32(binary.BigEndian.Uint32(p))), true
}

// FrameWriter writes frames of one type; several FrameWriters may share a
// connection through the same mutex.
type FrameWriter struct {
	Mu   *sync.Mutex
	W    io.Writer
	Type FrameType
}

// Write sends p as frames, splitting at MaxFrame.
func (f *FrameWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > MaxFrame {
			chunk = chunk[:MaxFrame]
		}
		f.Mu.Lock()
		err := WriteFrame(f.W, f.Type, chunk)
		f.Mu.Unlock()
		if err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// TermSize is a terminal size, sent in resize frames.
type TermSize struct{ Rows, Cols uint16 }
