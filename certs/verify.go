package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"wefgate/internal/ratelog"
)

// Reasons a client certificate is refused; match them with errors.Is.
var (
	ErrNoClientCertificate = errors.New("no client certificate presented")
	ErrNoHostName          = errors.New("client certificate has neither a subject common name nor a SAN dNSName")
	ErrNoClientAuthUsage   = errors.New("client certificate lacks the clientAuth extended key usage")
	ErrUntrusted           = errors.New("client certificate does not chain to a configured CA")
	ErrRevoked             = errors.New("client certificate is revoked")
	ErrCommonNameNotHost   = errors.New("client certificate CN or SAN dNSName is not a host name")
)

// VerifierConfig lists the trust material for client certificates.
type VerifierConfig struct {
	// CAFiles are PEM bundles with the root and issuing (intermediate)
	// CAs. Windows forwarders send only their leaf, so the issuing CA must
	// be here. An intermediate whose own issuer is not configured becomes
	// a trust anchor itself, as in OpenWEC.
	CAFiles []string
	// CRLFiles are optional CRLs (DER or PEM), each signed by a configured
	// CA. A leaf is checked against the CRLs of its direct issuer.
	CRLFiles []string
	// FileCheckInterval bounds how often CRL and server certificate files
	// are examined for changes (on the handshake path, no goroutine);
	// zero means DefaultFileCheckInterval.
	FileCheckInterval time.Duration
	// CipherSuites names the TLS 1.2 suites offered (Go names, as in
	// crypto/tls CipherSuiteName); empty means AEADCipherSuites. TLS 1.3
	// suites are not configurable and are all AEAD.
	CipherSuites []string
	// RefusalLog rate-limits the lines of refused certificates per reason
	// and client address (nil: one line per refusal).
	RefusalLog *ratelog.Limiter
}

