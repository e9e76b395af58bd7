package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestThumbprintMatchesSHA1OfDER(t *testing.T) {
	certs, err := LoadCertificates(filepath.Join("testdata", "thumbprint.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// Computed outside Go: openssl x509 -outform der | sha1sum.
	const want = "224447A68C305E0C4718449EFBFDDFCC79047B24"
	if got := Thumbprint(certs[0]); got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
}

func TestCreatePKIWritesFiles(t *testing.T) {
	dir := t.TempDir()
	p, err := CreatePKI(PKIOptions{
		Dir:         dir,
		ServerNames: []string{"wec.example.test", "192.0.2.10", "wec"},
		Clients:     []string{"WIN10.Example.Test"},
		Validity:    90 * 24 * time.Hour,
		CRLBaseURL:  "http://pki.example.test/crl/",
	})
	if err != nil {
		t.Fatal(err)
	}

	files := []struct {
		name string
		perm os.FileMode
	}{
		{RootCAFile, 0o644},
		{RootCAKeyFile, 0o600},
		{RootCRLFile, 0o644},
		{IssuingCAFile, 0o644},
		{IssuingCAKeyFile, 0o600},
		{IssuingCRLFile, 0o644},
		{ServerCertFile, 0o644},
		{ServerKeyFile, 0o600},
		{filepath.Join(ClientsDir, "win10.example.test.pem"), 0o644},
		{filepath.Join(ClientsDir, "win10.example.test-key.pem"), 0o600},
		{filepath.Join(ClientsDir, "win10.example.test.p12"), 0o600},
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		if fi.Mode().Perm() != f.perm {
			t.Errorf("%s: mode %v, want %v", f.name, fi.Mode().Perm(), f.perm)
		}
	}

	if p.Root.Subject.CommonName != RootCAName || p.Issuing.Subject.CommonName != IssuingCAName {
		t.Errorf("CA names %q, %q", p.Root.Subject.CommonName, p.Issuing.Subject.CommonName)
	}
	if err := p.Issuing.CheckSignatureFrom(p.Root); err != nil {
		t.Errorf("issuing CA not signed by root: %v", err)
	}

	chain, err := LoadCertificates(filepath.Join(dir, ServerCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 || !chain[1].Equal(p.Issuing) {
		t.Fatalf("server.pem holds %d certificates, want leaf + issuing CA", len(chain))
	}
	srv := chain[0]
	if srv.Subject.CommonName != "wec.example.test" {
		t.Errorf("server CN %q", srv.Subject.CommonName)
	}
	if !slices.Equal(srv.DNSNames, []string{"wec.example.test", "wec"}) {
		t.Errorf("server DNS SANs %v", srv.DNSNames)
	}
	if len(srv.IPAddresses) != 1 || !srv.IPAddresses[0].Equal(net.ParseIP("192.0.2.10")) {
		t.Errorf("server IP SANs %v", srv.IPAddresses)
	}
	if !slices.Equal(srv.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("server EKU %v", srv.ExtKeyUsage)
	}
	if got := srv.NotAfter.Sub(srv.NotBefore); got < 90*24*time.Hour || got > 91*24*time.Hour {
		t.Errorf("server validity %v", got)
	}
	if !slices.Equal(srv.CRLDistributionPoints, []string{"http://pki.example.test/crl/issuing-ca.crl"}) {
		t.Errorf("server CDP %v", srv.CRLDistributionPoints)
	}
	if !slices.Equal(p.Issuing.CRLDistributionPoints, []string{"http://pki.example.test/crl/root-ca.crl"}) {
		t.Errorf("issuing CA CDP %v", p.Issuing.CRLDistributionPoints)
	}

	client, err := LoadCertificates(filepath.Join(dir, ClientsDir, "win10.example.test.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if len(client) != 1 {
		t.Errorf("client PEM holds %d certificates, want the leaf only", len(client))
	}
	c := client[0]
	if c.Subject.CommonName != "win10.example.test" || !slices.Equal(c.DNSNames, []string{"win10.example.test"}) {
		t.Errorf("client CN %q SANs %v", c.Subject.CommonName, c.DNSNames)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("client EKU %v", c.ExtKeyUsage)
	}
	for _, cert := range []*x509.Certificate{p.Root, p.Issuing, srv, c} {
		if cert.PublicKeyAlgorithm != x509.ECDSA || cert.SignatureAlgorithm != x509.ECDSAWithSHA256 {
			t.Errorf("%s: key %v signature %v, want ECDSA P-256", cert.Subject.CommonName, cert.PublicKeyAlgorithm, cert.SignatureAlgorithm)
		}
	}

	crlDER, err := os.ReadFile(filepath.Join(dir, IssuingCRLFile))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		t.Fatalf("issuing-ca.crl is not a DER CRL: %v", err)
	}
	if err := crl.CheckSignatureFrom(p.Issuing); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("new CRL lists %d entries", len(crl.RevokedCertificateEntries))
	}
}

func TestCreatePKIRefusesBadInput(t *testing.T) {
	existing := t.TempDir()
	if _, err := CreatePKI(PKIOptions{Dir: existing, ServerNames: []string{"wec.example.test"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts PKIOptions
	}{
		{"no dir", PKIOptions{ServerNames: []string{"wec.example.test"}}},
		{"no server name", PKIOptions{Dir: t.TempDir()}},
		{"existing PKI", PKIOptions{Dir: existing, ServerNames: []string{"wec.example.test"}}},
		{"path in client name", PKIOptions{Dir: t.TempDir(), ServerNames: []string{"wec"}, Clients: []string{"../evil"}}},
		{"empty client label", PKIOptions{Dir: t.TempDir(), ServerNames: []string{"wec"}, Clients: []string{"a..b"}}},
		{"negative validity", PKIOptions{Dir: t.TempDir(), ServerNames: []string{"wec"}, Validity: -time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := CreatePKI(tt.opts); err == nil {
				t.Fatal("CreatePKI succeeded, want error")
			}
		})
	}
}

func TestEnsureDevPKIIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	first, created, err := EnsureDevPKI(dir, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("first call did not report creation")
	}
	entries, err := os.ReadDir(filepath.Join(dir, ClientsDir))
	if err != nil || len(entries) != 0 {
		t.Fatalf("dev PKI clients dir: %v entries, err %v", len(entries), err)
	}

	second, created, err := EnsureDevPKI(dir, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Fatal("second call re-created the PKI")
	}
	if first.IssuerThumbprint() != second.IssuerThumbprint() {
		t.Fatalf("issuer thumbprint changed: %s then %s", first.IssuerThumbprint(), second.IssuerThumbprint())
	}
	if !first.Server.Equal(second.Server) || !first.Root.Equal(second.Root) {
		t.Fatal("loaded certificates differ from the created ones")
	}

	// A new server name keeps the CAs but re-issues the server certificate.
	third, created, err := EnsureDevPKI(dir, []string{"wec.example.test", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if created || third.IssuerThumbprint() != first.IssuerThumbprint() {
		t.Fatalf("created %v, issuer thumbprint %s, want the original CAs", created, third.IssuerThumbprint())
	}
	if third.Server.Equal(first.Server) || third.Server.VerifyHostname("wec.example.test") != nil {
		t.Fatal("server certificate not re-issued for the new name")
	}
	onDisk, err := LoadPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !onDisk.Server.Equal(third.Server) {
		t.Fatal("re-issued server certificate not written")
	}
	if _, err := tls.LoadX509KeyPair(onDisk.Path(ServerCertFile), onDisk.Path(ServerKeyFile)); err != nil {
		t.Fatalf("re-issued server key pair: %v", err)
	}

	// The loaded PKI keeps its signing ability.
	cc, err := second.IssueClient("late.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.Cert.CheckSignatureFrom(first.Issuing); err != nil {
		t.Fatalf("client issued by loaded PKI: %v", err)
	}
}

func TestEnsureDevPKIRejectsMismatchedKey(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	for _, d := range []string{dir, other} {
		if _, err := CreatePKI(PKIOptions{Dir: d, ServerNames: []string{"localhost"}}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := os.ReadFile(filepath.Join(other, IssuingCAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, IssuingCAKeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureDevPKI(dir, []string{"localhost"}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("EnsureDevPKI with a foreign issuing key: err = %v", err)
	}
}

func TestRevokeAccumulatesEntries(t *testing.T) {
	p, err := CreatePKI(PKIOptions{Dir: t.TempDir(), ServerNames: []string{"wec"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.IssueClient("a.example.test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.IssueClient("b.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []*x509.Certificate{a.Cert, b.Cert, a.Cert} {
		if err := p.Revoke(serial.SerialNumber); err != nil {
			t.Fatal(err)
		}
	}
	crl, err := p.readCRL(IssuingCRLFile, p.Issuing)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 2 {
		t.Fatalf("CRL lists %d entries, want 2", len(crl.RevokedCertificateEntries))
	}
	if crl.Number.Int64() != 4 {
		t.Errorf("CRL number %v, want 4 (created + 3 rewrites)", crl.Number)
	}
}

func TestClientIssuers(t *testing.T) {
	p, err := CreatePKI(PKIOptions{Dir: t.TempDir(), ServerNames: []string{"wec.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cas  []*x509.Certificate
		want []*x509.Certificate
	}{
		{"root and issuing", []*x509.Certificate{p.Root, p.Issuing}, []*x509.Certificate{p.Issuing}},
		{"issuing listed twice", []*x509.Certificate{p.Issuing, p.Root, p.Issuing}, []*x509.Certificate{p.Issuing}},
		{"root alone", []*x509.Certificate{p.Root}, []*x509.Certificate{p.Root}},
		{"issuing alone", []*x509.Certificate{p.Issuing}, []*x509.Certificate{p.Issuing}},
	}
	for _, tt := range tests {
		got := ClientIssuers(tt.cas)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d issuers, want %d", tt.name, len(got), len(tt.want))
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: issuer %d is %s", tt.name, i, got[i].Subject.CommonName)
			}
		}
	}
}
