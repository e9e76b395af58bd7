package server

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"wefgate/internal/ratelog"
	"wefgate/wef/kerberos"
	"wefgate/wef/multipart"
	"wefgate/wef/soap"
)

// KerberosSecurity authenticates hosts with Kerberos (the "Kerberos" and
// "Negotiate" HTTP schemes) once per TCP connection, as Windows expects,
// and seals every body with MS-WSMV message encryption.
type KerberosSecurity struct {
	Acceptor *kerberos.Acceptor
	Logger   *slog.Logger
	// Logs rate-limits refusal lines per reason and address (nil: none).
	Logs *ratelog.Limiter
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

func (s *KerberosSecurity) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// challenge answers 401 with both schemes offered: Windows picks Kerberos,
// or Negotiate when the collector is in its TrustedHosts.
func challenge(w http.ResponseWriter, reason string) {
	setChallenges(w)
	http.Error(w, reason, http.StatusUnauthorized)
}

// challenger is a Security whose 401 answers carry challenges.
type challenger interface {
	challengeHeaders(w http.ResponseWriter)
}

func (*KerberosSecurity) challengeHeaders(w http.ResponseWriter) { setChallenges(w) }

func setChallenges(w http.ResponseWriter) {
	w.Header().Del("WWW-Authenticate")
	w.Header().Add("WWW-Authenticate", kerberos.SchemeKerberos)
	w.Header().Add("WWW-Authenticate", kerberos.SchemeNegotiate)
}

// Authenticate implements Security.
func (s *KerberosSecurity) Authenticate(w http.ResponseWriter, r *http.Request, conn *Conn) (Peer, bool) {
	log := s.Logger.With("listener", "http", "remote", conn.Remote)
	source := hostOf(conn.Remote)
	if authz := r.Header.Get("Authorization"); authz != "" {
		// A new token replaces whatever the connection had: that is how a
		// client re-authenticates a kept-alive connection.
		conn.Kerberos = nil
		scheme, b64, _ := strings.Cut(authz, " ")
		if !strings.EqualFold(scheme, kerberos.SchemeKerberos) && !strings.EqualFold(scheme, kerberos.SchemeNegotiate) {
			s.Logs.Log(log, slog.LevelWarn, "refused request", "unsupported authorization scheme", source,
				"status", http.StatusUnauthorized, "scheme", ratelog.Clip(strconv.Quote(scheme)))
			refusedFor(w, RefusalUnsupportedScheme)
			challenge(w, "unsupported authorization scheme")
			return Peer{}, true
		}
		token, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			s.Logs.Log(log, slog.LevelWarn, "refused request", "authorization token is not base64", source, "status", http.StatusUnauthorized)
			refusedFor(w, RefusalMalformedToken)
			challenge(w, "malformed authorization token")
			return Peer{}, true
		}
		kctx, resp, err := s.Acceptor.Accept(scheme, token, conn.Remote)
		if err != nil {
			// The acceptor logs the precise reason with the remote address.
			refusedFor(w, RefusalKerberos)
			challenge(w, "authentication failed")
			return Peer{}, true
		}
		conn.Kerberos = kctx
		w.Header().Set("WWW-Authenticate", kctx.Scheme+" "+base64.StdEncoding.EncodeToString(resp))
		log.Info("host authenticated", "host", kctx.Principal, "scheme", kctx.Scheme, "service", kctx.Service)
	}
	kctx := conn.Kerberos
	if kctx == nil {
		s.Logs.Log(log, slog.LevelInfo, "refused request", "no Kerberos security context on this connection", source, "status", http.StatusUnauthorized)
		refusedFor(w, RefusalNoSecurityContext)
		challenge(w, "authentication required")
		return Peer{}, true
	}
	if !kctx.Expiry.IsZero() && s.now().After(kctx.Expiry) {
		conn.Kerberos = nil
		s.Logs.Log(log, slog.LevelInfo, "refused request", "Kerberos ticket expired; host must re-authenticate", source,
			"status", http.StatusUnauthorized, "host", kctx.Principal)
		refusedFor(w, RefusalTicketExpired)
		challenge(w, "ticket expired")
		return Peer{}, true
	}
	return Peer{Identity: kctx.Principal, Auth: soap.Auth{Profile: soap.ProfileKerberos}}, false
}

// Open implements Security: only sealed bodies are accepted, because on
// plain HTTP anything else would be readable and forgeable on the wire.
func (s *KerberosSecurity) Open(r *http.Request, conn *Conn, body []byte) ([]byte, error) {
	kctx := conn.Kerberos
	ct := r.Header.Get("Content-Type")
	if !multipart.IsEncrypted(ct) {
		return nil, refuse(http.StatusBadRequest, "unencrypted body on the Kerberos listener (Content-Type "+strconv.Quote(ct)+")", nil)
	}
	m, err := multipart.Decode(ct, body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed multipart/encrypted body", err)
	}
	conn.tabbedMultipart = m.Tabs
	if m.Protocol != multipartProtocol(kctx) {
		return nil, refuse(http.StatusBadRequest, fmt.Sprintf("body sealed for %s on a %s context", m.Protocol, kctx.Scheme), nil)
	}
	plain, err := kctx.Unwrap(m.Header, m.Payload)
	if err != nil {
		// A message that does not unwrap (tampered, replayed, out of
		// sequence) breaks the context: the host must authenticate again.
		conn.Kerberos = nil
		return nil, refuse(http.StatusUnauthorized, "message does not unwrap", err)
	}
	return plain, nil
}

// Seal implements Security. The reply is framed as the request was:
// Windows writes and reads part headers without leading TABs, pywinrm
// 0.3.0 writes them with TABs and reads only replies framed so.
func (s *KerberosSecurity) Seal(w http.ResponseWriter, conn *Conn, status int, body []byte) error {
	kctx := conn.Kerberos
	if kctx == nil {
		return fmt.Errorf("seal: no security context")
	}
	sig, data, err := kctx.Wrap(body)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	ct, out := multipart.Encode(&multipart.Message{
		Protocol: multipartProtocol(kctx), OriginalContentType: soap.ContentType, Header: sig, Payload: data,
		Tabs: conn.tabbedMultipart,
	})
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, err = w.Write(out)
	return err
}

// multipartProtocol returns the multipart/encrypted protocol of messages
// sealed under kctx: MS-WSMV 2.2.9.1 names one per HTTP scheme.
func multipartProtocol(kctx *kerberos.Context) string {
	if kctx.Scheme == kerberos.SchemeNegotiate {
		return multipart.ProtocolSPNEGO
	}
	return multipart.ProtocolKerberos
}