// AEADCipherSuites are the TLS 1.2 suites offered by default: ECDHE with
// AES-GCM or ChaCha20-Poly1305 only. CBC suites with SHA-1 MACs (AES128-SHA,
// AES256-SHA) are left out. Windows 10 and Server 2016 offer ECDHE-RSA and
// ECDHE-ECDSA with GCM; Windows 8.1 and Server 2012 R2 offer only
// ECDHE-ECDSA with GCM (Microsoft, "TLS Cipher Suites in Windows 8.1"), so
// with an RSA server certificate those hosts need a CBC suite configured.
func AEADCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// ParseCipherSuites maps Go cipher suite names (secure and insecure lists
// of crypto/tls) to their ids; empty names give AEADCipherSuites.
func ParseCipherSuites(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return AEADCipherSuites(), nil
	}
	known := map[string]uint16{}
	for _, cs := range tls.CipherSuites() {
		known[cs.Name] = cs.ID
	}
	insecure := map[string]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.Name] = true
	}
	ids := make([]uint16, 0, len(names))
	for _, n := range names {
		id, ok := known[n]
		if insecure[n] {
			// RC4, 3DES and CBC with SHA-256 have known attacks; no
			// Windows version that can forward events needs them.
			return nil, fmt.Errorf("cipher suite %q is insecure (crypto/tls.InsecureCipherSuites) and is refused", n)
		}
		if !ok {
			return nil, fmt.Errorf("unknown cipher suite %q (use the crypto/tls names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// IdentitySource says which field of a client certificate named its host.
type IdentitySource string

const (
	// IdentityFromCN: the subject common name.
	IdentityFromCN IdentitySource = "subject_cn"
	// IdentityFromDNSName: the first SAN dNSName, for a certificate with an
	// empty subject, as AD CS issues from its "Workstation Authentication"
	// template (the FQDN only in the SAN).
	IdentityFromDNSName IdentitySource = "san_dns_name"
)

// Identity is what a verified client certificate says about its host.
type Identity struct {
	// Name is the host identity, lower-cased: the subject CN, or when the
	// subject has none the first SAN dNSName.
	Name string
	// Source says which of the two Name is.
	Source IdentitySource
	// DNSNames are the certificate's DNS SANs, for logging and allow-lists.
	DNSNames []string
	// IssuerThumbprint is the lower-case hex SHA-1 of the CA that directly
	// issued the leaf: the value the subscription policy must echo.
	IssuerThumbprint string
}

// Verifier checks client certificates of Windows forwarders.
type Verifier struct {
	logger        *slog.Logger
	roots         *x509.CertPool
	intermediates *x509.CertPool
	// issuerHints is sent in the CertificateRequest; Windows ignores it
	// (it picks by the GPO IssuerCA), other clients use it to choose.
	issuerHints   *x509.CertPool
	crls          *crlSet
	checkInterval time.Duration
	chains        *chainCache
	cipherSuites  []uint16
	refusals      *ratelog.Limiter
}

// NewVerifier loads the CA and CRL files. Self-signed CAs become roots,
// the others intermediates.
func NewVerifier(cfg VerifierConfig, logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if len(cfg.CAFiles) == 0 {
		return nil, errors.New("new verifier: no CA files configured")
	}
	suites, err := ParseCipherSuites(cfg.CipherSuites)
	if err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	interval := cfg.FileCheckInterval
	if interval <= 0 {
		interval = DefaultFileCheckInterval
	}
	var cas []*x509.Certificate
	for _, path := range cfg.CAFiles {
		certs, err := LoadCertificates(path)
		if err != nil {
			return nil, fmt.Errorf("new verifier: %w", err)
		}
		for _, c := range certs {
			if !c.IsCA {
				return nil, fmt.Errorf("new verifier: %s: %q is not a CA certificate", path, c.Subject.CommonName)
			}
			if !slices.ContainsFunc(cas, c.Equal) {
				cas = append(cas, c)
			}
		}
	}

	v := &Verifier{
		logger:        logger,
		roots:         x509.NewCertPool(),
		intermediates: x509.NewCertPool(),
		issuerHints:   x509.NewCertPool(),
		checkInterval: interval,
		chains:        newChainCache(),
		cipherSuites:  suites,
		refusals:      cfg.RefusalLog,
	}
	var anchors, issuing []string
	for _, c := range cas {
		switch {
		case isSelfSigned(c):
			v.roots.AddCert(c)
			anchors = append(anchors, c.Subject.CommonName)
		case hasConfiguredParent(c, cas):
			v.intermediates.AddCert(c)
			v.issuerHints.AddCert(c)
			issuing = append(issuing, c.Subject.CommonName)
		default:
			v.roots.AddCert(c)
			v.issuerHints.AddCert(c)
			anchors = append(anchors, c.Subject.CommonName)
			logger.Info("issuing CA has no configured parent, trusting it as an anchor", "ca", c.Subject.CommonName, "thumbprint", Thumbprint(c))
		}
	}
	warnDuplicateSubjects(cas, logger)
	if len(issuing) == 0 {
		// Only roots configured: they sign the leaves directly.
		v.issuerHints = v.roots
	}
	if len(cfg.CRLFiles) > 0 {
		crls, err := newCRLSet(cfg.CRLFiles, cas, interval, logger)
		if err != nil {
			return nil, fmt.Errorf("new verifier: %w", err)
		}
		v.crls = crls
	}
	logger.Debug("client certificate verifier ready", "anchors", anchors, "issuing_cas", issuing, "crl_files", len(cfg.CRLFiles))
	return v, nil
}

// warnDuplicateSubjects flags CAs that share a subject: which of them
// issued a leaf then depends on chain building, and the thumbprint echoed
// to the forwarder may not be the one its GPO names (OpenWEC refuses such
// a configuration outright).
func warnDuplicateSubjects(cas []*x509.Certificate, logger *slog.Logger) {
	for i, a := range cas {
		for _, b := range cas[i+1:] {
			if bytes.Equal(a.RawSubject, b.RawSubject) {
				logger.Warn("two configured CAs share a subject; the issuer thumbprint reported for their clients is ambiguous",
					"subject", a.Subject.String(), "thumbprint_a", Thumbprint(a), "thumbprint_b", Thumbprint(b))
			}
		}
	}
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

func hasConfiguredParent(c *x509.Certificate, cas []*x509.Certificate) bool {
	for _, p := range cas {
		if p != c && bytes.Equal(p.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(p) == nil {
			return true
		}
	}
	return false
}

// ServerTLSConfig returns the HTTPS listener configuration: TLS 1.2+,
// HTTP/1.1 only (WinRM never speaks h2), a client certificate required and
// verified by the Verifier, and the server certificate re-read from
// certFile/keyFile when they change on disk.
func (v *Verifier) ServerTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	keyPair, err := newKeyPairReloader(certFile, keyFile, v.checkInterval, v.logger)
	if err != nil {
		return nil, fmt.Errorf("server TLS config: %w", err)
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   v.cipherSuites,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: keyPair.getCertificate,
		// Verification is ours: Go's built-in check would neither
		// complete leaf-only chains from configured intermediates nor
		// consult CRLs. A certificate is only requested here, and
		// VerifyConnection refuses a handshake without one: with
		// RequireAnyClientCert Go aborted it before VerifyConnection, so
		// the commonest set-up error (a host with no certificate, or none
		// matching the IssuerCA) left no log line.
		ClientAuth:       tls.RequestClientCert,
		ClientCAs:        v.issuerHints,
		VerifyConnection: v.connectionVerifier(nil),
	}
	cfg := base.Clone()
	// A per-connection clone is the only way to let VerifyConnection know
	// the remote address for its log line.
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		perConn := base.Clone()
		if hello.Conn != nil {
			perConn.VerifyConnection = v.connectionVerifier(hello.Conn.RemoteAddr())
		}
		return perConn, nil
	}
	return cfg, nil
}

// refusalReason names the kind of a refusal: the package error it wraps.
func refusalReason(err error) string {
	for _, e := range []error{ErrNoClientCertificate, ErrNoHostName, ErrNoClientAuthUsage, ErrUntrusted, ErrRevoked, ErrCommonNameNotHost} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "client certificate not verified"
}

func remoteHost(a net.Addr) string {
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

func (v *Verifier) connectionVerifier(remote net.Addr) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		id, err := v.verify(cs.PeerCertificates)
		if err != nil {
			attrs := []any{"error", ratelog.Clip(err.Error())}
			source := ""
			if remote != nil {
				attrs = append(attrs, "remote", remote.String())
				source = remoteHost(remote)
			}
			if len(cs.PeerCertificates) > 0 {
				leaf := cs.PeerCertificates[0]
				attrs = append(attrs, "subject", ratelog.Clip(leaf.Subject.String()), "issuer", ratelog.Clip(leaf.Issuer.String()),
					"serial", ratelog.Clip(leaf.SerialNumber.Text(16)))
			}
			// One client can retry handshakes without end: one line per
			// reason and address per interval, the rest counted.
			v.refusals.Log(v.logger, slog.LevelWarn, "client certificate refused", refusalReason(err), source, attrs...)
			return err
		}
		v.logger.Debug("client certificate accepted", "identity", id.Name, "issuer_thumbprint", id.IssuerThumbprint)
		return nil
	}
}

// Identify verifies the peer certificate of an established connection
// (as in http.Request.TLS) again and returns the host identity. It does
// not rely on the handshake's verification because the verdict can change
// on a long-lived connection: a CRL update revokes it on the next request.
func (v *Verifier) Identify(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil {
		return Identity{}, ErrNoClientCertificate
	}
	return v.verify(cs.PeerCertificates)
}

func (v *Verifier) verify(peer []*x509.Certificate) (Identity, error) {
	if len(peer) == 0 {
		return Identity{}, ErrNoClientCertificate
	}
	leaf := peer[0]
	name, source, err := hostName(leaf)
	if err != nil {
		return Identity{}, err
	}
	if !slices.ContainsFunc(leaf.ExtKeyUsage, func(u x509.ExtKeyUsage) bool {
		return u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny
	}) {
		return Identity{}, ErrNoClientAuthUsage
	}
	chain, cached := v.chains.get(leaf, time.Now())
	if !cached {
		// Windows sends only its leaf; intermediates a client adds are not
		// used, since no configured CRL could vouch for them.
		var err error
		if chain, err = v.buildChain(leaf, nil); err != nil {
			return Identity{}, err
		}
		v.chains.put(chain)
		// Once per certificate (the chain cache holds it afterwards), so
		// an operator sees which field named the host.
		v.logger.Info("client certificate identity", "identity", name, "source", string(source),
			"subject", leaf.Subject.String(), "serial", leaf.SerialNumber.Text(16))
	}
	issuer := chain[1]
	if v.crls != nil {
		// Every link is checked against its parent's CRL, so revoking an
		// issuing CA on the root's CRL shuts out its clients too.
		for i := 0; i+1 < len(chain); i++ {
			covered, revoked := v.crls.lookup(chain[i+1], chain[i].SerialNumber)
			if revoked {
				return Identity{}, fmt.Errorf("%w: serial %s (%q) on the CRL of %q", ErrRevoked,
					chain[i].SerialNumber.Text(16), chain[i].Subject.CommonName, chain[i+1].Subject.CommonName)
			}
			if !covered && i == 0 {
				v.logger.Debug("no CRL configured for issuer", "issuer", chain[1].Subject.CommonName)
			}
		}
	}
	return Identity{
		Name:             name,
		Source:           source,
		DNSNames:         slices.Clone(leaf.DNSNames),
		IssuerThumbprint: strings.ToLower(Thumbprint(issuer)),
	}, nil
}

// hostName returns the lower-cased host identity of a client certificate:
// the subject CN, or, when the subject has none, the first SAN dNSName.
// A certificate with neither is refused (ErrNoHostName), as is a name
// that could pass for a Kerberos principal (NAME$@REALM) or a path, so a
// certificate cannot take over another host's bookmarks, or a wildcard.
func hostName(leaf *x509.Certificate) (string, IdentitySource, error) {
	name, source := leaf.Subject.CommonName, IdentityFromCN
	if name == "" {
		if len(leaf.DNSNames) == 0 || leaf.DNSNames[0] == "" {
			return "", "", ErrNoHostName
		}
		name, source = leaf.DNSNames[0], IdentityFromDNSName
	}
	if strings.ContainsAny(name, "@/\\") || source == IdentityFromDNSName && strings.Contains(name, "*") {
		return "", "", fmt.Errorf("%w: %q", ErrCommonNameNotHost, name)
	}
	return strings.ToLower(name), source, nil
}

// buildChain verifies leaf up to a configured anchor, using the configured
// intermediates and any the peer sent, and returns the first chain found.
func (v *Verifier) buildChain(leaf *x509.Certificate, sent []*x509.Certificate) ([]*x509.Certificate, error) {
	intermediates := v.intermediates
	if len(sent) > 0 {
		intermediates = v.intermediates.Clone()
		for _, c := range sent {
			intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		return nil, fmt.Errorf("verify client certificate: %w", err)
	}
	if len(chains[0]) < 2 {
		// The presented certificate is itself a configured CA.
		return nil, fmt.Errorf("%w: presented certificate is a configured CA", ErrUntrusted)
	}
	return chains[0], nil
}

// ClientIssuers returns the configured CAs that sign host certificates:
// those that sign no other configured CA, once each. They are what a GPO
// IssuerCA must name (the CA that directly issued the host certificate,
// never a root above an issuing CA).
func ClientIssuers(cas []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	seen := map[string]bool{}
	for _, p := range cas {
		signsCA := false
		for _, c := range cas {
			if c != p && !isSelfSigned(c) && bytes.Equal(p.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(p) == nil {
				signsCA = true
				break
			}
		}
		if tp := Thumbprint(p); !signsCA && !seen[tp] {
			seen[tp] = true
			out = append(out, p)
		}
	}
	return out
}
