package otlp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Protocols Config.Protocol accepts.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// Default request size caps. The collector's gRPC receiver refuses messages
// over 4 MiB (grpc-go's default), so gRPC stays well below it; OTLP/HTTP
// receivers accept 20 MiB by default.
const (
	DefaultMaxRequestBytesGRPC = 3 << 20
	DefaultMaxRequestBytesHTTP = 16 << 20
	DefaultServiceName         = "wefgate"
	// DefaultTimeout bounds one request when neither timeout nor
	// OTEL_EXPORTER_OTLP_[LOGS_]TIMEOUT is set (the OTLP exporter spec's
	// default).
	DefaultTimeout = 10 * time.Second

	// Endpoints when neither the file nor the environment names one: the
	// OTLP exporter spec's http://localhost:4318 with the logs path for
	// HTTP, and its http://localhost:4317 (plaintext) for gRPC.
	defaultHTTPEndpoint = "http://localhost:4318/v1/logs"
	defaultGRPCEndpoint = "http://localhost:4317"
	logsPath            = "/v1/logs"

	maxReconnectDelay = 2 * time.Second
)

// Config selects and tunes the OTLP backend. Unset fields fall back to the
// standard environment variables of the OTLP exporter specification
// (https://opentelemetry.io/docs/specs/otel/protocol/exporter/):
// OTEL_EXPORTER_OTLP_[LOGS_]{PROTOCOL,ENDPOINT,INSECURE,HEADERS,COMPRESSION,
// TIMEOUT,CERTIFICATE,CLIENT_CERTIFICATE,CLIENT_KEY}, the LOGS_ variable
// winning over the generic one, and OTEL_SERVICE_NAME. New resolves them
// (see resolve) and refuses a malformed value, naming the variable.
type Config struct {
	// Protocol is "grpc" or "http/protobuf" (the OTLP default).
	Protocol string `yaml:"protocol"`
	// Endpoint is "host:port", or a URL ("https://collector:4318"); a URL
	// without a path gets /v1/logs for HTTP.
	Endpoint string `yaml:"endpoint"`
	// Insecure disables TLS for an endpoint given as host:port; false
	// leaves it to OTEL_EXPORTER_OTLP_[LOGS_]INSECURE. A URL's scheme
	// decides on its own (http: off, https: on).
	Insecure bool `yaml:"insecure"`
	// Headers are sent with every request (for example an API key).
	Headers map[string]string `yaml:"headers"`
	// CAFile, CertFile and KeyFile configure TLS: the server's CA bundle and
	// a client certificate for mutual TLS. Setting any of them replaces the
	// OTEL_EXPORTER_OTLP_*CERTIFICATE/KEY environment variables entirely.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Compression is "gzip" or "none".
	Compression string `yaml:"compression"`
	// Timeout bounds one request. Default: OTEL_EXPORTER_OTLP_[LOGS_]TIMEOUT
	// (milliseconds), else 10 s.
	Timeout time.Duration `yaml:"timeout"`
	// ServiceName and ServiceInstanceID become resource attributes; the
	// defaults are OTEL_SERVICE_NAME or "wefgate", and the gateway's host
	// name (the assembly passes node.name).
	ServiceName       string `yaml:"-"`
	ServiceInstanceID string `yaml:"-"`
	// MaxRequestBytes caps the encoded size of one request (before
	// compression); larger batches are split. A single record over the cap
	// travels alone. Defaults: 3 MiB for gRPC (receivers refuse more than
	// 4 MiB by default), 16 MiB for HTTP.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// ScopeAttributes are attributes of the instrumentation scope every
	// record is emitted under (for example elastic.mapping.mode, which
	// tells Elastic's OTLP intake how to store the records).
	ScopeAttributes map[string]string `yaml:"-"`
}

// Validate checks the settings given in the file; errors name the key
// (below exporters.otlp). New runs it too, so each value is checked here
// only. The protocol may also come from the environment, checked by New.
func (c *Config) Validate() error {
	if err := validProtocol(c.Protocol); err != nil {
		return err
	}
	switch c.Compression {
	case "", "gzip", "none":
	default:
		return fmt.Errorf("compression %q is neither gzip nor none", c.Compression)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout %s must not be negative", c.Timeout)
	}
	if c.MaxRequestBytes < 0 {
		return fmt.Errorf("max_request_bytes %d must not be negative", c.MaxRequestBytes)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("cert_file and key_file must be given together")
	}
	return nil
}

func validProtocol(p string) error {
	switch p {
	case "", ProtocolGRPC, ProtocolHTTP:
		return nil
	}
	return fmt.Errorf("protocol %q is neither %s nor %s", p, ProtocolGRPC, ProtocolHTTP)
}

