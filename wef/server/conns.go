package server

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"wefgate/internal/ratelog"
)

// ConnStats counts one listener's connections. Safe for concurrent use.
type ConnStats struct {
	// Open is the number of connections open now.
	Open atomic.Int64
	// Accepted counts connections admitted; AcceptErrors failed accepts
	// (out of descriptors, for example).
	Accepted, AcceptErrors atomic.Uint64
	// RefusedTotal and RefusedPerAddress count connections closed at once
	// because the listener's cap, or its cap for that source address, was
	// reached.
	RefusedTotal, RefusedPerAddress atomic.Uint64
	// HandshakeWaits counts the times the listener stopped accepting
	// because limits.max_handshakes connections were unauthenticated.
	HandshakeWaits atomic.Uint64
}

// connLimiter admits a listener's connections within its caps: in total
// and per source address, so one address (a slowloris) cannot take every
// slot, and each listener has its own so the two cannot starve each other.
// A connection over a cap is closed at once, before TLS, without reading
// it. Admitted connections get the short unauthenticated deadline until
// the handler authenticates them. At most maxHandshakes admitted
// connections are unauthenticated at once: beyond that Accept waits, and
// new connections wait in the kernel's accept queue, before their
// handshake deadline starts.
type connLimiter struct {
	net.Listener
	name      string
	max       int
	perAddr   int
	handshake time.Duration
	stats     *ConnStats
	logs      *ratelog.Limiter
	logger    *slog.Logger
	// handshakes holds a token per unauthenticated connection (nil: no
	// cap); closed is closed by Close to wake an Accept waiting for one.
	handshakes chan struct{}
	closed     chan struct{}
	closeOnce  sync.Once
	// perAddrHandshakes caps the unauthenticated connections of one
	// source address, so that one address cannot hold every handshake
	// slot and stop the listener accepting.
	perAddrHandshakes int

	mu          sync.Mutex
	open        int
	byAddr      map[string]int
	handshaking map[string]int
}

func newConnLimiter(inner net.Listener, name string, lim Limits, stats *ConnStats, logs *ratelog.Limiter, logger *slog.Logger) *connLimiter {
	if stats == nil {
		stats = &ConnStats{}
	}
	l := &connLimiter{
		Listener: inner, name: name, max: lim.MaxConnections, perAddr: lim.MaxConnectionsPerAddress,
		handshake: lim.HandshakeTimeout, stats: stats, logs: logs, logger: logger, byAddr: map[string]int{},
		closed: make(chan struct{}), handshaking: map[string]int{},
	}
	if lim.MaxHandshakes > 0 {
		l.handshakes = make(chan struct{}, lim.MaxHandshakes)
		l.perAddrHandshakes = max(lim.MaxHandshakes/handshakeShare, 1)
	}
	return l
}

// handshakeShare is the part of limits.max_handshakes one source address
// may hold: an eighth, 128 by default (hosts behind one NAT address
// reconnecting at once are refused beyond it and retry).
const handshakeShare = 8

// Close implements net.Listener; it also wakes an Accept waiting for a
// handshake slot.
func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// takeHandshake waits for room for one more unauthenticated connection.
func (l *connLimiter) takeHandshake() error {
	if l.handshakes == nil {
		return nil
	}
	select {
	case l.handshakes <- struct{}{}:
		return nil
	default:
	}
	l.stats.HandshakeWaits.Add(1)
	select {
	case l.handshakes <- struct{}{}:
		return nil
	case <-l.closed:
		return net.ErrClosed
	}
}

func (l *connLimiter) giveHandshake() {
	if l.handshakes != nil {
		<-l.handshakes
	}
}

// handshakeDone gives back an admitted connection's handshake slot and
// its address's share.
func (l *connLimiter) handshakeDone(addr string) {
	if l.handshakes == nil {
		return
	}
	l.mu.Lock()
	if l.handshaking[addr]--; l.handshaking[addr] <= 0 {
		delete(l.handshaking, addr)
	}
	l.mu.Unlock()
	l.giveHandshake()
}

