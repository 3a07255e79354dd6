package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// buildRequest is the HTTP/1.1 request every client writes, as bytes.
func buildRequest(o *Options) []byte {
	var b bytes.Buffer
	target := o.URL.RequestURI()
	host := o.URL.Host
	if h := o.Header.Get("Host"); h != "" {
		host = h
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", o.Method, target, host)
	has := func(k string) bool { return len(o.Header.Values(k)) > 0 }
	if !has("User-Agent") {
		b.WriteString("User-Agent: quai-loadtest\r\n")
	}
	if !has("Accept") {
		b.WriteString("Accept: */*\r\n")
	}
	keys := make([]string, 0, len(o.Header))
	for k := range o.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Host" || ck == "Content-Length" || ck == "Connection" || ck == "Transfer-Encoding" {
			continue
		}
		for _, v := range o.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if len(o.Body) > 0 || o.Method == http.MethodPost || o.Method == http.MethodPut || o.Method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(o.Body))
	}
	b.WriteString("\r\n")
	b.Write(o.Body)
	return b.Bytes()
}

// h1conn is one client's HTTP/1.1 connection.
type h1conn struct {
	c    net.Conn
	br   *bufio.Reader
	req  []byte
	head bool // HEAD: answers carry no body
}

func newH1(c net.Conn, req []byte, head bool, br *bufio.Reader) *h1conn {
	if br == nil {
		br = bufio.NewReaderSize(c, 16<<10)
	} else {
		br.Reset(c)
	}
	return &h1conn{c: c, br: br, req: req, head: head}
}

// do sends the request and reads the whole answer. It returns the status,
// the bytes read (status line, headers and body as sent), and whether the
// connection can carry another request.
func (h *h1conn) do() (status int, read int64, keep bool, err error) {
	if _, err := h.c.Write(h.req); err != nil {
		return 0, 0, false, err
	}
	for {
		status, read, keep, err = h.readResponse(read)
		// An interim answer (100 Continue, 103 Early Hints) is followed by
		// the real one.
		if err != nil || status >= 200 || status == http.StatusSwitchingProtocols {
			return status, read, keep, err
		}
	}
}

func (h *h1conn) readResponse(read int64) (int, int64, bool, error) {
	line, err := h.line()
	read += int64(len(line))
	if err != nil {
		return 0, read, false, err
	}
	// HTTP/1.x SP 3DIGIT SP reason
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, read, false, fmt.Errorf("%w: status line %q", errProtocol, trimLine(line))
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, read, false, fmt.Errorf("%w: status line %q", errProtocol, trimLine(line))
		}
		status = status*10 + int(c-'0')
	}
	keep := line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	length, chunked := int64(-1), false
	for {
		line, err := h.line()
		read += int64(len(line))
		if err != nil {
			return status, read, false, err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return status, read, false, fmt.Errorf("%w: header line %q", errProtocol, trimLine(line))
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return status, read, false, fmt.Errorf("%w: Content-Length %q", errProtocol, value)
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case equalFold(name, "connection"):
			v := strings.ToLower(string(value))
			if strings.Contains(v, "close") {
				keep = false
			} else if strings.Contains(v, "keep-alive") {
				keep = true
			}
		}
	}
	switch {
	case h.head || status < 200 || status == http.StatusNoContent || status == http.StatusNotModified:
	case chunked:
		n, err := h.chunks()
		read += n
		if err != nil {
			return status, read, false, err
		}
	case length >= 0:
		n, err := h.br.Discard(int(length))
		read += int64(n)
		if err != nil {
			return status, read, false, unexpected(err)
		}
	default:
		// No length: the body lasts until the server closes.
		n, err := io.Copy(io.Discard, h.br)
		return status, read + n, false, err
	}
	return status, read, keep, nil
}

// chunks discards a chunked body and its trailers.
func (h *h1conn) chunks() (int64, error) {
	var read int64
	for {
		line, err := h.line()
		read += int64(len(line))
		if err != nil {
			return read, err
		}
		size := bytes.TrimSpace(line)
		if i := bytes.IndexByte(size, ';'); i >= 0 {
			size = size[:i]
		}
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil || n < 0 {
			return read, fmt.Errorf("%w: chunk size %q", errProtocol, trimLine(line))
		}
		if n == 0 {
			break
		}
		d, err := h.br.Discard(int(n) + 2)
		read += int64(d)
		if err != nil {
			return read, unexpected(err)
		}
	}
	for { // trailers, up to the empty line
		line, err := h.line()
		read += int64(len(line))
		if err != nil {
			return read, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return read, nil
		}
	}
}

// line reads one line, ending with its \n; a longer line than the buffer
// is read through (the headers that matter here are short).
func (h *h1conn) line() ([]byte, error) {
	line, err := h.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		n := len(line)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = h.br.ReadSlice('\n')
			n += len(line)
		}
		if err != nil {
			return nil, unexpected(err)
		}
		// Only its length matters now: an unknown header of that length.
		long := bytes.Repeat([]byte{'x'}, n)
		long[1], long[n-2], long[n-1] = ':', '\r', '\n'
		return long, nil
	}
	return line, unexpected(err)
}

// unexpected turns an EOF in the middle of an answer into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func trimLine(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(bytes.TrimRight(b, "\r\n"))
}

// equalFold compares an ASCII header name with a lower-case one.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
