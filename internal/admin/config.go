package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"wefgate/internal/loopback"
)

// Config is the admin listener: the status page (/), /metrics, /hosts,
// /stats and /healthz, all read-only.
type Config struct {
	// Address is host:port; empty disables the listener. A bare port
	// (":5980") binds to loopback, and any other host needs basic_auth or
	// client_ca_file, so the page is never open to the network by accident.
	Address string `yaml:"address"`
	// BasicAuth, when Username is set, asks every request for HTTP basic
	// authentication (RFC 7617); use it with TLS off loopback.
	BasicAuth BasicAuth `yaml:"basic_auth"`
	// CertFile and KeyFile make the listener HTTPS; ClientCAFile (which
	// needs them) also requires a client certificate issued by that CA.
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// BasicAuth is one user; the password is read from a file so that it stays
// out of the configuration.
type BasicAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// DefaultConfig is the admin listener off.
func DefaultConfig() Config { return Config{} }

// ApplyDefaults turns a bare port (":5980") into a loopback address, so
// that the listener never binds to every interface by omission.
func (c *Config) ApplyDefaults() {
	if host, port, err := net.SplitHostPort(c.Address); err == nil && host == "" {
		c.Address = net.JoinHostPort("127.0.0.1", port)
	}
}

// Validate checks the keys without changing them (a bare port counts as
// loopback, as ApplyDefaults makes it). Errors name the offending key.
func (c *Config) Validate() error {
	if c.Address == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return fmt.Errorf("admin.address %q: %w", c.Address, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if (c.BasicAuth.Username == "") != (c.BasicAuth.PasswordFile == "") {
		return errors.New("admin.basic_auth: set both username and password_file, or neither")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("admin: set both cert_file and key_file, or neither")
	}
	if c.ClientCAFile != "" && c.CertFile == "" {
		return errors.New("admin.client_ca_file needs cert_file and key_file (client certificates need TLS)")
	}
	if !loopback.Host(host) && c.BasicAuth.Username == "" && c.ClientCAFile == "" {
		return fmt.Errorf("admin.address %q is not a loopback address: set admin.basic_auth or admin.client_ca_file to protect it", c.Address)
	}
	return nil
}

// TLSConfig returns the listener's TLS configuration, or nil for plain
// HTTP.
func (c *Config) TLSConfig() (*tls.Config, error) {
	if c.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("admin.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("admin.client_ca_file %s: no PEM certificate", c.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Password reads basic_auth.password_file, without its line end.
func (c *Config) Password() (string, error) {
	pw, err := os.ReadFile(c.BasicAuth.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("admin.basic_auth.password_file: %w", err)
	}
	return strings.TrimRight(string(pw), "\r\n"), nil
}

// Protect wraps h with basic authentication when configured; the password
// file is read now.
func (c *Config) Protect(h http.Handler) (http.Handler, error) {
	if c.BasicAuth.Username == "" {
		return h, nil
	}
	password, err := c.Password()
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, fmt.Errorf("admin.basic_auth.password_file %s is empty", c.BasicAuth.PasswordFile)
	}
	// Comparing digests keeps the comparison constant-time whatever the
	// lengths.
	wantUser, wantPass := sha256.Sum256([]byte(c.BasicAuth.Username)), sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		if !ok || subtle.ConstantTimeCompare(gotUser[:], wantUser[:])&subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="wefgate", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}
