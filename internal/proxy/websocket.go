package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// tunnelLinger is how long the second direction of a tunnel may go on
// after the first has closed, for a close handshake to finish.
const tunnelLinger = 5 * time.Second

// isUpgrade reports an HTTP/1.1 protocol upgrade such as a WebSocket
// handshake.
func isUpgrade(r *http.Request) bool {
	conn := r.Header["Connection"]
	return len(conn) > 0 && len(r.Header["Upgrade"]) > 0 && listed(conn, "upgrade")
}

// serveUpgrade passes an upgrade through: the handshake goes to a target
// and, if it answers 101, the two connections are joined until either side
// closes or Drain cuts them.
func (p *Proxy) serveUpgrade(w http.ResponseWriter, r *http.Request, rt *route) result {
	if len(rt.targets) == 0 {
		return result{status: p.unavailable(w, r, canonicalHost(r.Host))}
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return result{status: p.plainError(w, http.StatusHTTPVersionNotSupported, "quai: protocol upgrades need HTTP/1.1\n")}
	}
	var tried [maxAttempts]*target
	attempts := min(maxAttempts, len(rt.targets))
	var res result
	for i := 0; i < attempts; i++ {
		t := p.acquire(&rt, stdRequest{r}, tried[:i])
		if t == nil {
			break
		}
		tried[i] = t
		res.target = t
		status, err := p.upgradeTo(w, hj, r, t)
		t.inflight.Add(-1)
		res.status = status
		var ue *upstreamError
		if err == nil || !errors.As(err, &ue) || !ue.beforeResponse {
			break
		}
	}
	if res.status == 0 {
		res.status = p.plainError(w, http.StatusBadGateway, "quai: upstream for %s%s failed\n", rt.Host, rt.Path)
	}
	return res
}

func (p *Proxy) upgradeTo(w http.ResponseWriter, hj http.Hijacker, r *http.Request, t *target) (int, error) {
	nc, err := p.dialer.DialContext(r.Context(), "tcp", t.addr)
	if err != nil {
		t.markDown()
		return 0, &upstreamError{err: err, beforeResponse: true}
	}
	t.markUp()
	up := &upConn{conn: nc, br: bufio.NewReader(nc), bw: bufio.NewWriterSize(nc, 4<<10), t: t}
	writeHead(up.bw, r, p.trustForwarded, true, 0)
	if err := up.bw.Flush(); err != nil {
		_ = nc.Close()
		return 0, &upstreamError{err: err, beforeResponse: true}
	}
	if _, err := up.br.Peek(1); err != nil {
		_ = nc.Close()
		return 0, &upstreamError{err: err, beforeResponse: true}
	}
	resp, err := readResponse(up.br, r)
	if err != nil {
		_ = nc.Close()
		return 0, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The upstream declined; its answer goes back as is.
		status, _, err := p.copyResponse(w, resp)
		_ = nc.Close()
		return status, err
	}
	client, brw, err := hj.Hijack()
	if err != nil {
		_ = nc.Close()
		return 0, err
	}
	_ = client.SetDeadline(time.Time{})
	tn := &tunnel{client: client, upstream: nc}
	t.addTunnel(tn)
	defer t.removeTunnel(tn)
	defer tn.close()

	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = resp.Header.Write(brw)
	_, _ = brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return http.StatusSwitchingProtocols, nil
	}
	join(client, brw.Reader, nc, up.br)
	return http.StatusSwitchingProtocols, nil
}

// join copies both ways until both directions end. When one ends, its
// write side is shut so the peer sees EOF, and the other gets a short
// grace period to finish before both are closed.
func join(client net.Conn, clientR io.Reader, upstream net.Conn, upstreamR io.Reader) {
	var wg sync.WaitGroup
	pipe := func(dst net.Conn, src io.Reader) {
		defer wg.Done()
		bp := bufPool.Get().(*[]byte)
		_, _ = io.CopyBuffer(writerOnly{dst}, src, *bp)
		bufPool.Put(bp)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		// dst is the source of the other direction.
		_ = dst.SetReadDeadline(time.Now().Add(tunnelLinger))
	}
	wg.Add(2)
	go pipe(upstream, clientR)
	go pipe(client, upstreamR)
	wg.Wait()
}
