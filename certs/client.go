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
	leafOnly := &tls.Certificate{
		Certificate: pair.Certificate[:1],
		PrivateKey:  pair.PrivateKey,
		Leaf:        pair.Leaf,
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
	}, nil
}
