package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"wefgate/wef/soap"
)

// Client sends SOAP messages for one simulated host, keeping one
// authenticated connection per collector address as Windows does.
type Client struct {
	Security Security
	// Compress, when set, SLDC-compresses delivery bodies (the subscription
	// decides whether to call it).
	Compress func([]byte) []byte

	mu    sync.Mutex
	conns map[string]*Conn
}

// Send posts a SOAP body (UTF-8 XML) to u and returns the response SOAP
// (UTF-8), or nil for an empty 2xx answer. compress asks for SLDC.
func (c *Client) Send(ctx context.Context, u *url.URL, soapXML []byte, compress bool) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body := soap.EncodeUTF16LE(soapXML)
	header := http.Header{}
	if compress && c.Compress != nil {
		body = c.Compress(body)
		header.Set("Content-Encoding", "SLDC")
	}
	// A kept-alive connection may have been closed by the server since the
	// last message; one retry on a fresh connection covers that.
	for attempt := 0; ; attempt++ {
		conn, fresh, err := c.conn(ctx, u)
		if err != nil {
			return nil, err
		}
		ct, sealed, err := conn.sealer.Seal(body)
		if err != nil {
			c.drop(u)
			return nil, fmt.Errorf("seal: %w", err)
		}
		h := header.Clone()
		h.Set("Content-Type", ct)
		resp, err := conn.RoundTrip(ctx, u.RequestURI(), h, sealed)
		if err != nil {
			c.drop(u)
			if !fresh && attempt == 0 {
				continue
			}
			return nil, err
		}
		if resp.Status == http.StatusUnauthorized && !fresh && attempt == 0 {
			c.drop(u)
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
			c.drop(u)
			return nil, fmt.Errorf("open response: %w", err)
		}
		text, _ := soap.DecodeText(plain)
		return text, nil
	}
}

func (c *Client) conn(ctx context.Context, u *url.URL) (*Conn, bool, error) {
	key := u.Scheme + "://" + u.Host
	if cn, ok := c.conns[key]; ok {
		return cn, false, nil
	}
	nc, err := c.Security.Dial(ctx, u)
	if err != nil {
		return nil, false, err
	}
	cn := newConn(nc, u.Host)
	sealer, err := c.Security.Handshake(ctx, cn, u)
	if err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("authenticate to %s: %w", u.Host, err)
	}
	cn.sealer = sealer
	if c.conns == nil {
		c.conns = map[string]*Conn{}
	}
	c.conns[key] = cn
	return cn, true, nil
}

func (c *Client) drop(u *url.URL) {
	key := u.Scheme + "://" + u.Host
	if cn, ok := c.conns[key]; ok {
		cn.Close()
		delete(c.conns, key)
	}
}

// CloseAll closes every connection (Windows closes the enumeration
// connection after End).
func (c *Client) CloseAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cn := range c.conns {
		cn.Close()
		delete(c.conns, k)
	}
}

// IsStatus reports whether err is a StatusError with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}
