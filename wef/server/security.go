package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"wefgate/internal/ratelog"
	"wefgate/wef/kerberos"
	"wefgate/wef/soap"
)

// Peer is an authenticated forwarder.
type Peer struct {
	// Identity is the authenticated host identity (lower-cased certificate
	// CN, or Kerberos principal).
	Identity string
	// Auth is the delivery policy this host must be given in subscriptions.
	Auth soap.Auth
}

// Security is one listener's authentication and message protection.
type Security interface {
	// Authenticate establishes the peer of r. When handled is true the
	// Security has answered the request itself (an authentication round
	// trip or a refusal) and the server does nothing more with it.
	Authenticate(w http.ResponseWriter, r *http.Request, conn *Conn) (peer Peer, handled bool)
	// Open turns a request body as received into the SOAP bytes (for
	// example by decrypting it).
	Open(r *http.Request, conn *Conn, body []byte) ([]byte, error)
	// Seal writes a SOAP response (UTF-16LE bytes) with status code.
	Seal(w http.ResponseWriter, conn *Conn, status int, soapBody []byte) error
}

// Conn is the per-TCP-connection state: Kerberos security contexts live
// for a connection, not a request, and Windows relies on that.
type Conn struct {
	Remote string
	mu     sync.Mutex
	// Kerberos is the security context a KerberosSecurity established on
	// this connection (nil before, or once it must be re-established).
	// Used under Lock.
	Kerberos *kerberos.Context
	// tabbedMultipart is the multipart/encrypted framing of the last
	// sealed request: replies mirror it (see multipart.Message.Tabs).
	// Used under Lock.
	tabbedMultipart bool
	// limited is the admitted connection under the listener's caps (nil
	// without them); authenticating the peer lifts its short deadline.
	limited *limitedConn
}

// Lock serialises requests' use of the connection state. HTTP/1.1 handles
// one request per connection at a time, but the lock keeps that an
// invariant rather than an assumption.
func (c *Conn) Lock()   { c.mu.Lock() }
func (c *Conn) Unlock() { c.mu.Unlock() }

type connKey struct{}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &Conn{Remote: c.RemoteAddr().String(), limited: limitedOf(c)})
}

// hostOf is the address part of host:port, the unit refusal lines are
// limited by.
func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

func connFrom(r *http.Request) *Conn {
	if c, ok := r.Context().Value(connKey{}).(*Conn); ok {
		return c
	}
	return &Conn{Remote: r.RemoteAddr}
}

// TLSIdentify maps a verified client certificate to a host identity and the
// thumbprint of the CA that issued it.
type TLSIdentify func(cs *tls.ConnectionState) (identity, issuerThumbprint string, err error)

// TLSSecurity authenticates hosts by their client certificate; bodies are
// plain SOAP because TLS protects them.
type TLSSecurity struct {
	Identify TLSIdentify
	Logger   *slog.Logger
	// Logs rate-limits refusal lines per reason and address (nil: none).
	Logs *ratelog.Limiter
}

// Authenticate implements Security. The certificate is checked again on
// every request, so a revocation also ends connections already open.
func (s TLSSecurity) Authenticate(w http.ResponseWriter, r *http.Request, conn *Conn) (Peer, bool) {
	if r.TLS == nil {
		s.Logs.Log(s.Logger, slog.LevelWarn, "refused request", "no TLS", hostOf(conn.Remote),
			"listener", "https", "remote", conn.Remote, "status", http.StatusUnauthorized)
		refusedFor(w, RefusalNoTLS)
		http.Error(w, "client certificate required", http.StatusUnauthorized)
		return Peer{}, true
	}
	id, thumb, err := s.Identify(r.TLS)
	if err != nil {
		attrs := []any{"listener", "https", "remote", conn.Remote, "status", http.StatusUnauthorized, "error", ratelog.Clip(err.Error())}
		if len(r.TLS.PeerCertificates) > 0 {
			attrs = append(attrs, "subject", ratelog.Clip(r.TLS.PeerCertificates[0].Subject.String()))
		}
		s.Logs.Log(s.Logger, slog.LevelWarn, "refused request", "client certificate not accepted", hostOf(conn.Remote), attrs...)
		refusedFor(w, RefusalCertificate)
		http.Error(w, "client certificate not accepted", http.StatusUnauthorized)
		return Peer{}, true
	}
	return Peer{Identity: id, Auth: soap.Auth{Profile: soap.ProfileMutual, IssuerThumbprint: thumb}}, false
}

// Open implements Security.
func (TLSSecurity) Open(_ *http.Request, _ *Conn, body []byte) ([]byte, error) { return body, nil }

// Seal implements Security.
func (TLSSecurity) Seal(w http.ResponseWriter, _ *Conn, status int, body []byte) error {
	w.Header().Set("Content-Type", soap.ContentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
