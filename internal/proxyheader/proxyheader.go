// Package proxyheader accepts the PROXY protocol (HAProxy's, versions 1
// and 2: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt) on
// a listener, from trusted load balancers only, so that behind an L4
// balancer the endpoint sees each Windows host's own address.
//
// A connection from a trusted network may start with a PROXY header; its
// source address becomes the connection's RemoteAddr (a LOCAL header, the
// balancer's own health check, keeps the balancer's). A connection from
// anywhere else that starts with a PROXY header is refused and logged:
// trusting it would let any client claim any address. A connection
// without a header is served as a direct one. Headers are parsed by
// github.com/pires/go-proxyproto.
//
// Headers are read in a goroutine per connection, bounded by
// HeaderTimeout, so that a silent peer never holds up Accept.
package proxyheader

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"

	"wefgate/internal/ratelog"
)

// Config is the "proxy_protocol" section.
type Config struct {
	// TrustedNetworks are the addresses or CIDR prefixes of the load
	// balancers allowed to send a PROXY header (e.g. 10.0.0.5,
	// 10.0.1.0/28). Empty: the PROXY protocol is off.
	TrustedNetworks []string `yaml:"trusted_networks"`
	// HeaderTimeout bounds the wait for a connection's first bytes; 0
	// (header_timeout: 0 in the file) means DefaultHeaderTimeout, which
	// Wrap applies.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
}

// MaxPendingHeaders bounds the connections whose header is being read at
// once, per listener. The endpoint's connection caps count a connection
// only once its header has named the host, so without this bound silent
// peers could hold any number of descriptors for HeaderTimeout each.
const MaxPendingHeaders = 1024

// DefaultHeaderTimeout is HeaderTimeout's default.
const DefaultHeaderTimeout = 10 * time.Second

// Default is the PROXY protocol off.
func Default() Config { return Config{HeaderTimeout: DefaultHeaderTimeout} }

// Validate checks the section; errors name the offending key.
func (c *Config) Validate() error {
	if _, err := c.prefixes(); err != nil {
		return err
	}
	if c.HeaderTimeout < 0 {
		return fmt.Errorf("proxy_protocol.header_timeout: %s is negative", c.HeaderTimeout)
	}
	return nil
}

// Enabled reports whether any network is trusted.
func (c *Config) Enabled() bool { return len(c.TrustedNetworks) > 0 }

func (c *Config) prefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.TrustedNetworks))
	for i, s := range c.TrustedNetworks {
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("proxy_protocol.trusted_networks[%d]: %q is not an address or CIDR prefix", i, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Listener wraps a bound listener; see the package documentation.
type Listener struct {
	inner   net.Listener
	trusted []netip.Prefix
	timeout time.Duration
	logger  *slog.Logger
	// refusals rate-limits refusal lines per reason and peer (nil: one
	// line per refusal).
	refusals *ratelog.Limiter

	ready chan net.Conn
	errc  chan error
	slots chan struct{} // one per header read in progress
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu      sync.Mutex
	reading map[net.Conn]struct{} // header reads in progress, closed by Close
	closed  bool
}

// track adds or removes a connection whose header is being read; adding
// fails once the listener is closed.
func (l *Listener) track(c net.Conn, add bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !add {
		delete(l.reading, c)
		return true
	}
	if l.closed {
		return false
	}
	l.reading[c] = struct{}{}
	return true
}

// Option changes a Wrap default.
type Option func(*Listener)

// WithRefusalLog rate-limits the refusal lines per reason and peer
// address: anyone who can connect can send a bad header.
func WithRefusalLog(l *ratelog.Limiter) Option { return func(p *Listener) { p.refusals = l } }

// Wrap starts accepting on inner; Close stops it and every header read in
// progress. cfg must have passed Validate.
func Wrap(inner net.Listener, cfg Config, logger *slog.Logger, opts ...Option) (*Listener, error) {
	trusted, err := cfg.prefixes()
	if err != nil {
		return nil, err
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	l := &Listener{
		inner: inner, trusted: trusted, timeout: cfg.HeaderTimeout, logger: logger,
		ready: make(chan net.Conn), errc: make(chan error), done: make(chan struct{}),
		reading: map[net.Conn]struct{}{}, slots: make(chan struct{}, MaxPendingHeaders),
	}
	for _, o := range opts {
		o(l)
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		// A free handshake slot first: connections beyond it wait in the
		// kernel's backlog, not as goroutines and descriptors of ours.
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		c, err := l.inner.Accept()
		if err != nil {
			<-l.slots
			select {
			case l.errc <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A temporary failure (out of descriptors): http.Server backs
			// off and calls Accept again.
			continue
		}
		l.wg.Add(1)
		go l.handshake(c)
	}
}

func (l *Listener) isTrusted(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (l *Listener) handshake(c net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	peer := c.RemoteAddr()
	br := bufio.NewReader(c)
	if !l.track(c, true) {
		c.Close()
		return
	}
	hdr, err := proxyproto.ReadHeaderTimeout(c, br, l.timeout)
	l.track(c, false)
	out := &conn{Conn: c, r: br}
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol), isTimeout(err):
		// A direct connection; the endpoint's own timeouts apply.
	case errors.Is(err, io.EOF) && br.Buffered() == 0:
		// Closed before sending anything: a balancer's TCP health check.
		c.Close()
		return
	case err != nil:
		l.refusals.Log(l.logger, slog.LevelWarn, "refused a connection: malformed PROXY header", "malformed PROXY header", hostOf(peer),
			"remote", peer.String(), "error", ratelog.Clip(err.Error()))
		c.Close()
		return
	case !l.isTrusted(peer):
		l.refusals.Log(l.logger, slog.LevelWarn, "refused a PROXY header from an untrusted peer (not in proxy_protocol.trusted_networks)",
			"PROXY header from an untrusted peer", hostOf(peer), "remote", peer.String(), "claimed_source", addrString(hdr.SourceAddr))
		c.Close()
		return
	case !hdr.Command.IsLocal() && hdr.SourceAddr != nil:
		out.remote = hdr.SourceAddr
	}
	select {
	case l.ready <- out:
	case <-l.done:
		c.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// hostOf is the address of a peer without its port.
func hostOf(a net.Addr) string {
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Accept returns the next connection whose header was read.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and waits for the header reads in progress.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
		l.mu.Lock()
		l.closed = true
		for c := range l.reading {
			c.Close()
		}
		l.mu.Unlock()
	})
	l.wg.Wait()
	return err
}

// Addr returns the bound address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// conn is a connection whose first bytes went through a bufio.Reader,
// with the source address of its PROXY header, if any.
type conn struct {
	net.Conn
	r      *bufio.Reader
	remote net.Addr
}

func (c *conn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

// RemoteAddr is the host's address from the PROXY header, or the peer's.
func (c *conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}
