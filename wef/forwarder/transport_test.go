package forwarder

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/wef/soap"
)

// TestFailedWriteClosesWithoutAlert: when a request's write fails (its
// deadline passed: the host stopping), closing the connection must not
// send TLS's close_notify, which crypto/tls encrypts with the sequence
// number after the record that never went out: the collector would fail
// to decrypt it and report "bad record MAC", where a host that went away
// should look like one.
func TestFailedWriteClosesWithoutAlert(t *testing.T) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverCertificate(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		_, err = io.ReadAll(c)
		served <- err
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cut := &cutConn{Conn: raw}
	tc := tls.Client(cut, &tls.Config{InsecureSkipVerify: true})
	if err := tc.HandshakeContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	cut.armed.Store(true)
	c := newConn(tc, "localhost")
	if _, err := c.RoundTrip(context.Background(), "/wsman", http.Header{}, make([]byte, 4000)); err == nil {
		t.Fatal("RoundTrip succeeded over a connection whose write was cut")
	}
	c.Close()
	select {
	case err := <-served:
		if err != nil && strings.Contains(err.Error(), "bad record MAC") {
			t.Fatalf("the collector read a corrupt record: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the collector never saw the connection end")
	}
}

// cutConn, once armed, fails a large write without writing anything, as
// a write whose deadline has passed does (the host stopping sets it to
// now). TLS has encrypted that record with the next sequence number
// already.
type cutConn struct {
	net.Conn
	armed atomic.Bool
}

func (c *cutConn) Write(b []byte) (int, error) {
	if c.armed.Load() && len(b) > 1000 {
		return 0, errors.New("write deadline passed")
	}
	return c.Conn.Write(b)
}

// serverCertificate is a server certificate for localhost from a
// throw-away development PKI.
func serverCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	pki, _, err := certs.EnsureDevPKI(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.Path(certs.ServerCertFile), pki.Path(certs.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestEnumerateFailuresCounted: a refused Enumerate is retried and counted
// (the load driver reports the count: connection set-up at fleet scale).
func TestEnumerateFailuresCounted(t *testing.T) {
	var calls atomic.Int32
	inner := scriptedCollector(nil, func(*http.Request) []soap.Subscription { return nil })
	defer inner.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		inner.Config.Handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	h := NewHost(HostConfig{
		MachineID: "h.example.test", ManagerURL: srv.URL + "/wsman/SubscriptionManager/WEC",
		Client: &Client{Security: plainHTTP{}}, Log: NewStaticLog(nil), StopWhenDrained: true,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n, ok := h.Stats.EnumerateFailures.Load(), h.Stats.Enumerates.Load(); n != 1 || ok != 1 {
		t.Fatalf("%d failed and %d successful Enumerates, want 1 and 1", n, ok)
	}
}