// resolved is Config with the fallbacks applied: what the transport uses.
type resolved struct {
	Config
	// URL is the HTTP endpoint (scheme, host, port, path); Target the gRPC
	// host:port.
	URL    string
	Target string
	// Secure is TLS on; TLS its settings (nil: the system roots, no client
	// certificate).
	Secure bool
	TLS    *tls.Config
	// Gzip compresses request bodies.
	Gzip bool
}

// Environment variables, signal-specific first: the OTLP exporter spec
// says the LOGS_ variable wins over the generic one.
var (
	envProtocol    = []string{"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"}
	envInsecure    = []string{"OTEL_EXPORTER_OTLP_LOGS_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"}
	envHeaders     = []string{"OTEL_EXPORTER_OTLP_LOGS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"}
	envCompression = []string{"OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"}
	envTimeout     = []string{"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"}
	envCertificate = []string{"OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"}
	// Client certificate and key are taken as a pair from one level.
	envClientCert = [][2]string{
		{"OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY"},
		{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY"},
	}
)

const (
	envLogsEndpoint    = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
	envGenericEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
)

// resolve applies, for each setting, the file's value, else the
// environment (LOGS_ variable first), else the default. Endpoints:
//   - file endpoint: a URL is used as is, "/v1/logs" added for HTTP when it
//     has no path; host:port gets https:// (http:// when insecure) and
//     /v1/logs for HTTP;
//   - OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: a URL used as is (gRPC: its host);
//   - OTEL_EXPORTER_OTLP_ENDPOINT: a base URL to which HTTP appends
//     /v1/logs (gRPC: its host);
//   - default: http://localhost:4318/v1/logs, or http://localhost:4317
//     (plaintext) for gRPC.
//
// A URL's scheme decides TLS (https: on, http: off); otherwise insecure in
// the file, else OTEL_EXPORTER_OTLP_[LOGS_]INSECURE, else TLS on.
// CheckEnvironment resolves cfg against the OTEL_EXPORTER_OTLP_* variables
// as New does, without creating anything, so that check-config refuses
// what start-up would (a malformed variable, an unreadable certificate).
func CheckEnvironment(cfg Config) error {
	_, err := resolve(cfg)
	return err
}

func resolve(cfg Config) (resolved, error) {
	r := resolved{Config: cfg}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("otlp: %w", err)
	}
	if r.Protocol == "" {
		name, v := firstEnv(envProtocol)
		if err := validProtocol(v); err != nil {
			return r, fmt.Errorf("otlp: %s: %w", name, err)
		}
		r.Protocol = v
	}
	if r.Protocol == "" {
		r.Protocol = ProtocolHTTP
	}
	if r.ServiceName == "" {
		r.ServiceName = os.Getenv("OTEL_SERVICE_NAME")
	}
	if r.ServiceName == "" {
		r.ServiceName = DefaultServiceName
	}
	if r.ServiceInstanceID == "" {
		if h, err := os.Hostname(); err == nil {
			r.ServiceInstanceID = h
		}
	}
	if r.MaxRequestBytes <= 0 {
		r.MaxRequestBytes = DefaultMaxRequestBytesHTTP
		if r.Protocol == ProtocolGRPC {
			r.MaxRequestBytes = DefaultMaxRequestBytesGRPC
		}
	}
	for _, step := range []func() error{r.resolveEndpoint, r.resolveHeaders, r.resolveCompression, r.resolveTimeout, r.resolveTLS} {
		if err := step(); err != nil {
			return r, fmt.Errorf("otlp: %w", err)
		}
	}
	return r, nil
}

