package otlp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
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
	DefaultMaxCachedHosts      = 4096
	DefaultServiceName         = "wefgate"

	maxReconnectDelay = 2 * time.Second
)

// Config selects and tunes the OTLP backend. Unset fields fall back to the
// standard environment variables: the SDK exporters read
// OTEL_EXPORTER_OTLP_[LOGS_]{ENDPOINT,INSECURE,HEADERS,COMPRESSION,TIMEOUT,
// CERTIFICATE,CLIENT_CERTIFICATE,CLIENT_KEY} themselves whenever the
// corresponding option is not passed, so New passes an option only for a
// field that is set. New itself reads OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL and
// OTEL_SERVICE_NAME, which the SDK exporters do not.
type Config struct {
	// Protocol is "grpc" or "http/protobuf" (the OTLP default).
	Protocol string `yaml:"protocol"`
	// Endpoint is "host:port", or a URL ("https://collector:4318"); a URL
	// without a path gets /v1/logs for HTTP.
	Endpoint string `yaml:"endpoint"`
	// Insecure disables TLS. False leaves the choice to the environment (an
	// http:// endpoint is insecure too).
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
	// Timeout bounds one request (HTTP: per attempt; gRPC: including its
	// retries). The SDK default is 10 s.
	Timeout time.Duration `yaml:"timeout"`
	// ServiceName and ServiceInstanceID become resource attributes; the
	// defaults are OTEL_SERVICE_NAME or "wefgate", and the gateway's host
	// name (the assembly passes node.name).
	ServiceName       string `yaml:"-"`
	ServiceInstanceID string `yaml:"-"`
	// MaxRequestBytes caps the serialized size of one request; larger
	// batches are split (gRPC receivers refuse more than 4 MiB by default).
	// Defaults: 3 MiB for gRPC, 16 MiB for HTTP.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// MaxCachedHosts bounds the per-host resource cache (default 4096).
	MaxCachedHosts int `yaml:"-"`
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

// resolved is Config with the fallbacks applied.
type resolved struct {
	Config
}

func resolve(cfg Config) (resolved, error) {
	r := resolved{cfg}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("otlp: %w", err)
	}
	if r.Protocol == "" {
		r.Protocol = firstEnv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
		if err := validProtocol(r.Protocol); err != nil {
			return r, fmt.Errorf("otlp: OTEL_EXPORTER_OTLP_PROTOCOL: %w", err)
		}
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
	if r.MaxCachedHosts <= 0 {
		r.MaxCachedHosts = DefaultMaxCachedHosts
	}
	return r, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// tlsConfig builds the TLS settings from the files, or returns nil when none
// is set so that the SDK's own environment handling applies.
func (r resolved) tlsConfig() (*tls.Config, error) {
	if r.CAFile == "" && r.CertFile == "" && r.KeyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("otlp: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("otlp: CA file %s holds no PEM certificate", r.CAFile)
		}
		cfg.RootCAs = pool
	}
	if r.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("otlp: load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// endpointURL parses Endpoint when it is a URL (has a scheme).
func (r resolved) endpointURL() (*url.URL, bool, error) {
	if !strings.Contains(r.Endpoint, "://") {
		return nil, false, nil
	}
	u, err := url.Parse(r.Endpoint)
	if err != nil {
		return nil, false, fmt.Errorf("otlp: endpoint %q: %w", r.Endpoint, err)
	}
	if u.Host == "" {
		return nil, false, fmt.Errorf("otlp: endpoint %q has no host", r.Endpoint)
	}
	return u, true, nil
}

// newSDKExporter builds the SDK exporter for the protocol. The SDK exporter
// also enforces MaxRequestBytes itself (it measures the real serialized
// size), which catches any request the size estimate let through.
func newSDKExporter(ctx context.Context, r resolved) (sdklog.Exporter, error) {
	tlsCfg, err := r.tlsConfig()
	if err != nil {
		return nil, err
	}
	u, isURL, err := r.endpointURL()
	if err != nil {
		return nil, err
	}
	switch r.Protocol {
	case ProtocolGRPC:
		opts := []otlploggrpc.Option{
			otlploggrpc.WithMaxRequestSize(r.MaxRequestBytes),
			// The shipper retries with its own jittered backoff and reports
			// outages; the SDK's retry (up to a minute inside one Export)
			// would only delay both.
			otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}),
			// grpc-go backs reconnection off up to 120 s, so after an
			// outage exports would keep failing long after the backend is
			// back; a short cap resumes delivery within seconds.
			otlploggrpc.WithDialOption(grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxReconnectDelay},
				MinConnectTimeout: 5 * time.Second,
			})),
		}
		switch {
		case isURL:
			opts = append(opts, otlploggrpc.WithEndpointURL(u.String()))
		case r.Endpoint != "":
			opts = append(opts, otlploggrpc.WithEndpoint(r.Endpoint))
		}
		if r.Insecure {
			opts = append(opts, otlploggrpc.WithInsecure())
		} else if tlsCfg != nil {
			opts = append(opts, otlploggrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
		}
		if len(r.Headers) > 0 {
			opts = append(opts, otlploggrpc.WithHeaders(r.Headers))
		}
		if r.Compression != "" {
			opts = append(opts, otlploggrpc.WithCompressor(r.Compression))
		}
		if r.Timeout > 0 {
			opts = append(opts, otlploggrpc.WithTimeout(r.Timeout))
		}
		exp, err := otlploggrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp: gRPC exporter: %w", err)
		}
		return exp, nil
	default:
		opts := []otlploghttp.Option{
			otlploghttp.WithMaxRequestSize(r.MaxRequestBytes),
			otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}),
		}
		switch {
		case isURL:
			// WithEndpointURL posts to the URL's path as is, "/" when it
			// has none, where collectors serve nothing.
			if u.Path == "" || u.Path == "/" {
				u.Path = "/v1/logs"
			}
			opts = append(opts, otlploghttp.WithEndpointURL(u.String()))
		case r.Endpoint != "":
			opts = append(opts, otlploghttp.WithEndpoint(r.Endpoint))
		}
		if r.Insecure {
			opts = append(opts, otlploghttp.WithInsecure())
		} else if tlsCfg != nil {
			opts = append(opts, otlploghttp.WithTLSClientConfig(tlsCfg))
		}
		if len(r.Headers) > 0 {
			opts = append(opts, otlploghttp.WithHeaders(r.Headers))
		}
		switch r.Compression {
		case "gzip":
			opts = append(opts, otlploghttp.WithCompression(otlploghttp.GzipCompression))
		case "none":
			opts = append(opts, otlploghttp.WithCompression(otlploghttp.NoCompression))
		}
		if r.Timeout > 0 {
			opts = append(opts, otlploghttp.WithTimeout(r.Timeout))
		}
		exp, err := otlploghttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("otlp: HTTP exporter: %w", err)
		}
		return exp, nil
	}
}
