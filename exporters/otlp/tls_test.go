package otlp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wefgate/exporters/mapping"
	"wefgate/internal/testotelcol"
	"wefgate/record"
)

// testPKI is a throw-away CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wefgate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage, ips []net.IP) (certFile, keyFile string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p := testPKI{caFile: filepath.Join(dir, "ca.crt")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExportMutualTLS exports to a collector that requires client
// certificates, over both protocols, with and without one.
func TestExportMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	col := testotelcol.Start(t, testotelcol.WithTLS(pki.serverCert, pki.serverKey, pki.caFile))
	for _, protocol := range []string{ProtocolGRPC, ProtocolHTTP} {
		endpoint := col.GRPCEndpoint()
		if protocol == ProtocolHTTP {
			endpoint = col.HTTPEndpoint()
		}
		tests := []struct {
			name    string
			cfg     Config
			wantErr bool
		}{
			{"client certificate", Config{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}, false},
			{"no client certificate", Config{CAFile: pki.caFile}, true},
			{"unknown server CA", Config{CertFile: pki.clientCert, KeyFile: pki.clientKey}, true},
		}
		for _, tt := range tests {
			t.Run(protocol+"/"+tt.name, func(t *testing.T) {
				cfg := tt.cfg
				cfg.Protocol, cfg.Endpoint, cfg.Timeout = protocol, endpoint, 2*time.Second
				exp := newExporter(t, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := exp.Export(ctx, []record.Record{mapped("ws01", 1, mapping.Options{})})
				if (err != nil) != tt.wantErr {
					t.Errorf("Export error = %v, want error: %v", err, tt.wantErr)
				}
			})
		}
	}
}

// TestEnvironmentFallback leaves Endpoint, Protocol and Insecure unset so
// that the standard environment variables decide.
func TestEnvironmentFallback(t *testing.T) {
	col := testotelcol.Start(t)
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"generic endpoint, grpc", map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + col.GRPCEndpoint(),
		}},
		{"generic endpoint, http gets /v1/logs", map[string]string{
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + col.HTTPEndpoint(),
		}},
		{"logs endpoint wins", map[string]string{
			"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_ENDPOINT":      "http://127.0.0.1:1",
			"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://" + col.HTTPEndpoint() + "/v1/logs",
			"OTEL_EXPORTER_OTLP_LOGS_HEADERS":  "x-tenant=a",
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_HEADERS"} {
				t.Setenv(k, tt.env[k])
			}
			exp := newExporter(t, Config{Timeout: 2 * time.Second})
			before := len(col.Records(t))
			if err := exp.Export(context.Background(), []record.Record{mapped("ws01", uint64(100+i), mapping.Options{})}); err != nil {
				t.Fatal(err)
			}
			col.WaitForRecords(t, before+1, 10*time.Second)
		})
	}
}
