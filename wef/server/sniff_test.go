package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"wefgate/internal/ratelog"
)

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestPlainHTTPOnHTTPSListenerLogged: a host configured with http:// and
// the HTTPS port gets net/http's 400, and now also a log line naming it and
// the likely mistake; a TLS client on the same listener is not reported.
func TestPlainHTTPOnHTTPSListenerLogged(t *testing.T) {
	h, _, _, _ := newTestHandlerWith(t, &testSubscription{}, io.Discard)
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ls := []Listener{{Name: "https", Addr: "127.0.0.1:0", Handler: h, TLS: selfSignedTLS(t), Logs: ratelog.New(time.Minute, 0, nil)}}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, logger, ls, func(_ string, a net.Addr) { addrc <- a.String() }) }()
	addr := <-addrc
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	// A TLS client first: no such line.
	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	tc.Close()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
	out := logs.String()
	if n := strings.Count(out, "plain HTTP request on the HTTPS listener"); n != 1 {
		t.Fatalf("%d plain-HTTP lines, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "remote=127.0.0.1") || !strings.Contains(out, "level=WARN") {
		t.Errorf("the line does not name the host at WARN:\n%s", out)
	}
}

func TestLooksLikePlainHTTP(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"POST /wsman HTTP/1.1\r\n", true},
		{"GET / HTTP/1.1", true},
		{"POS", true},
		{"PO", false},
		{"\x16\x03\x01\x02\x00", false},
		{"", false},
		{"HELLO", false},
	}
	for _, tt := range tests {
		if got := looksLikePlainHTTP([]byte(tt.in)); got != tt.want {
			t.Errorf("looksLikePlainHTTP(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestLimitedOfThroughWrappers: the handler lifts the short unauthenticated
// deadline through limitedOf, which must find the limitedConn below TLS and
// the plain-HTTP sniffer; otherwise an authenticated keep-alive connection
// would still be cut after limits.handshake_timeout.
func TestLimitedOfThroughWrappers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	lc := &limitedConn{Conn: a}
	tests := []struct {
		name string
		c    net.Conn
		want *limitedConn
	}{
		{"bare", lc, lc},
		{"sniffer", &sniffConn{Conn: lc}, lc},
		{"TLS over sniffer", tls.Server(&sniffConn{Conn: lc}, &tls.Config{}), lc},
		{"TLS over limited", tls.Server(lc, &tls.Config{}), lc},
		{"no limiter", tls.Server(&sniffConn{Conn: a}, &tls.Config{}), nil},
	}
	for _, tt := range tests {
		if got := limitedOf(tt.c); got != tt.want {
			t.Errorf("%s: limitedOf = %p, want %p", tt.name, got, tt.want)
		}
	}
}
