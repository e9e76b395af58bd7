package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// File names inside a PKI directory. Client files live under ClientsDir as
// <fqdn>.pem, <fqdn>-key.pem and <fqdn>.p12.
const (
	RootCAFile       = "root-ca.pem"
	RootCAKeyFile    = "root-ca-key.pem"
	RootCRLFile      = "root-ca.crl"
	IssuingCAFile    = "issuing-ca.pem"
	IssuingCAKeyFile = "issuing-ca-key.pem"
	IssuingCRLFile   = "issuing-ca.crl"
	ServerCertFile   = "server.pem"
	ServerKeyFile    = "server-key.pem"
	ClientsDir       = "clients"
)

// Subject common names of the two CAs.
const (
	RootCAName    = "wefgate Root CA"
	IssuingCAName = "wefgate Issuing CA"
)

// DefaultValidity is the leaf lifetime used when PKIOptions.Validity is zero.
const DefaultValidity = 2 * 365 * 24 * time.Hour

const (
	// minCAValidity keeps the CAs well beyond any leaf they sign.
	minCAValidity = 10 * 365 * 24 * time.Hour
	// crlValidity is the NextUpdate horizon of every CRL written here.
	// Windows treats a CRL past NextUpdate as "revocation status unknown",
	// so RefreshCRL must run well within it (EnsureDevPKI does at half-life).
	crlValidity = 30 * 24 * time.Hour
	// backdate tolerates clients whose clock runs a little behind ours.
	backdate = time.Hour
)

// PKIOptions describes the PKI CreatePKI builds.
type PKIOptions struct {
	// Dir receives the PEM, key and CRL files; it is created if missing.
	Dir string
	// ServerNames are the DNS names or IP addresses of the server
	// certificate, exactly as written in the GPO URL; the first is the CN.
	ServerNames []string
	// Clients are the client FQDNs to issue certificates for.
	Clients []string
	// Validity is the leaf lifetime; zero means DefaultValidity.
	Validity time.Duration
	// CRLBaseURL, when set, is the HTTP location where the directory's CRL
	// files are published: leaves point to <base>/issuing-ca.crl and the
	// issuing CA to <base>/root-ca.crl. WinRM clients refuse a server
	// certificate whose revocation status they cannot determine.
	CRLBaseURL string
}

// PKI is a root CA, an issuing CA and the server certificate stored in a
// directory; it can issue further client certificates and revoke them.
type PKI struct {
	// Dir is the directory holding the files named by the *File constants.
	Dir string
	// Root, Issuing and Server are the certificates as written to disk.
	Root    *x509.Certificate
	Issuing *x509.Certificate
	Server  *x509.Certificate

	rootKey      *ecdsa.PrivateKey
	issuingKey   *ecdsa.PrivateKey
	leafValidity time.Duration
	crlBaseURL   string

	// mu serialises CRL rewrites so concurrent Revoke calls do not lose
	// entries.
	mu sync.Mutex
}

// ClientCert is an issued client certificate and where its files are.
type ClientCert struct {
	FQDN     string
	Cert     *x509.Certificate
	CertFile string
	KeyFile  string
	// PKCS12File holds the leaf, its key and the issuing and root CAs
	// (legacy 3DES/SHA-1 protection, DefaultPKCS12Password unless chosen
	// otherwise) for import into the Windows LocalMachine\My store.
	PKCS12File string
}

// IssuerThumbprint is the GPO IssuerCA value for clients of this PKI.
func (p *PKI) IssuerThumbprint() string { return Thumbprint(p.Issuing) }

// Path joins name (one of the *File constants) to the PKI directory.
func (p *PKI) Path(name string) string { return filepath.Join(p.Dir, name) }

