package otlp

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero", Config{}, ""},
		{"grpc gzip", Config{Protocol: ProtocolGRPC, Compression: "gzip"}, ""},
		{"protocol", Config{Protocol: "thrift"}, `protocol "thrift" is neither grpc nor http/protobuf`},
		{"compression", Config{Compression: "brotli"}, `compression "brotli" is neither gzip nor none`},
		{"timeout", Config{Timeout: -1}, "timeout -1ns must not be negative"},
		{"max_request_bytes", Config{MaxRequestBytes: -1}, "max_request_bytes -1 must not be negative"},
		{"cert without key", Config{CertFile: "c.pem"}, "cert_file and key_file must be given together"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.want == "") || err != nil && err.Error() != tt.want {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// otlpEnv lists every variable resolve reads, so that each case starts
// from a clean environment.
var otlpEnv = []string{
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
	"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_LOGS_INSECURE",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
	"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
	"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
	"OTEL_SERVICE_NAME",
}

func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range otlpEnv {
		t.Setenv(k, env[k])
	}
}

// TestResolveEnvironment follows the OTLP exporter spec's rules: the LOGS_
// variable wins over the generic one, the file over both; the generic HTTP
// endpoint gets /v1/logs appended, the signal-specific one is used as is.
func TestResolveEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		cfg  Config
		// want: URL (HTTP) or Target (gRPC), Secure, headers, Gzip, Timeout
		wantURL, wantTarget string
		wantSecure          bool
		wantHeaders         map[string]string
		wantGzip            bool
		wantTimeout         time.Duration
		// checked when set
		wantProtocol, wantService string
		wantMaxBytes              int
	}{
		{name: "protocol from logs env", env: map[string]string{"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			wantURL: "http://localhost:4317", wantTarget: "localhost:4317", wantTimeout: DefaultTimeout,
			wantProtocol: ProtocolGRPC, wantService: "wefgate", wantMaxBytes: DefaultMaxRequestBytesGRPC},
		{name: "protocol from generic env, service name", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_SERVICE_NAME": "wec-east"},
			wantURL: "http://localhost:4317", wantTarget: "localhost:4317", wantTimeout: DefaultTimeout,
			wantProtocol: ProtocolGRPC, wantService: "wec-east", wantMaxBytes: DefaultMaxRequestBytesGRPC},
		{name: "file protocol, service and cap win", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_SERVICE_NAME": "env"},
			cfg:     Config{Protocol: ProtocolHTTP, ServiceName: "cfg", MaxRequestBytes: 1000},
			wantURL: "http://localhost:4318/v1/logs", wantTarget: "localhost:4318", wantTimeout: DefaultTimeout,
			wantProtocol: ProtocolHTTP, wantService: "cfg", wantMaxBytes: 1000},
		{name: "http defaults", wantURL: "http://localhost:4318/v1/logs", wantTarget: "localhost:4318", wantTimeout: DefaultTimeout,
			wantProtocol: ProtocolHTTP, wantService: "wefgate", wantMaxBytes: DefaultMaxRequestBytesHTTP},
		{name: "grpc defaults", cfg: Config{Protocol: ProtocolGRPC}, wantURL: "http://localhost:4317", wantTarget: "localhost:4317", wantTimeout: DefaultTimeout},
		{name: "generic endpoint gets /v1/logs", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://col.example:4318"},
			wantURL: "https://col.example:4318/v1/logs", wantTarget: "col.example:4318", wantSecure: true, wantTimeout: DefaultTimeout},
		{name: "generic endpoint keeps its base path", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://col.example/otlp/"},
			wantURL: "http://col.example/otlp/v1/logs", wantTarget: "col.example", wantTimeout: DefaultTimeout},
		{name: "logs endpoint used as is and wins", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://logs:4318/custom"},
			wantURL: "http://logs:4318/custom", wantTarget: "logs:4318", wantTimeout: DefaultTimeout},
		{name: "grpc takes the URL's host, scheme decides TLS", cfg: Config{Protocol: ProtocolGRPC},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_INSECURE": "false"},
			wantURL: "http://127.0.0.1:4317", wantTarget: "127.0.0.1:4317", wantTimeout: DefaultTimeout},
		{name: "grpc host:port from env, insecure from env", cfg: Config{Protocol: ProtocolGRPC},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "col:4317", "OTEL_EXPORTER_OTLP_LOGS_INSECURE": "TRUE", "OTEL_EXPORTER_OTLP_INSECURE": "false"},
			wantURL: "http://col:4317/v1/logs", wantTarget: "col:4317", wantTimeout: DefaultTimeout},
		{name: "file endpoint wins over env", cfg: Config{Endpoint: "col:4318"},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://env:4318/v1/logs"},
			wantURL: "https://col:4318/v1/logs", wantTarget: "col:4318", wantSecure: true, wantTimeout: DefaultTimeout},
		{name: "file URL without path gets /v1/logs", cfg: Config{Endpoint: "http://col:4318"},
			wantURL: "http://col:4318/v1/logs", wantTarget: "col:4318", wantTimeout: DefaultTimeout},
		{name: "file URL path kept", cfg: Config{Endpoint: "https://col/ingest/logs"},
			wantURL: "https://col/ingest/logs", wantTarget: "col", wantSecure: true, wantTimeout: DefaultTimeout},
		{name: "headers, compression, timeout: logs wins", env: map[string]string{
			"OTEL_EXPORTER_OTLP_HEADERS":          "x-generic=1",
			"OTEL_EXPORTER_OTLP_LOGS_HEADERS":     " Api-Key = a%20b%2Cc , x-tenant=t1,",
			"OTEL_EXPORTER_OTLP_COMPRESSION":      "none",
			"OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "gzip",
			"OTEL_EXPORTER_OTLP_TIMEOUT":          "1",
			"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT":     "2500",
		}, wantURL: "http://localhost:4318/v1/logs", wantTarget: "localhost:4318",
			wantHeaders: map[string]string{"Api-Key": "a b,c", "x-tenant": "t1"}, wantGzip: true, wantTimeout: 2500 * time.Millisecond},
		{name: "file settings win", cfg: Config{Headers: map[string]string{"k": "v"}, Compression: "none", Timeout: time.Second},
			env:     map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "x=1", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TIMEOUT": "5"},
			wantURL: "http://localhost:4318/v1/logs", wantTarget: "localhost:4318", wantHeaders: map[string]string{"k": "v"}, wantTimeout: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			r, err := resolve(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.URL != tt.wantURL || r.Target != tt.wantTarget || r.Secure != tt.wantSecure || r.Gzip != tt.wantGzip || r.Timeout != tt.wantTimeout {
				t.Errorf("URL %q target %q secure %v gzip %v timeout %v\nwant %q %q %v %v %v",
					r.URL, r.Target, r.Secure, r.Gzip, r.Timeout, tt.wantURL, tt.wantTarget, tt.wantSecure, tt.wantGzip, tt.wantTimeout)
			}
			if tt.wantProtocol != "" && (r.Protocol != tt.wantProtocol || r.ServiceName != tt.wantService || r.MaxRequestBytes != tt.wantMaxBytes) {
				t.Errorf("protocol %q service %q cap %d, want %q %q %d", r.Protocol, r.ServiceName, r.MaxRequestBytes, tt.wantProtocol, tt.wantService, tt.wantMaxBytes)
			}
			if len(r.Headers) != 0 || len(tt.wantHeaders) != 0 {
				if !maps.Equal(r.Headers, tt.wantHeaders) {
					t.Errorf("headers %v, want %v", r.Headers, tt.wantHeaders)
				}
			}
		})
	}
}

// TestResolveEnvironmentErrors: a malformed variable stops New and is named.
func TestResolveEnvironmentErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_LOGS_INSECURE": "yes"}, "OTEL_EXPORTER_OTLP_LOGS_INSECURE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_LOGS_HEADERS": "bad key=v"}, "OTEL_EXPORTER_OTLP_LOGS_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "k=%zz"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{map[string]string{"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "ftp://col/"}, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE": "/c.pem"}, "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/nonexistent/c.pem", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/nonexistent/k.pem"}, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			setEnv(t, tt.env)
			_, err := resolve(Config{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("resolve with %v: error %v, want one naming %s", tt.env, err, tt.want)
			}
		})
	}
}
