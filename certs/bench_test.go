package certs

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"testing"
)

// BenchmarkIdentify measures the per-request cost of re-verifying a
// leaf-only client certificate: "cached" is the steady state (chain cache
// hit, CRL lookup), "chain" the chain building with two ECDSA
// verifications that the cache saves. Bytes are the certificate's DER.
func BenchmarkIdentify(b *testing.B) {
	p, err := CreatePKI(PKIOptions{Dir: b.TempDir(), ServerNames: []string{"localhost"}})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := p.IssueClient("host.example.test")
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{
		CAFiles:  []string{p.Path(RootCAFile), p.Path(IssuingCAFile)},
		CRLFiles: []string{p.Path(IssuingCRLFile)},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cc.Cert}}
	b.Run("cached", func(b *testing.B) {
		b.SetBytes(int64(len(cc.Cert.Raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Identify(cs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chain", func(b *testing.B) {
		b.SetBytes(int64(len(cc.Cert.Raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.buildChain(cc.Cert, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandshake measures a full TLS 1.3 mutual-authentication
// handshake over loopback with the server configuration of ServerTLSConfig.
func BenchmarkHandshake(b *testing.B) {
	p, err := CreatePKI(PKIOptions{Dir: b.TempDir(), ServerNames: []string{"localhost"}})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := p.IssueClient("host.example.test")
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{CAFiles: []string{p.Path(RootCAFile), p.Path(IssuingCAFile)}}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	serverCfg, err := v.ServerTLSConfig(p.Path(ServerCertFile), p.Path(ServerKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	clientCfg, err := ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{p.Path(RootCAFile)}, "localhost")
	if err != nil {
		b.Fatal(err)
	}
	clientCfg.ClientSessionCache = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := tls.Server(conn, serverCfg)
				if tc.Handshake() == nil {
					tc.Write([]byte{1})
				}
			}()
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
		if err != nil {
			b.Fatal(err)
		}
		// TLS 1.3 finishes the client side before the server has checked
		// the client certificate; the server's byte proves it accepted.
		if _, err := conn.Read(make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}