func (r *resolved) resolveEndpoint() error {
	endpoint, source := r.Endpoint, "endpoint"
	appendPath := r.Protocol == ProtocolHTTP // for a file URL without a path
	if endpoint == "" {
		if v := strings.TrimSpace(os.Getenv(envLogsEndpoint)); v != "" {
			endpoint, source, appendPath = v, envLogsEndpoint, false
		} else if v := strings.TrimSpace(os.Getenv(envGenericEndpoint)); v != "" {
			endpoint, source = v, envGenericEndpoint
		}
	}
	if endpoint == "" {
		endpoint, source, appendPath = defaultHTTPEndpoint, "default", false
		if r.Protocol == ProtocolGRPC {
			endpoint = defaultGRPCEndpoint
		}
	}
	insecure := r.Insecure
	if !insecure {
		name, v := firstEnv(envInsecure)
		if v != "" {
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil {
				return fmt.Errorf("%s: %q is neither true nor false", name, v)
			}
			insecure = b
		}
	}
	if !strings.Contains(endpoint, "://") {
		if strings.HasPrefix(source, "OTEL_") && r.Protocol == ProtocolHTTP {
			return fmt.Errorf("%s: %q is not a URL (http:// or https://)", source, endpoint)
		}
		// host:port; a path is only meaningful for HTTP.
		host, path, _ := strings.Cut(endpoint, "/")
		if host == "" {
			return fmt.Errorf("%s %q has no host", source, endpoint)
		}
		r.Secure = !insecure
		r.Target = host
		scheme := "https"
		if insecure {
			scheme = "http"
		}
		r.URL = scheme + "://" + host + "/" + path
		if path == "" {
			r.URL = scheme + "://" + host + logsPath
		}
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%s %q: %w", source, endpoint, err)
	}
	if u.Host == "" {
		return fmt.Errorf("%s %q has no host", source, endpoint)
	}
	switch u.Scheme {
	case "https":
		r.Secure = true
	case "http":
		r.Secure = false
	default:
		return fmt.Errorf("%s %q: scheme %q is neither http nor https", source, endpoint, u.Scheme)
	}
	r.Target = u.Host
	if appendPath {
		switch {
		case source == envGenericEndpoint:
			// The spec's per-signal URL: the base path, then v1/logs.
			u.Path = strings.TrimSuffix(u.Path, "/") + logsPath
		case u.Path == "" || u.Path == "/":
			u.Path = logsPath
		}
		u.RawPath = ""
	}
	r.URL = u.String()
	return nil
}

func (r *resolved) resolveHeaders() error {
	if len(r.Headers) > 0 {
		return nil
	}
	name, v := firstEnv(envHeaders)
	if v == "" {
		return nil
	}
	h, err := parseHeaders(v)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.Headers = h
	return nil
}

// parseHeaders reads the OTLP headers variable: comma-separated key=value
// pairs in the W3C Baggage format without properties, values
// percent-decoded (OTLP exporter spec, "Specifying headers via environment
// variables").
func parseHeaders(s string) (map[string]string, error) {
	out := make(map[string]string)
	for pair := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !validHeaderKey(k) {
			return nil, fmt.Errorf("%q is not key=value with a header name as key", pair)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", k, err)
		}
		out[k] = val
	}
	return out, nil
}

// validHeaderKey reports whether k is an RFC 9110 token.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func (r *resolved) resolveCompression() error {
	c := r.Compression
	if c == "" {
		name, v := firstEnv(envCompression)
		switch v {
		case "", "gzip", "none":
		default:
			return fmt.Errorf("%s: %q is neither gzip nor none", name, v)
		}
		c = v
	}
	r.Gzip = c == "gzip"
	return nil
}

func (r *resolved) resolveTimeout() error {
	if r.Timeout > 0 {
		return nil
	}
	r.Timeout = DefaultTimeout
	name, v := firstEnv(envTimeout)
	if v == "" {
		return nil
	}
	ms, err := strconv.Atoi(v)
	if err != nil || ms <= 0 {
		return fmt.Errorf("%s: %q is not a positive number of milliseconds", name, v)
	}
	r.Timeout = time.Duration(ms) * time.Millisecond
	return nil
}

// resolveTLS loads the CA bundle and client certificate: the file's
// settings when any is given (they replace the environment entirely), else
// OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE and the
// OTEL_EXPORTER_OTLP_[LOGS_]CLIENT_{CERTIFICATE,KEY} pair.
func (r *resolved) resolveTLS() error {
	ca, cert, key := r.CAFile, r.CertFile, r.KeyFile
	caName, certName := "ca_file", "cert_file"
	if ca == "" && cert == "" && key == "" {
		caName, ca = firstEnv(envCertificate)
		for _, pair := range envClientCert {
			c, k := strings.TrimSpace(os.Getenv(pair[0])), strings.TrimSpace(os.Getenv(pair[1]))
			if c == "" && k == "" {
				continue
			}
			if c == "" || k == "" {
				return fmt.Errorf("%s and %s must be set together", pair[0], pair[1])
			}
			cert, key, certName = c, k, pair[0]
			break
		}
	}
	if ca == "" && cert == "" {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return fmt.Errorf("%s: %w", caName, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: %s holds no PEM certificate", caName, ca)
		}
		cfg.RootCAs = pool
	}
	if cert != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("%s: load client certificate: %w", certName, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	r.TLS = cfg
	return nil
}

// firstEnv returns the first of names that is set, and its value.
func firstEnv(names []string) (name, value string) {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return n, v
		}
	}
	return names[len(names)-1], ""
}