// CreatePKI generates a new PKI in opts.Dir. It refuses to overwrite an
// existing one, because replacing the CAs would orphan every certificate
// already deployed to forwarders.
func CreatePKI(opts PKIOptions) (*PKI, error) {
	if opts.Dir == "" {
		return nil, errors.New("create PKI: no directory given")
	}
	if len(opts.ServerNames) == 0 {
		return nil, errors.New("create PKI: at least one server name is required")
	}
	if opts.Validity < 0 {
		return nil, fmt.Errorf("create PKI: negative validity %v", opts.Validity)
	}
	for _, fqdn := range opts.Clients {
		if _, err := normalizeFQDN(fqdn); err != nil {
			return nil, fmt.Errorf("create PKI: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, RootCAFile)); err == nil {
		return nil, fmt.Errorf("create PKI: %s already holds a PKI", opts.Dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create PKI: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, ClientsDir), 0o700); err != nil {
		return nil, fmt.Errorf("create PKI: %w", err)
	}

	p := &PKI{Dir: opts.Dir, leafValidity: opts.Validity, crlBaseURL: strings.TrimRight(opts.CRLBaseURL, "/")}
	if p.leafValidity == 0 {
		p.leafValidity = DefaultValidity
	}
	caValidity := max(minCAValidity, p.leafValidity+365*24*time.Hour)
	now := time.Now()

	var err error
	p.Root, p.rootKey, err = p.sign(&x509.Certificate{
		Subject:               pkix.Name{CommonName: RootCAName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity + 365*24*time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("create root CA: %w", err)
	}
	issuingTemplate := &x509.Certificate{
		Subject:               pkix.Name{CommonName: IssuingCAName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if p.crlBaseURL != "" {
		issuingTemplate.CRLDistributionPoints = []string{p.crlBaseURL + "/" + RootCRLFile}
	}
	p.Issuing, p.issuingKey, err = p.sign(issuingTemplate, p.Root, p.rootKey)
	if err != nil {
		return nil, fmt.Errorf("create issuing CA: %w", err)
	}

	serverKey, err := p.signServer(opts.ServerNames, now)
	if err != nil {
		return nil, fmt.Errorf("create PKI: %w", err)
	}

	// The root CA file marks a PKI directory, so it is written last: an
	// interrupted run must not leave something EnsureDevPKI tries to load.
	files := []struct {
		name string
		save func(string) error
	}{
		{RootCAKeyFile, func(path string) error { return writeKeyPEM(path, p.rootKey) }},
		{IssuingCAFile, func(path string) error { return writeCertificatesPEM(path, p.Issuing) }},
		{IssuingCAKeyFile, func(path string) error { return writeKeyPEM(path, p.issuingKey) }},
		{ServerKeyFile, func(path string) error { return writeKeyPEM(path, serverKey) }},
		{ServerCertFile, func(path string) error { return p.writeServerChain() }},
	}
	for _, f := range files {
		if err := f.save(p.Path(f.name)); err != nil {
			return nil, fmt.Errorf("create PKI: %w", err)
		}
	}
	if err := p.RefreshCRL(); err != nil {
		return nil, fmt.Errorf("create PKI: %w", err)
	}
	if err := writeCertificatesPEM(p.Path(RootCAFile), p.Root); err != nil {
		return nil, fmt.Errorf("create PKI: %w", err)
	}
	for _, fqdn := range opts.Clients {
		if _, err := p.IssueClient(fqdn); err != nil {
			return nil, fmt.Errorf("create PKI: %w", err)
		}
	}
	return p, nil
}

// IssueServer replaces the server certificate and key with new ones for
// names (DNS names or IP addresses, the first is the CN), keeping the CAs,
// so forwarders' IssuerCA and trust stay valid.
func (p *PKI) IssueServer(names ...string) error {
	if len(names) == 0 {
		return errors.New("issue server certificate: no server name")
	}
	key, err := p.signServer(names, time.Now())
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	// Key first: a server polling the files sees a mismatched pair for a
	// moment and keeps the old one until the certificate follows.
	if err := writeKeyPEM(p.Path(ServerKeyFile), key); err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	if err := p.writeServerChain(); err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	return nil
}

// signServer sets p.Server to a new serverAuth leaf for names and returns
// its key; the caller writes the files.
func (p *PKI) signServer(names []string, now time.Time) (*ecdsa.PrivateKey, error) {
	template := p.leafTemplate(names[0], now.Add(-backdate), now.Add(p.leafValidity))
	template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, name := range names {
		if ip, err := netip.ParseAddr(name); err == nil {
			template.IPAddresses = append(template.IPAddresses, ip.AsSlice())
		} else {
			template.DNSNames = append(template.DNSNames, name)
		}
	}
	cert, key, err := p.sign(template, p.Issuing, p.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("sign server certificate: %w", err)
	}
	p.Server = cert
	return key, nil
}

// writeServerChain writes the server leaf with the issuing CA: Windows
// clients do not fetch missing intermediates.
func (p *PKI) writeServerChain() error {
	return writeCertificatesPEM(p.Path(ServerCertFile), p.Server, p.Issuing)
}

// serverCovers reports whether the server certificate is valid at now for
// every name.
func (p *PKI) serverCovers(names []string, now time.Time) bool {
	if now.Before(p.Server.NotBefore) || now.After(p.Server.NotAfter) {
		return false
	}
	for _, name := range names {
		if p.Server.VerifyHostname(name) != nil {
			return false
		}
	}
	return true
}

// certificateNames lists a server certificate's CN and SANs, CN first.
func certificateNames(cert *x509.Certificate) []string {
	var names []string
	if cert.Subject.CommonName != "" {
		names = append(names, cert.Subject.CommonName)
	}
	for _, n := range cert.DNSNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, ip := range cert.IPAddresses {
		if n := ip.String(); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// LoadPKI reads a PKI created by CreatePKI from dir.
func LoadPKI(dir string) (*PKI, error) {
	p := &PKI{Dir: dir}
	var err error
	if p.Root, err = loadSingleCertificate(p.Path(RootCAFile)); err != nil {
		return nil, fmt.Errorf("load PKI: %w", err)
	}
	if p.Issuing, err = loadSingleCertificate(p.Path(IssuingCAFile)); err != nil {
		return nil, fmt.Errorf("load PKI: %w", err)
	}
	serverChain, err := LoadCertificates(p.Path(ServerCertFile))
	if err != nil {
		return nil, fmt.Errorf("load PKI: %w", err)
	}
	p.Server = serverChain[0]
	if p.rootKey, err = loadECKey(p.Path(RootCAKeyFile)); err != nil {
		return nil, fmt.Errorf("load PKI: %w", err)
	}
	if p.issuingKey, err = loadECKey(p.Path(IssuingCAKeyFile)); err != nil {
		return nil, fmt.Errorf("load PKI: %w", err)
	}
	if !p.issuingKey.PublicKey.Equal(p.Issuing.PublicKey) {
		return nil, fmt.Errorf("load PKI: %s does not match %s", IssuingCAKeyFile, IssuingCAFile)
	}
	if !p.rootKey.PublicKey.Equal(p.Root.PublicKey) {
		return nil, fmt.Errorf("load PKI: %s does not match %s", RootCAKeyFile, RootCAFile)
	}
	if err := p.Issuing.CheckSignatureFrom(p.Root); err != nil {
		return nil, fmt.Errorf("load PKI: issuing CA not signed by root CA: %w", err)
	}
	p.leafValidity = p.Server.NotAfter.Sub(p.Server.NotBefore) - backdate
	if p.leafValidity <= 0 {
		p.leafValidity = DefaultValidity
	}
	for _, dp := range p.Issuing.CRLDistributionPoints {
		if base, ok := strings.CutSuffix(dp, "/"+RootCRLFile); ok {
			p.crlBaseURL = base
		}
	}
	return p, nil
}

// EnsureDevPKI loads the PKI in dir, or creates one without clients when
// dir holds none yet; created reports which happened. A loaded PKI keeps
// its CAs (and so the IssuerCA thumbprint) but gets a new server
// certificate when the current one has expired or lacks one of
// serverNames, and fresh CRLs once they are past half their lifetime, so a
// long-running development setup never serves stale revocation data.
func EnsureDevPKI(dir string, serverNames []string) (pki *PKI, created bool, err error) {
	_, statErr := os.Stat(filepath.Join(dir, RootCAFile))
	switch {
	case errors.Is(statErr, fs.ErrNotExist):
		pki, err = CreatePKI(PKIOptions{Dir: dir, ServerNames: serverNames})
		if err != nil {
			return nil, false, err
		}
		return pki, true, nil
	case statErr != nil:
		return nil, false, fmt.Errorf("ensure dev PKI: %w", statErr)
	}
	pki, err = LoadPKI(dir)
	if err != nil {
		return nil, false, err
	}
	if !pki.serverCovers(serverNames, time.Now()) {
		names := serverNames
		if len(names) == 0 {
			names = certificateNames(pki.Server)
		}
		if err := pki.IssueServer(names...); err != nil {
			return nil, false, fmt.Errorf("ensure dev PKI: %w", err)
		}
	}
	if stale, err := pki.crlNeedsRefresh(time.Now()); err != nil || stale {
		if err := pki.RefreshCRL(); err != nil {
			return nil, false, fmt.Errorf("ensure dev PKI: %w", err)
		}
	}
	return pki, false, nil
}

// ClientOption adjusts a client certificate issued by IssueClient; the
// options beyond the defaults mainly build negative test fixtures.
type ClientOption func(*clientSpec)

type clientSpec struct {
	commonName string
	// dnsNames are the SAN dNSNames; nil means the FQDN.
	dnsNames   []string
	extKeyUsed []x509.ExtKeyUsage
	notBefore  time.Time
	notAfter   time.Time
	// pkcs12Password protects the .p12 bundle.
	pkcs12Password string
}

// WithExtKeyUsages replaces the default clientAuth extended key usage.
func WithExtKeyUsages(usages ...x509.ExtKeyUsage) ClientOption {
	return func(s *clientSpec) { s.extKeyUsed = usages }
}

// WithValidityPeriod replaces the default validity window.
func WithValidityPeriod(notBefore, notAfter time.Time) ClientOption {
	return func(s *clientSpec) { s.notBefore, s.notAfter = notBefore, notAfter }
}

// WithCommonName replaces the subject CN (the lower-case FQDN by default);
// an empty name leaves the subject without CN.
func WithCommonName(cn string) ClientOption {
	return func(s *clientSpec) { s.commonName = cn }
}

// WithDNSNames replaces the SAN dNSNames (the FQDN by default), written
// as given; none leaves the certificate without DNS SAN.
func WithDNSNames(names ...string) ClientOption {
	return func(s *clientSpec) { s.dnsNames = append([]string{}, names...) }
}

// WithPKCS12Password replaces DefaultPKCS12Password for the .p12 bundle.
func WithPKCS12Password(password string) ClientOption {
	return func(s *clientSpec) { s.pkcs12Password = password }
}

// IssueClient issues a client certificate for fqdn from the issuing CA and
// writes it (leaf only, as Windows presents it), its key and a PKCS#12
// bundle under the clients directory, replacing earlier files for fqdn.
func (p *PKI) IssueClient(fqdn string, opts ...ClientOption) (*ClientCert, error) {
	name, err := normalizeFQDN(fqdn)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	now := time.Now()
	spec := clientSpec{
		commonName:     name,
		extKeyUsed:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		notBefore:      now.Add(-backdate),
		notAfter:       now.Add(p.leafValidity),
		pkcs12Password: DefaultPKCS12Password,
	}
	for _, opt := range opts {
		opt(&spec)
	}
	template := p.leafTemplate(spec.commonName, spec.notBefore, spec.notAfter)
	template.DNSNames = []string{name}
	if spec.dnsNames != nil {
		template.DNSNames = spec.dnsNames
	}
	template.ExtKeyUsage = spec.extKeyUsed
	cert, key, err := p.sign(template, p.Issuing, p.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate for %s: %w", name, err)
	}

	dir := filepath.Join(p.Dir, ClientsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	cc := &ClientCert{
		FQDN:       name,
		Cert:       cert,
		CertFile:   filepath.Join(dir, name+".pem"),
		KeyFile:    filepath.Join(dir, name+"-key.pem"),
		PKCS12File: filepath.Join(dir, name+".p12"),
	}
	if err := writeCertificatesPEM(cc.CertFile, cert); err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	if err := writeKeyPEM(cc.KeyFile, key); err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	p12, err := encodePKCS12(rand.Reader, key, cert, []*x509.Certificate{p.Issuing, p.Root}, name, spec.pkcs12Password)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	if err := writeFileAtomic(cc.PKCS12File, p12, 0o600); err != nil {
		return nil, fmt.Errorf("issue client certificate: %w", err)
	}
	return cc, nil
}

// ClientCertificate signs a client certificate for fqdn as IssueClient
// does (same template, issuing CA and validity) but keeps it in memory:
// no files, no PKCS#12. It is for simulated fleets of thousands of hosts,
// where writing three files per host would dominate the set-up time.
func (p *PKI) ClientCertificate(fqdn string) (*tls.Certificate, error) {
	name, err := normalizeFQDN(fqdn)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	now := time.Now()
	template := p.leafTemplate(name, now.Add(-backdate), now.Add(p.leafValidity))
	template.DNSNames = []string{name}
	template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	cert, key, err := p.sign(template, p.Issuing, p.issuingKey)
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", name, err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// Revoke adds serial to the issuing CA's CRL and rewrites the CRL file.
// Revoking an already revoked serial only refreshes the CRL.
func (p *PKI) Revoke(serial *big.Int) error {
	if serial == nil {
		return errors.New("revoke: no serial number")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	current, err := p.readCRL(IssuingCRLFile, p.Issuing)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	entries := current.RevokedCertificateEntries
	revoked := false
	for _, e := range entries {
		if e.SerialNumber.Cmp(serial) == 0 {
			revoked = true
			break
		}
	}
	if !revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: time.Now().UTC()})
	}
	if err := p.writeCRL(IssuingCRLFile, p.Issuing, p.issuingKey, entries, current.Number); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

// RefreshCRL re-signs both CRLs with a new validity window, keeping the
// revoked entries; it creates them when missing.
func (p *PKI) RefreshCRL() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range []struct {
		file   string
		issuer *x509.Certificate
		key    *ecdsa.PrivateKey
	}{
		{IssuingCRLFile, p.Issuing, p.issuingKey},
		{RootCRLFile, p.Root, p.rootKey},
	} {
		var entries []x509.RevocationListEntry
		var number *big.Int
		current, err := p.readCRL(c.file, c.issuer)
		switch {
		case err == nil:
			entries, number = current.RevokedCertificateEntries, current.Number
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("refresh CRL: %w", err)
		}
		if err := p.writeCRL(c.file, c.issuer, c.key, entries, number); err != nil {
			return fmt.Errorf("refresh CRL: %w", err)
		}
	}
	return nil
}

func (p *PKI) crlNeedsRefresh(now time.Time) (bool, error) {
	for _, c := range []struct {
		file   string
		issuer *x509.Certificate
	}{{IssuingCRLFile, p.Issuing}, {RootCRLFile, p.Root}} {
		crl, err := p.readCRL(c.file, c.issuer)
		if err != nil {
			return true, err
		}
		halfLife := crl.ThisUpdate.Add(crl.NextUpdate.Sub(crl.ThisUpdate) / 2)
		if now.After(halfLife) {
			return true, nil
		}
	}
	return false, nil
}

func (p *PKI) readCRL(file string, issuer *x509.Certificate) (*x509.RevocationList, error) {
	data, err := os.ReadFile(p.Path(file))
	if err != nil {
		return nil, fmt.Errorf("read CRL: %w", err)
	}
	crl, err := parseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("%s: not signed by %q: %w", file, issuer.Subject.CommonName, err)
	}
	return crl, nil
}

func (p *PKI) writeCRL(file string, issuer *x509.Certificate, key *ecdsa.PrivateKey, entries []x509.RevocationListEntry, previous *big.Int) error {
	number := big.NewInt(1)
	if previous != nil {
		number.Add(previous, number)
	}
	now := time.Now().UTC()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.Add(-backdate),
		NextUpdate:                now.Add(crlValidity),
		RevokedCertificateEntries: entries,
	}, issuer, key)
	if err != nil {
		return fmt.Errorf("sign CRL %s: %w", file, err)
	}
	return writeFileAtomic(p.Path(file), der, 0o644)
}

func (p *PKI) leafTemplate(commonName string, notBefore, notAfter time.Time) *x509.Certificate {
	t := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if p.Issuing != nil && t.NotAfter.After(p.Issuing.NotAfter) {
		t.NotAfter = p.Issuing.NotAfter
	}
	if p.crlBaseURL != "" {
		t.CRLDistributionPoints = []string{p.crlBaseURL + "/" + IssuingCRLFile}
	}
	return t
}

// sign creates a fresh P-256 key and a certificate for it from template,
// signed by parent/parentKey, or self-signed when parent is nil. ECDSA is
// what Windows Server 2012 R2's only usable suites (ECDHE-ECDSA-GCM) need.
func (p *PKI) sign(template, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	template.SerialNumber, err = randomSerial()
	if err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse new certificate: %w", err)
	}
	return cert, key, nil
}

// randomSerial returns a positive 127-bit serial: unique without state and
// within RFC 5280's 20-octet limit.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// normalizeFQDN lower-cases a host name and rejects anything that is not a
// plain DNS name, because it also becomes a file name.
func normalizeFQDN(fqdn string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(fqdn, "."))
	if name == "" || len(name) > 253 {
		return "", fmt.Errorf("invalid client FQDN %q", fqdn)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("invalid client FQDN %q", fqdn)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", fmt.Errorf("invalid client FQDN %q", fqdn)
			}
		}
	}
	return name, nil
}

func loadSingleCertificate(path string) (*x509.Certificate, error) {
	certs, err := LoadCertificates(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}
