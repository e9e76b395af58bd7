package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"wefgate/wef/soap"
)

// Client sends SOAP messages for one simulated host. Like Windows it keeps
// one authenticated keep-alive connection per target URL: the
// subscription manager's, and one per subscription's delivery address, so
// a host's subscriptions never wait on each other.
type Client struct {
	Security Security
	// Compress, when set, SLDC-compresses delivery bodies (the subscription
	// decides whether to call it).
	Compress func([]byte) []byte

	mu    sync.Mutex // guards conns (not the connections themselves)
	conns map[string]*slot
	open  atomic.Int64 // connections currently open
}

// OpenConnections is the number of connections the client holds open.
func (c *Client) OpenConnections() int { return int(c.open.Load()) }

// slot is the connection to one URL; its mutex serialises the messages on
// it, as Windows waits for each Ack before the next batch.
type slot struct {
	mu   sync.Mutex
	conn *Conn
	open *atomic.Int64 // the client's count of open connections
}

// Send posts a SOAP body (UTF-8 XML) to u and returns the response SOAP
// (UTF-8), or nil for an empty 2xx answer. compress asks for SLDC.
func (c *Client) Send(ctx context.Context, u *url.URL, soapXML []byte, compress bool) ([]byte, error) {
	body := soap.EncodeUTF16LE(soapXML)
	compressed := false
	if compress && c.Compress != nil {
		body = c.Compress(body)
		compressed = true
	}
	return c.SendEncoded(ctx, u, body, compressed)
}

// SendEncoded posts a body that is already UTF-16LE SOAP, SLDC-compressed
// when compressed is set: the load driver replays pre-built batches this
// way. The connection's Sealer still seals every message, so a Kerberos
// connection gets a fresh sequence number each time (the collector
// refuses a replayed one).
func (c *Client) SendEncoded(ctx context.Context, u *url.URL, body []byte, compressed bool) ([]byte, error) {
	s := c.slot(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	header := http.Header{}
	if compressed {
		header.Set("Content-Encoding", "SLDC")
	}
	// A kept-alive connection may have been closed by the server since the
	// last message; one retry on a fresh connection covers that.
	for attempt := 0; ; attempt++ {
		fresh := s.conn == nil
		if fresh {
			cn, err := c.dial(ctx, u)
			if err != nil {
				return nil, err
			}
			s.conn = cn
			s.open = &c.open
			c.open.Add(1)
		}
		conn := s.conn
		ct, sealed, err := conn.sealer.Seal(body)
		if err != nil {
			s.drop()
			return nil, fmt.Errorf("seal: %w", err)
		}
		h := header.Clone()
		h.Set("Content-Type", ct)
		resp, err := conn.RoundTrip(ctx, u.RequestURI(), h, sealed)
		if err != nil {
			s.drop()
			if !fresh && attempt == 0 {
				continue
			}
			return nil, err
		}
		if resp.Status == http.StatusUnauthorized && !fresh && attempt == 0 {
			s.drop()
			continue
		}
		if resp.Status/100 != 2 {
			return nil, &StatusError{Status: resp.Status, Body: string(resp.Body)}
		}
		if len(resp.Body) == 0 {
			return nil, nil
		}
		plain, err := conn.sealer.Open(resp.Header.Get("Content-Type"), resp.Body)
		if err != nil {
			s.drop()
			return nil, fmt.Errorf("open response: %w", err)
		}
		text, _ := soap.DecodeText(plain)
		return text, nil
	}
}

func connKey(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

func (c *Client) slot(u *url.URL) *slot {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := connKey(u)
	s, ok := c.conns[key]
	if !ok {
		if c.conns == nil {
			c.conns = map[string]*slot{}
		}
		s = &slot{}
		c.conns[key] = s
	}
	return s
}

func (c *Client) dial(ctx context.Context, u *url.URL) (*Conn, error) {
	nc, err := c.Security.Dial(ctx, u)
	if err != nil {
		return nil, err
	}
	cn := newConn(nc, u.Host)
	sealer, err := c.Security.Handshake(ctx, cn, u)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("authenticate to %s: %w", u.Host, err)
	}
	cn.sealer = sealer
	return cn, nil
}

func (s *slot) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
		s.open.Add(-1)
	}
}

// Close closes the connection to u, if any (Windows closes the
// enumeration connection after End). It waits for a message in flight on
// that connection.
func (c *Client) Close(u *url.URL) {
	c.mu.Lock()
	s, ok := c.conns[connKey(u)]
	delete(c.conns, connKey(u))
	c.mu.Unlock()
	if ok {
		s.mu.Lock()
		s.drop()
		s.mu.Unlock()
	}
}

// CloseAll closes every connection, waiting for messages in flight.
func (c *Client) CloseAll() {
	c.mu.Lock()
	slots := c.conns
	c.conns = nil
	c.mu.Unlock()
	for _, s := range slots {
		s.mu.Lock()
		s.drop()
		s.mu.Unlock()
	}
}

// IsStatus reports whether err is a StatusError with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}
