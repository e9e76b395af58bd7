package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ClientTLSConfig returns the TLS configuration of a forwarder: it
// presents only the leaf of certFile, as Windows does, whatever chain the
// file holds and whatever CA names the server hints, and verifies the
// server certificate for serverName against the CAs in rootCAFiles.
func ClientTLSConfig(certFile, keyFile string, rootCAFiles []string, serverName string) (*tls.Config, error) {
	if len(rootCAFiles) == 0 {
		return nil, errors.New("client TLS config: no root CA files")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client TLS config: %w", err)
	}
	roots := x509.NewCertPool()
	for _, path := range rootCAFiles {
		certs, err := LoadCertificates(path)
		if err != nil {
			return nil, fmt.Errorf("client TLS config: %w", err)
		}
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	return ClientTLSConfigFor(&pair, roots, serverName), nil
}

// ClientTLSConfigFor is ClientTLSConfig for a certificate already in
// memory (PKI.ClientCertificate); it offers cert's leaf alone.
func ClientTLSConfigFor(cert *tls.Certificate, roots *x509.CertPool, serverName string) *tls.Config {
	leafOnly := &tls.Certificate{Certificate: cert.Certificate[:1], PrivateKey: cert.PrivateKey, Leaf: cert.Leaf}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		ServerName: serverName,
		RootCAs:    roots,
		// Windows selects its certificate by the GPO IssuerCA, not by the
		// server's CA hint, so the certificate is always offered.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return leafOnly, nil
		},
	}
}
