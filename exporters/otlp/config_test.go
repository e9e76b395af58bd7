package otlp

import "testing"

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
