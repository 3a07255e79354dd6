//go:build !(linux || darwin || freebsd)

package proxy

// alive cannot peek without blocking here; a stale connection shows as a
// failed request, which idempotent requests retry.
func alive(c *upConn) bool { return c.br.Buffered() == 0 }
