package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"wefgate/internal/ratelog"
	"wefgate/wef/soap"
)

// lockedBuffer is a log sink written by the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveTwo runs two WS-Man listeners ("a" and "b") on loopback with lim,
// and returns their addresses and connection counters.
func serveTwo(t *testing.T, lim Limits, logs io.Writer) (map[string]string, map[string]*ConnStats) {
	t.Helper()
	h, _, _, _ := newTestHandlerWith(t, &testSubscription{}, io.Discard)
	logger := slog.New(slog.NewTextHandler(logs, nil))
	rl := ratelog.New(lim.RefusalLogInterval, 0, nil)
	stats := map[string]*ConnStats{"a": {}, "b": {}}
	var ls []Listener
	for _, name := range []string{"a", "b"} {
		ls = append(ls, Listener{Name: name, Addr: "127.0.0.1:0", Handler: h, Limits: lim, Conns: stats[name], Logs: rl})
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := map[string]string{}
	var mu sync.Mutex
	ready := make(chan struct{}, 2)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, logger, ls, func(name string, a net.Addr) {
			mu.Lock()
			addrs[name] = a.String()
			mu.Unlock()
			ready <- struct{}{}
		})
	}()
	<-ready
	<-ready
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return addrs, stats
}

// dialFrom connects to addr from a loopback source address.
func dialFrom(t *testing.T, source, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
	return d.Dial("tcp", addr)
}

// enumerate sends one Enumerate on c and returns the status (0 when the
// connection was closed instead).
func enumerate(t *testing.T, c net.Conn) int {
	t.Helper()
	env := soap.Request{Action: soap.ActionEnumerate, To: "x", MessageID: "uuid:1", Body: []byte(soap.EnumerateBody)}
	body := soap.EncodeUTF16LE(env.Build())
	req := "POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: wec\r\nContent-Type: application/soap+xml;charset=UTF-16\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n"
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append([]byte(req), body...)); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// slowloris opens n connections from source that send half a request
// header and hold, and waits until the listener has decided on each.
func slowloris(t *testing.T, source, addr string, st *ConnStats, n int) {
	t.Helper()
	decided := func() uint64 { return st.Accepted.Load() + st.RefusedPerAddress.Load() + st.RefusedTotal.Load() }
	want := decided() + uint64(n)
	for range n {
		c, err := dialFrom(t, source, addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: wec\r\n"))
		t.Cleanup(func() { c.Close() })
	}
	waitFor(t, "every connection admitted or refused", func() bool { return decided() == want })
}

// TestConnectionCaps is issue 10 part 5 scaled down (8 connections per
// listener, 4 per address): a slowloris from one address holds only its
// share, other hosts keep being served, a listener at its cap does not
// starve the other, and the refusals are counted and logged rate-limited.
func TestConnectionCaps(t *testing.T) {
	lim := Limits{MaxConnections: 8, MaxConnectionsPerAddress: 4, HandshakeTimeout: time.Minute, RefusalLogInterval: time.Hour}
	logs := &lockedBuffer{}
	addrs, stats := serveTwo(t, lim, logs)

	slowloris(t, "127.0.0.1", addrs["a"], stats["a"], 50)
	if open := stats["a"].Open.Load(); open != 4 {
		t.Fatalf("attacker holds %d connections, want the per-address cap 4", open)
	}
	if got := stats["a"].RefusedPerAddress.Load(); got != 46 {
		t.Errorf("refused per address %d, want 46", got)
	}
	legit, err := dialFrom(t, "127.0.0.2", addrs["a"])
	if err != nil {
		t.Fatal(err)
	}
	if code := enumerate(t, legit); code != http.StatusOK {
		t.Fatalf("legitimate host during the slowloris: status %d", code)
	}
	// A second attacking address fills the listener (4 + 3 + the host's 1).
	slowloris(t, "127.0.0.3", addrs["a"], stats["a"], 10)
	if stats["a"].Open.Load() != 8 {
		t.Fatalf("listener a has %d open, want its cap 8", stats["a"].Open.Load())
	}
	// The host's kept-alive connection is still served; a new one is not.
	if code := enumerate(t, legit); code != http.StatusOK {
		t.Fatalf("kept-alive connection at the cap: status %d", code)
	}
	extra, err := dialFrom(t, "127.0.0.4", addrs["a"])
	if err != nil {
		t.Fatal(err)
	}
	if code := enumerate(t, extra); code != 0 {
		t.Fatalf("a connection over the cap was served: %d", code)
	}
	// The other listener has its own budget.
	other, err := dialFrom(t, "127.0.0.4", addrs["b"])
	if err != nil {
		t.Fatal(err)
	}
	if code := enumerate(t, other); code != http.StatusOK {
		t.Fatalf("listener b while a is full: status %d", code)
	}
	if stats["a"].RefusedTotal.Load() == 0 {
		t.Error("total cap refusals not counted")
	}
	// 46 + 7 + 1 refusals, one line per reason and address.
	if n := strings.Count(logs.String(), "refused a connection"); n == 0 || n > 3 {
		t.Errorf("%d refusal lines:\n%s", n, logs)
	}
}

// TestUnauthenticatedDeadline: a connection that never authenticates is
// closed after the handshake timeout; an authenticated one keeps the
// server's idle timeout.
func TestUnauthenticatedDeadline(t *testing.T) {
	lim := Limits{MaxConnections: 8, MaxConnectionsPerAddress: 8, HandshakeTimeout: 200 * time.Millisecond, RefusalLogInterval: time.Hour}
	addrs, stats := serveTwo(t, lim, io.Discard)
	slow, err := dialFrom(t, "127.0.0.1", addrs["a"])
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte("POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\n"))
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(slow); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("slow connection not closed by the server: %v", err)
	}

	host, err := dialFrom(t, "127.0.0.2", addrs["a"])
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if code := enumerate(t, host); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	// Idle for longer than the handshake timeout: still open.
	time.Sleep(4 * lim.HandshakeTimeout)
	if code := enumerate(t, host); code != http.StatusOK {
		t.Fatalf("authenticated connection closed while idle: status %d", code)
	}
	waitFor(t, "the slow connection's slot given back", func() bool { return stats["a"].Open.Load() == 1 })
}

