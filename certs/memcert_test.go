package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

// TestClientCertificateInMemory: the in-memory certificate chains to the
// PKI for client authentication like an issued one, and no file appears.
func TestClientCertificateInMemory(t *testing.T) {
	p, err := CreatePKI(PKIOptions{Dir: t.TempDir(), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.ClientCertificate("Load00001.Example.Test")
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(p.Root)
	inter.AddCert(p.Issuing)
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("in-memory client certificate does not verify: %v", err)
	}
	if c.Leaf.Subject.CommonName != "load00001.example.test" {
		t.Errorf("CN %q", c.Leaf.Subject.CommonName)
	}
	if entries, _ := os.ReadDir(filepath.Join(p.Dir, ClientsDir)); len(entries) != 0 {
		t.Errorf("%d files written for an in-memory certificate", len(entries))
	}
	if _, err := p.ClientCertificate("not a name"); err == nil {
		t.Error("a bad FQDN was accepted")
	}
	cfg := ClientTLSConfigFor(c, roots, "localhost")
	if got, _ := cfg.GetClientCertificate(nil); len(got.Certificate) != 1 {
		t.Errorf("offers %d certificates, want the leaf alone", len(got.Certificate))
	}
}
