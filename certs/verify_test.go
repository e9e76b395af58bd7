package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects log output written from server goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is an HTTPS endpoint that answers with the Identity of the
// client, as the WEF handler would compute it.
type testServer struct {
	url  string
	logs *syncBuffer
}

func startServer(t *testing.T, p *PKI, cfg VerifierConfig) (*testServer, *Verifier) {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := NewVerifier(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := v.ServerTLSConfig(p.Path(ServerCertFile), p.Path(ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := v.Identify(r.TLS)
			if err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(id)
		}),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelInfo),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(tls.NewListener(ln, tlsCfg))
	t.Cleanup(func() { srv.Close() })
	return &testServer{url: "https://" + ln.Addr().String() + "/wsman/", logs: logs}, v
}

// get performs one request on a fresh connection.
func get(t *testing.T, url string, cfg *tls.Config) (Identity, error) {
	t.Helper()
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
	resp, err := client.Get(url)
	if err != nil {
		return Identity{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Identity{}, errors.New(resp.Status + ": " + string(body))
	}
	var id Identity
	if err := json.Unmarshal(body, &id); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func clientConfig(t *testing.T, p *PKI, cc *ClientCert) *tls.Config {
	t.Helper()
	cfg, err := ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{p.Path(RootCAFile)}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newPKI(t *testing.T) *PKI {
	t.Helper()
	p, err := CreatePKI(PKIOptions{Dir: t.TempDir(), ServerNames: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func issue(t *testing.T, p *PKI, fqdn string, opts ...ClientOption) *ClientCert {
	t.Helper()
	cc, err := p.IssueClient(fqdn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func TestClientCertificateHandshakes(t *testing.T) {
	p := newPKI(t)
	rogue := newPKI(t)
	now := time.Now()
	srv, _ := startServer(t, p, VerifierConfig{
		CAFiles:           []string{p.Path(RootCAFile), p.Path(IssuingCAFile)},
		CRLFiles:          []string{p.Path(IssuingCRLFile)},
		FileCheckInterval: time.Millisecond,
	})
	revoked := issue(t, p, "revoked.example.test")
	if err := p.Revoke(revoked.Cert.SerialNumber); err != nil {
		t.Fatal(err)
	}
	// The verifier loaded the CRL before the revocation; it sees the new
	// one only after the check interval.
	time.Sleep(10 * time.Millisecond)

	tests := []struct {
		name       string
		client     func(t *testing.T) *tls.Config
		wantName   string
		wantReason string // substring of the server's refusal log line
	}{
		{
			name:     "leaf issued by the issuing CA",
			client:   func(t *testing.T) *tls.Config { return clientConfig(t, p, issue(t, p, "WIN10.Example.Test")) },
			wantName: "win10.example.test",
		},
		{
			name: "serverAuth-only EKU",
			client: func(t *testing.T) *tls.Config {
				return clientConfig(t, p, issue(t, p, "srvauth.example.test", WithExtKeyUsages(x509.ExtKeyUsageServerAuth)))
			},
			wantReason: ErrNoClientAuthUsage.Error(),
		},
		{
			name:       "rogue CA",
			client:     func(t *testing.T) *tls.Config { return clientConfig(t, p, issue(t, rogue, "rogue.example.test")) },
			wantReason: ErrUntrusted.Error(),
		},
		{
			name: "expired",
			client: func(t *testing.T) *tls.Config {
				return clientConfig(t, p, issue(t, p, "expired.example.test", WithValidityPeriod(now.Add(-48*time.Hour), now.Add(-24*time.Hour))))
			},
			wantReason: "expired",
		},
		{
			name:       "revoked",
			client:     func(t *testing.T) *tls.Config { return clientConfig(t, p, revoked) },
			wantReason: ErrRevoked.Error(),
		},
		{
			name: "neither common name nor DNS SAN",
			client: func(t *testing.T) *tls.Config {
				return clientConfig(t, p, issue(t, p, "nocn.example.test", WithCommonName(""), WithDNSNames()))
			},
			wantReason: ErrNoHostName.Error(),
		},
		{
			name: "no client certificate",
			client: func(t *testing.T) *tls.Config {
				cfg := clientConfig(t, p, issue(t, p, "unused.example.test"))
				cfg.GetClientCertificate = nil
				return cfg
			},
			wantReason: "reason=\"" + ErrNoClientCertificate.Error() + "\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logStart := len(srv.logs.String())
			id, err := get(t, srv.url, tt.client(t))
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("refused: %v\nserver log:\n%s", err, srv.logs)
				}
				want := Identity{Name: tt.wantName, DNSNames: []string{tt.wantName}, IssuerThumbprint: strings.ToLower(p.IssuerThumbprint())}
				if id.Name != want.Name || id.IssuerThumbprint != want.IssuerThumbprint || len(id.DNSNames) != 1 || id.DNSNames[0] != want.DNSNames[0] {
					t.Fatalf("identity %+v, want %+v", id, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %+v, want refusal", id)
			}
			// The server logs asynchronously to the client's error.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(srv.logs.String()[logStart:], tt.wantReason) {
				if time.Now().After(deadline) {
					t.Fatalf("server log lacks %q:\n%s", tt.wantReason, srv.logs)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestRefusalLogNamesRemoteAndSubject(t *testing.T) {
	p := newPKI(t)
	srv, _ := startServer(t, p, VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}})
	cc := issue(t, p, "badusage.example.test", WithExtKeyUsages(x509.ExtKeyUsageServerAuth))
	if _, err := get(t, srv.url, clientConfig(t, p, cc)); err == nil {
		t.Fatal("accepted a serverAuth-only certificate")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := srv.logs.String()
		if strings.Contains(logs, "client certificate refused") {
			for _, want := range []string{"remote=127.0.0.1:", "CN=badusage.example.test", "CN=wefgate Issuing CA"} {
				if !strings.Contains(logs, want) {
					t.Errorf("refusal log lacks %q:\n%s", want, logs)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRevocationTakesEffectAfterCRLReload(t *testing.T) {
	p := newPKI(t)
	srv, v := startServer(t, p, VerifierConfig{
		CAFiles:           []string{p.Path(RootCAFile), p.Path(IssuingCAFile)},
		CRLFiles:          []string{p.Path(IssuingCRLFile)},
		FileCheckInterval: time.Millisecond,
	})
	cc := issue(t, p, "host.example.test")
	cfg := clientConfig(t, p, cc)
	if _, err := get(t, srv.url, cfg); err != nil {
		t.Fatalf("before revocation: %v", err)
	}

	// A long-lived connection established before the revocation.
	conn, err := tls.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(srv.url, "https://"), "/wsman/"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	serverSide := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cc.Cert}}

	if err := p.Revoke(cc.Cert.SerialNumber); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := get(t, srv.url, cfg); err == nil {
		t.Fatal("revoked certificate accepted on a new connection")
	}
	if _, err := v.Identify(&serverSide); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Identify on the existing connection: err = %v, want ErrRevoked", err)
	}

	// A broken CRL file must not clear the known revocations.
	if err := os.WriteFile(p.Path(IssuingCRLFile), []byte("not a CRL"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := v.Identify(&serverSide); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after a corrupt CRL write: err = %v, want ErrRevoked", err)
	}
	if !strings.Contains(srv.logs.String(), "CRL reload failed") {
		t.Errorf("corrupt CRL not logged:\n%s", srv.logs)
	}
}

func TestMultipleIssuingCAsYieldTheirOwnThumbprint(t *testing.T) {
	a, b := newPKI(t), newPKI(t)
	bundle := filepath.Join(t.TempDir(), "cas.pem")
	if err := writeCertificatesPEM(bundle, a.Root, a.Issuing, b.Root, b.Issuing); err != nil {
		t.Fatal(err)
	}
	srv, _ := startServer(t, a, VerifierConfig{
		CAFiles:  []string{bundle},
		CRLFiles: []string{a.Path(IssuingCRLFile), b.Path(IssuingCRLFile)},
	})
	tests := []struct {
		name string
		pki  *PKI
	}{
		{"first CA", a},
		{"second CA", b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := issue(t, tt.pki, "host.example.test")
			cfg, err := ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{a.Path(RootCAFile)}, "localhost")
			if err != nil {
				t.Fatal(err)
			}
			id, err := get(t, srv.url, cfg)
			if err != nil {
				t.Fatalf("refused: %v\n%s", err, srv.logs)
			}
			if want := strings.ToLower(tt.pki.IssuerThumbprint()); id.IssuerThumbprint != want {
				t.Fatalf("issuer thumbprint %s, want %s", id.IssuerThumbprint, want)
			}
		})
	}
}

func TestIssuingCAAloneIsAnAnchor(t *testing.T) {
	p := newPKI(t)
	srv, _ := startServer(t, p, VerifierConfig{CAFiles: []string{p.Path(IssuingCAFile)}})
	id, err := get(t, srv.url, clientConfig(t, p, issue(t, p, "host.example.test")))
	if err != nil {
		t.Fatalf("refused: %v\n%s", err, srv.logs)
	}
	if id.IssuerThumbprint != strings.ToLower(p.IssuerThumbprint()) {
		t.Fatalf("issuer thumbprint %s", id.IssuerThumbprint)
	}
}

func TestServerTLSConfigSettings(t *testing.T) {
	p := newPKI(t)
	v, err := NewVerifier(VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := v.ServerTLSConfig(p.Path(ServerCertFile), p.Path(ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	if len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" {
		t.Errorf("NextProtos %v, want only http/1.1", cfg.NextProtos)
	}
	if cfg.ClientAuth != tls.RequestClientCert {
		t.Errorf("ClientAuth %v", cfg.ClientAuth)
	}
	// The CA-name hint lists the issuing CA, not the root.
	//lint:ignore SA1019 only to inspect the hint list, a pool without system roots
	subjects := cfg.ClientCAs.Subjects()
	if len(subjects) != 1 || !bytes.Equal(subjects[0], p.Issuing.RawSubject) {
		t.Errorf("ClientCAs hint has %d subjects, want the issuing CA only", len(subjects))
	}
}

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	p, other := newPKI(t), newPKI(t)
	tests := []struct {
		name string
		cfg  VerifierConfig
	}{
		{"no CA files", VerifierConfig{}},
		{"missing CA file", VerifierConfig{CAFiles: []string{filepath.Join(t.TempDir(), "none.pem")}}},
		{"leaf as CA", VerifierConfig{CAFiles: []string{p.Path(ServerCertFile)}}},
		{"CRL of an unconfigured CA", VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}, CRLFiles: []string{other.Path(IssuingCRLFile)}}},
		{"CRL is not a CRL", VerifierConfig{CAFiles: []string{p.Path(IssuingCAFile)}, CRLFiles: []string{p.Path(IssuingCAFile)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.cfg, slog.New(slog.DiscardHandler)); err == nil {
				t.Fatal("NewVerifier succeeded, want error")
			}
		})
	}
}

func TestServerCertificateReload(t *testing.T) {
	a, b := newPKI(t), newPKI(t)
	srv, _ := startServer(t, a, VerifierConfig{
		CAFiles:           []string{a.Path(IssuingCAFile)},
		FileCheckInterval: time.Millisecond,
	})
	cc := issue(t, a, "host.example.test")
	cfg, err := ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{a.Path(RootCAFile), b.Path(RootCAFile)}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.url, "https://"), "/wsman/")
	serverSerial := func() string {
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	if got := serverSerial(); got != a.Server.SerialNumber.String() {
		t.Fatalf("initial server certificate serial %s", got)
	}
	for _, name := range []string{ServerCertFile, ServerKeyFile} {
		data, err := os.ReadFile(b.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFileAtomic(a.Path(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	if got := serverSerial(); got != b.Server.SerialNumber.String() {
		t.Fatalf("server certificate not reloaded: serial %s, want %s", got, b.Server.SerialNumber)
	}
}

func TestClientTLSConfigPresentsLeafOnly(t *testing.T) {
	p := newPKI(t)
	cc := issue(t, p, "host.example.test")
	// A chain file, as an administrator might export it.
	chainFile := filepath.Join(t.TempDir(), "chain.pem")
	if err := writeCertificatesPEM(chainFile, cc.Cert, p.Issuing); err != nil {
		t.Fatal(err)
	}
	cfg, err := ClientTLSConfig(chainFile, cc.KeyFile, []string{p.Path(RootCAFile)}, "wec.example.test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.GetClientCertificate(&tls.CertificateRequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Certificate) != 1 || !bytes.Equal(got.Certificate[0], cc.Cert.Raw) {
		t.Fatalf("client presents %d certificates, want only its leaf", len(got.Certificate))
	}
	if cfg.ServerName != "wec.example.test" || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("ServerName %q MinVersion %x", cfg.ServerName, cfg.MinVersion)
	}
}

func TestClientTLSConfigRejectsBadInput(t *testing.T) {
	p := newPKI(t)
	a := issue(t, p, "a.example.test")
	b := issue(t, p, "b.example.test")
	tests := []struct {
		name              string
		certFile, keyFile string
		roots             []string
	}{
		{"no roots", a.CertFile, a.KeyFile, nil},
		{"key of another certificate", a.CertFile, b.KeyFile, []string{p.Path(RootCAFile)}},
		{"root file is not PEM", a.CertFile, a.KeyFile, []string{p.Path(IssuingCRLFile)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ClientTLSConfig(tt.certFile, tt.keyFile, tt.roots, "localhost"); err == nil {
				t.Fatal("ClientTLSConfig succeeded, want error")
			}
		})
	}
}

// TestWindows2012R2CipherSuites checks that a client limited to what
// Windows Server 2012 R2 offers for this setup (TLS 1.2, ECDHE-ECDSA with
// AES-GCM) completes the handshake and gets its identity.
func TestWindows2012R2CipherSuites(t *testing.T) {
	p := newPKI(t)
	srv, _ := startServer(t, p, VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}})
	suites := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
	for _, suite := range suites {
		t.Run(tls.CipherSuiteName(suite), func(t *testing.T) {
			cfg := clientConfig(t, p, issue(t, p, "legacy.example.test"))
			cfg.MaxVersion = tls.VersionTLS12
			cfg.CipherSuites = []uint16{suite}
			cfg.CurvePreferences = []tls.CurveID{tls.CurveP256, tls.CurveP384}
			if _, err := get(t, srv.url, cfg); err != nil {
				t.Fatalf("refused: %v\n%s", err, srv.logs)
			}
		})
	}
}

// TestTLS12OffersAEADOnly: a TLS 1.2 client offering only CBC suites with
// SHA-1 MACs is refused, unless the suites are configured.
func TestTLS12OffersAEADOnly(t *testing.T) {
	p := newPKI(t)
	cas := []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}
	tests := []struct {
		name       string
		configured []string
		offer      uint16
		accepted   bool
	}{
		{"default refuses AES128-SHA", nil, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
		{"default refuses AES256-SHA", nil, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
		{"default accepts AES-GCM", nil, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true},
		{"default accepts ChaCha20", nil, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
		{"configured CBC accepted", []string{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"}, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := startServer(t, p, VerifierConfig{CAFiles: cas, CipherSuites: tt.configured})
			cfg := clientConfig(t, p, issue(t, p, "suite.example.test"))
			cfg.MaxVersion = tls.VersionTLS12
			cfg.CipherSuites = []uint16{tt.offer}
			_, err := get(t, srv.url, cfg)
			if tt.accepted && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.accepted && err == nil {
				t.Fatalf("%s accepted", tls.CipherSuiteName(tt.offer))
			}
		})
	}
	if _, err := NewVerifier(VerifierConfig{CAFiles: cas, CipherSuites: []string{"AES128-SHA"}}, nil); err == nil ||
		!strings.Contains(err.Error(), `"AES128-SHA"`) {
		t.Errorf("unknown suite name: error %v, want one naming it", err)
	}
}

// TestChainRevocationAndIdentityForm covers what a review found: every
// link of the chain is checked against its parent's CRL, a renewed CA
// certificate with the same key stays under its CRL, and a certificate
// cannot claim a Kerberos-style identity.
func TestChainRevocationAndIdentityForm(t *testing.T) {
	p := newPKI(t)
	cc := issue(t, p, "host.example.test")
	rootKey, err := loadECKey(p.Path(RootCAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	issuingKey, err := loadECKey(p.Path(IssuingCAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	writeCRL := func(name string, issuer *x509.Certificate, key *ecdsa.PrivateKey, serials ...*big.Int) string {
		var entries []x509.RevocationListEntry
		for _, s := range serials {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now})
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(now.UnixNano()), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour),
			RevokedCertificateEntries: entries,
		}, issuer, key)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, der, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	peer := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cc.Cert}}

	// The issuing CA revoked on the root's CRL: its clients are refused.
	rootCRL := writeCRL("root.crl", p.Root, rootKey, p.Issuing.SerialNumber)
	v, err := NewVerifier(VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}, CRLFiles: []string{rootCRL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Identify(peer); !errors.Is(err, ErrRevoked) {
		t.Errorf("leaf of a revoked issuing CA: err = %v, want ErrRevoked", err)
	}

	// The issuing CA renewed with the same key, listed after an expired
	// copy: a revocation on its CRL applies through either certificate.
	expiredTmpl := *p.Issuing
	expiredTmpl.SerialNumber = big.NewInt(now.UnixNano())
	expiredTmpl.NotBefore, expiredTmpl.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	expiredDER, err := x509.CreateCertificate(rand.Reader, &expiredTmpl, p.Root, p.Issuing.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "cas.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: expiredDER})
	for _, f := range []string{RootCAFile, IssuingCAFile} {
		b, err := os.ReadFile(p.Path(f))
		if err != nil {
			t.Fatal(err)
		}
		pemData = append(pemData, b...)
	}
	if err := os.WriteFile(bundle, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	leafCRL := writeCRL("issuing.crl", p.Issuing, issuingKey, cc.Cert.SerialNumber)
	v, err = NewVerifier(VerifierConfig{CAFiles: []string{bundle}, CRLFiles: []string{leafCRL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Identify(peer); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked leaf under a renewed CA: err = %v, want ErrRevoked", err)
	}

	// A CN in Kerberos form is not a host identity.
	principal := issue(t, p, "x.example.test", WithCommonName("dc01$@corp.example"))
	v, err = NewVerifier(VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Identify(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{principal.Cert}}); !errors.Is(err, ErrCommonNameNotHost) {
		t.Errorf("CN dc01$@corp.example: err = %v, want ErrCommonNameNotHost", err)
	}
}

// TestIdentityFromSAN checks where the host identity comes from: the
// subject CN when there is one, else the first SAN dNSName, lower-cased,
// as for AD CS "Workstation Authentication" certificates whose subject is
// empty; and that the verifier logs which field it used.
func TestIdentityFromSAN(t *testing.T) {
	p := newPKI(t)
	srv, _ := startServer(t, p, VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}})
	tests := []struct {
		name       string
		opts       []ClientOption
		wantName   string
		wantSource IdentitySource
		wantErr    string
	}{
		{"CN and SAN: the CN", []ClientOption{WithCommonName("WKS-0042.Corp.Example.TEST"), WithDNSNames("other.corp.example.test")},
			"wks-0042.corp.example.test", IdentityFromCN, ""},
		{"empty subject: the first DNS SAN, lower-cased", []ClientOption{WithCommonName(""), WithDNSNames("FINANCE-WKS-LONDON-07.Example.TEST", "alias.example.test")},
			"finance-wks-london-07.example.test", IdentityFromDNSName, ""},
		{"empty subject, no DNS SAN", []ClientOption{WithCommonName(""), WithDNSNames()},
			"", "", ErrNoHostName.Error()},
		{"empty subject, wildcard DNS SAN", []ClientOption{WithCommonName(""), WithDNSNames("*.example.test")},
			"", "", ErrCommonNameNotHost.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := issue(t, p, "placeholder.example.test", tt.opts...)
			logStart := len(srv.logs.String())
			id, err := get(t, srv.url, clientConfig(t, p, cc))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("accepted as %+v, want refusal", id)
				}
				deadline := time.Now().Add(5 * time.Second)
				for !strings.Contains(srv.logs.String()[logStart:], tt.wantErr) {
					if time.Now().After(deadline) {
						t.Fatalf("server log lacks %q:\n%s", tt.wantErr, srv.logs)
					}
					time.Sleep(10 * time.Millisecond)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v\nserver log:\n%s", err, srv.logs)
			}
			if id.Name != tt.wantName || id.Source != tt.wantSource {
				t.Errorf("identity %q from %q, want %q from %q", id.Name, id.Source, tt.wantName, tt.wantSource)
			}
			logs := srv.logs.String()[logStart:]
			for _, want := range []string{"client certificate identity", "identity=" + tt.wantName, "source=" + string(tt.wantSource)} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
		})
	}
}