// failingListener fails its first n accepts the way an exhausted process
// does (EMFILE), then reports itself closed.
type failingListener struct {
	net.Listener
	n int
}

type emfile struct{}

func (emfile) Error() string   { return "accept tcp: too many open files" }
func (emfile) Timeout() bool   { return false }
func (emfile) Temporary() bool { return true }

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n == 0 {
		return nil, net.ErrClosed
	}
	l.n--
	return nil, emfile{}
}

// TestAcceptFailuresCountedAndLogged: out of descriptors, every failed
// accept is counted and the log gets one line per interval, not one per
// failure.
func TestAcceptFailuresCountedAndLogged(t *testing.T) {
	logs := &lockedBuffer{}
	stats := &ConnStats{}
	l := newConnLimiter(&failingListener{n: 500}, "https", Limits{MaxConnections: 8, MaxConnectionsPerAddress: 4}, stats,
		ratelog.New(time.Hour, 0, nil), slog.New(slog.NewTextHandler(logs, nil)))
	for {
		if _, err := l.Accept(); errors.Is(err, net.ErrClosed) {
			break
		}
	}
	if got := stats.AcceptErrors.Load(); got != 500 {
		t.Errorf("accept errors %d, want 500", got)
	}
	if n := strings.Count(logs.String(), `msg="accept failed"`); n != 1 {
		t.Errorf("%d accept-failure lines, want 1:\n%s", n, logs)
	}
}

// TestHandshakeCapHoldsAccept: with limits.max_handshakes 1, the listener
// accepts a second connection only once the first has authenticated (or
// closed), and a Close wakes an Accept waiting for room.
func TestHandshakeCapHoldsAccept(t *testing.T) {
	l, stats, dial := handshakeLimiter(t, 1)
	for range 3 {
		dial()
	}
	first, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	waitFor(t, "the second Accept to wait for a handshake slot", func() bool { return stats.HandshakeWaits.Load() == 1 })
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted while the first had not authenticated")
	default:
	}
	limitedOf(first).authenticate()
	second, ok := <-accepted
	if !ok {
		t.Fatal("Accept failed after the first connection authenticated")
	}
	// The second closes without authenticating: its slot comes back too.
	second.Close()
	third, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// Waiting for the slot the third holds, Accept returns when the
	// listener closes.
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	waitFor(t, "the fourth Accept to wait", func() bool { return stats.HandshakeWaits.Load() == 2 })
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	third.Close()
	first.Close()
}

// TestHandshakeShareOfOneAddress: one source address may hold an eighth of
// limits.max_handshakes unauthenticated (here 1 of 8); beyond, its new
// connections are refused at once, so it cannot stop the listener
// accepting other hosts.
func TestHandshakeShareOfOneAddress(t *testing.T) {
	l, stats, dial := handshakeLimiter(t, 8)
	dial()
	first, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	refused := dial()
	// The second connection from 127.0.0.1 is refused; once the first has
	// authenticated, the third is admitted.
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	waitFor(t, "the second connection refused", func() bool { return stats.RefusedPerAddress.Load() == 1 })
	if _, err := refused.Read(make([]byte, 1)); err == nil {
		t.Fatal("the refused connection is still open")
	}
	limitedOf(first).authenticate()
	dial()
	third := <-accepted
	third.Close()
	if n := stats.RefusedPerAddress.Load(); n != 1 {
		t.Fatalf("%d connections refused, want 1", n)
	}
}

// handshakeLimiter is a connLimiter over a loopback listener with
// limits.max_handshakes n (closed with the test), its counters, and a
// dialer of connections to it.
func handshakeLimiter(t *testing.T, n int) (*connLimiter, *ConnStats, func() net.Conn) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stats := &ConnStats{}
	l := newConnLimiter(inner, "https", Limits{MaxConnections: 8, MaxConnectionsPerAddress: 8, MaxHandshakes: n}, stats,
		ratelog.New(time.Hour, 0, nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { l.Close() })
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return l, stats, dial
}
