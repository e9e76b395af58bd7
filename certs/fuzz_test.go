package certs

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary client certificates (the part of the
// handshake a forwarder controls) to the verifier: it must never panic and
// must accept only certificates signed by the configured issuing CA.
func FuzzVerify(f *testing.F) {
	p, err := CreatePKI(PKIOptions{Dir: f.TempDir(), ServerNames: []string{"localhost"}})
	if err != nil {
		f.Fatal(err)
	}
	rogue, err := CreatePKI(PKIOptions{Dir: f.TempDir(), ServerNames: []string{"localhost"}})
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{
		CAFiles:  []string{p.Path(RootCAFile), p.Path(IssuingCAFile)},
		CRLFiles: []string{p.Path(IssuingCRLFile)},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		pki  *PKI
		fqdn string
		opts []ClientOption
	}{
		{p, "good.example.test", nil},
		{p, "expired.example.test", []ClientOption{WithValidityPeriod(now.Add(-2*time.Hour), now.Add(-time.Hour))}},
		{p, "nocn.example.test", []ClientOption{WithCommonName("")}},
		{rogue, "rogue.example.test", nil},
	} {
		cc, err := c.pki.IssueClient(c.fqdn, c.opts...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cc.Cert.Raw)
	}
	f.Add(p.Issuing.Raw)
	f.Add(p.Server.Raw)

	f.Fuzz(func(t *testing.T, der []byte) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		id, err := v.verify([]*x509.Certificate{cert})
		if err != nil {
			return
		}
		if cert.CheckSignatureFrom(p.Issuing) != nil {
			t.Fatalf("accepted a certificate not signed by the issuing CA: %+v", id)
		}
		if id.Name == "" {
			t.Fatal("accepted identity with an empty name")
		}
	})
}

// FuzzParseCRL checks that arbitrary CRL file contents are rejected or
// parsed without panicking.
func FuzzParseCRL(f *testing.F) {
	p, err := CreatePKI(PKIOptions{Dir: f.TempDir(), ServerNames: []string{"localhost"}})
	if err != nil {
		f.Fatal(err)
	}
	der, err := os.ReadFile(p.Path(IssuingCRLFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		crl, err := parseCRL(data)
		if err == nil && crl == nil {
			t.Fatal("nil CRL without error")
		}
	})
}
