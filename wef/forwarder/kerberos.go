package forwarder

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"wefgate/wef/kerberos"
	"wefgate/wef/multipart"
	"wefgate/wef/soap"
)

// KerberosSecurity authenticates like a domain-joined Windows host: on
// every new connection an empty POST with "Authorization: Kerberos" (or
// Negotiate), mutual authentication required, then sealed bodies.
type KerberosSecurity struct {
	Initiator *kerberos.Initiator
	// Scheme is kerberos.SchemeKerberos (Windows' default) or
	// kerberos.SchemeNegotiate (collector in TrustedHosts).
	Scheme string
	// SPNPrefix is "HTTP" (default) or "HOST" (Windows Server 2025).
	SPNPrefix string
	// TabFramed frames sealed messages as Debian's pywinrm 0.3.0 does,
	// with a TAB before each multipart header line, instead of as Windows
	// does. Either way a reply must come framed as the request was: that
	// pywinrm reads no other.
	TabFramed bool
	// Source, when valid, is the local address of the host's connections
	// (see TLSSecurity.Source).
	Source netip.Addr
}

// Dial implements Security.
func (s KerberosSecurity) Dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	c, err := dialer(s.Source).DialContext(ctx, "tcp", hostPort(u))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Host, err)
	}
	return c, nil
}

// Handshake implements Security.
func (s KerberosSecurity) Handshake(ctx context.Context, c *Conn, u *url.URL) (Sealer, error) {
	scheme := s.Scheme
	if scheme == "" {
		scheme = kerberos.SchemeKerberos
	}
	prefix := s.SPNPrefix
	if prefix == "" {
		prefix = "HTTP"
	}
	token, cc, err := s.Initiator.Start(ctx, prefix+"/"+u.Hostname(), scheme)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Authorization", scheme+" "+base64.StdEncoding.EncodeToString(token))
	h.Set("Content-Type", soap.ContentType)
	resp, err := c.RoundTrip(ctx, u.RequestURI(), h, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, &StatusError{Status: resp.Status, Body: string(resp.Body)}
	}
	answer := resp.Header.Get("WWW-Authenticate")
	gotScheme, b64, _ := strings.Cut(answer, " ")
	if !strings.EqualFold(gotScheme, scheme) || b64 == "" {
		return nil, fmt.Errorf("collector did not authenticate itself (WWW-Authenticate %q)", answer)
	}
	reply, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("collector's token: %w", err)
	}
	// Windows insists on mutual authentication: an unverifiable AP-REP
	// means the collector is not who the SPN says.
	if err := cc.Complete(reply); err != nil {
		return nil, fmt.Errorf("verify collector: %w", err)
	}
	protocol := multipart.ProtocolKerberos
	if scheme == kerberos.SchemeNegotiate {
		protocol = multipart.ProtocolSPNEGO
	}
	return &kerberosSealer{cc: cc, protocol: protocol, tabs: s.TabFramed}, nil
}

type kerberosSealer struct {
	cc       *kerberos.ClientContext
	protocol string
	tabs     bool
}

func (k *kerberosSealer) Seal(body []byte) (string, []byte, error) {
	sig, data, err := k.cc.Wrap(body)
	if err != nil {
		return "", nil, err
	}
	ct, out := multipart.Encode(&multipart.Message{Protocol: k.protocol, OriginalContentType: soap.ContentType, Header: sig, Payload: data, Tabs: k.tabs})
	return ct, out, nil
}

func (k *kerberosSealer) Open(contentType string, body []byte) ([]byte, error) {
	m, err := multipart.Decode(contentType, body)
	if err != nil {
		return nil, err
	}
	if m.Tabs != k.tabs {
		// pywinrm 0.3.0 cannot find the data of a reply framed otherwise.
		return nil, fmt.Errorf("reply framed with TABs=%v, request with TABs=%v", m.Tabs, k.tabs)
	}
	return k.cc.Unwrap(m.Header, m.Payload)
}
