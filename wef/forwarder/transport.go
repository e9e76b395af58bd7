package forwarder

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"wefgate/wef/soap"
)

// Security is how a simulated host authenticates and protects messages:
// client certificates over TLS, or Kerberos with message encryption.
type Security interface {
	// Dial opens a connection to u's host.
	Dial(ctx context.Context, u *url.URL) (net.Conn, error)
	// Handshake runs once on every new connection before any message, as
	// Windows does (Kerberos: the empty authenticating POST).
	Handshake(ctx context.Context, c *Conn, u *url.URL) (Sealer, error)
}

// Sealer protects the messages of one connection.
type Sealer interface {
	// Seal returns the Content-Type and body to send for a SOAP body
	// (UTF-16LE, possibly SLDC-compressed).
	Seal(soapBody []byte) (contentType string, body []byte, err error)
	// Open returns the SOAP bytes of a response.
	Open(contentType string, body []byte) ([]byte, error)
}

// TLSSecurity presents a client certificate, as a host enrolled with a GPO
// IssuerCA does. Bodies are plain SOAP.
type TLSSecurity struct {
	Config *tls.Config
	// Source, when valid, is the local address the host's connections
	// come from: the load driver gives each simulated host its own
	// loopback address, as real hosts have their own.
	Source netip.Addr
}

// Dial implements Security.
func (s TLSSecurity) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	d := tls.Dialer{NetDialer: dialer(s.Source), Config: s.Config.Clone()}
	if d.Config.ServerName == "" {
		d.Config.ServerName = u.Hostname()
	}
	c, err := d.DialContext(ctx, "tcp", hostPort(u))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Host, err)
	}
	return c, nil
}

// Handshake implements Security.
func (TLSSecurity) Handshake(context.Context, *Conn, *url.URL) (Sealer, error) {
	return plainSealer{}, nil
}

type plainSealer struct{}

func (plainSealer) Seal(b []byte) (string, []byte, error)   { return soap.ContentType, b, nil }
func (plainSealer) Open(_ string, b []byte) ([]byte, error) { return b, nil }

// dialer connects from source when it is valid. Its 60 s timeout, which
// covers the TLS handshake too, is WinHTTP's default connect timeout: a
// host waits for a busy collector rather than giving up and coming back.
func dialer(source netip.Addr) *net.Dialer {
	d := &net.Dialer{Timeout: time.Minute}
	if source.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
	}
	return d
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if strings.EqualFold(u.Scheme, "https") {
		return net.JoinHostPort(u.Hostname(), "5986")
	}
	return net.JoinHostPort(u.Hostname(), "5985")
}

func newConn(nc net.Conn, host string) *Conn {
	return &Conn{nc: nc, br: bufio.NewReader(nc), host: host}
}

// Conn is one HTTP/1.1 connection, driven by hand so that authentication
// state is tied to it exactly as Windows ties it.
type Conn struct {
	nc     net.Conn
	br     *bufio.Reader
	sealer Sealer
	host   string
	// failed is set when a request could not be written or its response
	// read: Close then closes the socket without a TLS close_notify.
	failed bool
}

// Response is an HTTP response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// RoundTrip sends one request and reads its response.
func (c *Conn) RoundTrip(ctx context.Context, path string, header http.Header, body []byte) (*Response, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(dl)
	} else {
		_ = c.nc.SetDeadline(time.Now().Add(2 * time.Minute))
	}
	// Cancelling ctx interrupts a request in flight.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Now()) })
	defer stop()
	// The headers, then the body as it is (no copy: a fleet of hosts
	// waiting for their Acks would hold thousands of them).
	var head bytes.Buffer
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Microsoft WinRM Client\r\nContent-Length: %d\r\n", path, c.host, len(body))
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	if _, err := c.nc.Write(head.Bytes()); err != nil {
		c.failed = true
		return nil, fmt.Errorf("send: %w", err)
	}
	if _, err := c.nc.Write(body); err != nil {
		c.failed = true
		return nil, fmt.Errorf("send: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.failed = true
		return nil, fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		c.failed = true
		return nil, fmt.Errorf("read response body: %w", err)
	}
	if resp.Close {
		c.nc.Close()
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: rb}, nil
}

// Close closes the connection. After a failed request it closes the
// socket under TLS: crypto/tls would send close_notify encrypted with the
// sequence number after a record that never went out (a write whose
// deadline had passed), which the collector reads as a corrupt record
// ("bad record MAC") instead of a host that went away.
func (c *Conn) Close() error {
	if nc, ok := c.nc.(interface{ NetConn() net.Conn }); ok && c.failed {
		return nc.NetConn().Close()
	}
	return c.nc.Close()
}

// StatusError is a non-2xx answer from the collector.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return "collector answered " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + ": " + strings.TrimSpace(e.Body)
}
