package server

import (
	"errors"
	"fmt"
	"net"

	"wefgate/certs"
)

// HTTPSConfig is the https: section of the configuration: the
// client-certificate listener (GPO URL https://…,IssuerCA=…).
type HTTPSConfig struct {
	// Enabled defaults to true (the configuration decides when unset).
	Enabled *bool  `yaml:"enabled"`
	Address string `yaml:"address"`
	// AdvertisedPort is the port forwarders connect to, when a load
	// balancer or NAT changes it; defaults to the listening port.
	AdvertisedPort int `yaml:"advertised_port"`
	// ServerCert and ServerKey default to the development PKI in data_dir.
	ServerCert string `yaml:"server_cert"`
	ServerKey  string `yaml:"server_key"`
	// CAFiles hold the roots and issuing CAs client certificates chain to;
	// defaults to the development PKI's.
	CAFiles  []string `yaml:"ca_files"`
	CRLFiles []string `yaml:"crl_files"`
	// CipherSuites are the TLS 1.2 suites offered (crypto/tls names);
	// empty means AEAD suites only (certs.AEADCipherSuites).
	CipherSuites []string `yaml:"cipher_suites"`
}

// HTTPConfig is the http: section of the configuration: the Kerberos
// listener (GPO URL http://…).
type HTTPConfig struct {
	// Enabled defaults to on when a keytab is set (the configuration
	// decides when unset).
	Enabled        *bool  `yaml:"enabled"`
	Address        string `yaml:"address"`
	AdvertisedPort int    `yaml:"advertised_port"`
	// Keytab holds the keys of HTTP/<hostname> and HOST/<hostname>.
	Keytab string `yaml:"keytab"`
}

// DefaultHTTPSConfig returns the https: section's defaults: port 5986,
// the development PKI.
func DefaultHTTPSConfig() HTTPSConfig { return HTTPSConfig{Address: ":5986"} }

// DefaultHTTPConfig returns the http: section's defaults: port 5985.
func DefaultHTTPConfig() HTTPConfig { return HTTPConfig{Address: ":5985"} }

// Validate checks the https: section; errors name the key.
func (l *HTTPSConfig) Validate() error {
	if (l.ServerCert == "") != (l.ServerKey == "") {
		return errors.New("https: set both server_cert and server_key, or neither")
	}
	if _, err := certs.ParseCipherSuites(l.CipherSuites); err != nil {
		return fmt.Errorf("cipher_suites: %w", err)
	}
	if l.ServerCert != "" && len(l.CAFiles) == 0 {
		return errors.New("https: ca_files is required with your own server certificate")
	}
	return validateListen(l.Address, l.AdvertisedPort)
}

// Validate checks the http: section; errors name the key.
func (l *HTTPConfig) Validate() error {
	if l.Enabled != nil && *l.Enabled && l.Keytab == "" {
		return errors.New("http: the Kerberos listener needs a keytab")
	}
	return validateListen(l.Address, l.AdvertisedPort)
}

func validateListen(addr string, advertisedPort int) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	// SplitHostPort takes any port text; the listener would refuse it
	// only at start, after check-config had passed it.
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("address %q: port %q is not a number from 0 to 65535 nor a service name", addr, port)
	}
	if advertisedPort < 0 || advertisedPort > 65535 {
		return fmt.Errorf("advertised_port %d out of range", advertisedPort)
	}
	return nil
}
