package server

import (
	"bytes"
	"log/slog"
	"net"
	"sync/atomic"

	"wefgate/internal/ratelog"
)

// plainHTTPListener sits just below TLS on the HTTPS listener and watches
// the first bytes of each connection. A host whose GPO URL says http:// but
// names the HTTPS port (a common set-up mistake) sends a plain HTTP request
// there; net/http answers it 400 without logging anything, which leaves an
// operator nothing to find. This names the host and the reason, rate-limited
// like every refusal. It only observes: the bytes still go to TLS.
type plainHTTPListener struct {
	net.Listener
	name   string
	logs   *ratelog.Limiter
	logger *slog.Logger
}

func (l *plainHTTPListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, l: l}, nil
}

type sniffConn struct {
	net.Conn
	l    *plainHTTPListener
	seen atomic.Bool
}

// NetConn returns the connection below, as tls.Conn.NetConn does, so that
// what sits under TLS can still be found (see limitedOf).
func (c *sniffConn) NetConn() net.Conn { return c.Conn }

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.seen.Swap(true) && looksLikePlainHTTP(p[:n]) {
		addr := sourceAddress(c.RemoteAddr())
		c.l.logs.Log(c.l.logger, slog.LevelWarn, "refused a connection", "plain HTTP request on the HTTPS listener (GPO URL with http:// and the HTTPS port?)",
			addr, "listener", c.l.name, "remote", addr)
	}
	return n, err
}

// looksLikePlainHTTP reports whether the first bytes of a connection start
// an HTTP/1.x request rather than a TLS record (whose first byte is 0x14 to
// 0x17, never a letter).
func looksLikePlainHTTP(b []byte) bool {
	for _, m := range [...][]byte{[]byte("POST "), []byte("GET "), []byte("HEAD "), []byte("PUT "), []byte("OPTIONS "), []byte("DELETE ")} {
		if bytes.HasPrefix(b, m) || (len(b) < len(m) && bytes.HasPrefix(m, b) && len(b) >= 3) {
			return true
		}
	}
	return false
}