// Accept implements net.Listener. Accept errors go back to http.Server,
// which backs off on temporary ones (EMFILE); they are counted and logged
// here, rate-limited.
func (l *connLimiter) Accept() (net.Conn, error) {
	if err := l.takeHandshake(); err != nil {
		return nil, err
	}
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.giveHandshake()
			if !errors.Is(err, net.ErrClosed) {
				l.stats.AcceptErrors.Add(1)
				l.logs.Log(l.logger, slog.LevelWarn, "accept failed", "accept error", l.name, "listener", l.name, "error", err)
			}
			return nil, err
		}
		addr := sourceAddress(c.RemoteAddr())
		if reason, ok := l.admit(addr); !ok {
			c.Close()
			l.logs.Log(l.logger, slog.LevelWarn, "refused a connection", reason, addr, "listener", l.name, "remote", addr)
			continue
		}
		l.stats.Accepted.Add(1)
		lc := &limitedConn{Conn: c, l: l, addr: addr, short: l.handshake, handshaking: true}
		if l.handshake > 0 {
			lc.Conn.SetDeadline(time.Now().Add(l.handshake))
		}
		return lc, nil
	}
}

func (l *connLimiter) admit(addr string) (reason string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open >= l.max {
		l.stats.RefusedTotal.Add(1)
		return "listener connection cap reached (limits.max_connections)", false
	}
	if l.perAddr > 0 && l.byAddr[addr] >= l.perAddr {
		l.stats.RefusedPerAddress.Add(1)
		return "source address connection cap reached (limits.max_connections_per_address)", false
	}
	if l.perAddrHandshakes > 0 && l.handshaking[addr] >= l.perAddrHandshakes {
		l.stats.RefusedPerAddress.Add(1)
		return "source address has its share of unauthenticated connections (limits.max_handshakes / 8)", false
	}
	l.open++
	l.byAddr[addr]++
	if l.perAddrHandshakes > 0 {
		l.handshaking[addr]++
	}
	l.stats.Open.Add(1)
	return "", true
}

func (l *connLimiter) done(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
	l.stats.Open.Add(-1)
}

// sourceAddress is the IP of a remote address (the port varies per
// connection, the host does not).
func sourceAddress(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn is an admitted connection. Until the handler authenticates
// its peer, no deadline set on it (by TLS, or by http.Server for headers
// and between requests) may lie further than the handshake timeout from
// now: an unauthenticated client cannot hold it longer.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	addr  string
	short time.Duration

	mu            sync.Mutex
	authenticated bool
	// handshaking is true while the connection holds one of the
	// listener's handshake slots (until it authenticates or closes).
	handshaking bool
	// read and write are the deadlines asked for, restored once the peer
	// is authenticated.
	read, write time.Time
	closed      bool
}

func (c *limitedConn) clamp(t time.Time) time.Time {
	if c.authenticated || c.short <= 0 {
		return t
	}
	limit := time.Now().Add(c.short)
	if t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

// SetDeadline implements net.Conn.
func (c *limitedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read, c.write = t, t
	return c.Conn.SetDeadline(c.clamp(t))
}

// SetReadDeadline implements net.Conn.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = t
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetWriteDeadline implements net.Conn.
func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write = t
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// authenticate lifts the short deadline, restoring the ones asked for.
func (c *limitedConn) authenticate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authenticated {
		return
	}
	c.authenticated = true
	c.endHandshakeLocked()
	c.Conn.SetReadDeadline(c.read)
	c.Conn.SetWriteDeadline(c.write)
}

// Close implements net.Conn, giving the slot back once.
func (c *limitedConn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.endHandshakeLocked()
	c.mu.Unlock()
	if first {
		c.l.done(c.addr)
	}
	return c.Conn.Close()
}

// endHandshakeLocked gives the listener's handshake slot back, once.
func (c *limitedConn) endHandshakeLocked() {
	if c.handshaking {
		c.handshaking = false
		c.l.handshakeDone(c.addr)
	}
}

// limitedOf finds the limitedConn under c, looking through the wrappers
// above it (TLS, the plain-HTTP sniffer) by their NetConn methods.
func limitedOf(c net.Conn) *limitedConn {
	for c != nil {
		switch w := c.(type) {
		case *limitedConn:
			return w
		case interface{ NetConn() net.Conn }:
			c = w.NetConn()
		default:
			return nil
		}
	}
	return nil
}
