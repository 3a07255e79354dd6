//go:build linux || darwin || freebsd

package proxy

import (
	"errors"
	"syscall"
)

// alive peeks at an idle upstream connection without blocking: a pending
// EOF (the server closed it) or unsolicited bytes make it unusable.
func alive(c *upConn) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = n <= 0 && errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && ok
}
