package proxyheader

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"wefgate/internal/ratelog"
)

// syncBuffer collects log output from the listener's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve answers each connection's first line with the remote address the
// listener reports, then closes it.
func serve(t *testing.T, cfg Config) (addr string, logs *syncBuffer) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	l, err := Wrap(inner, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				io.WriteString(c, c.RemoteAddr().String()+" "+line)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String(), logs
}

func header(version byte, cmd proxyproto.ProtocolVersionAndCommand) []byte {
	h := &proxyproto.Header{
		Version: version, Command: cmd, TransportProtocol: proxyproto.TCPv4,
		SourceAddr:      &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 49152},
		DestinationAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5986},
	}
	b, err := h.Format()
	if err != nil {
		panic(err)
	}
	return b
}

func TestListener(t *testing.T) {
	cases := []struct {
		name    string
		from    string // local address to dial from
		send    []byte
		want    string // reply prefix; "" means refused
		wantLog string
	}{
		{"trusted v1", "127.0.0.2", header(1, proxyproto.PROXY), "192.0.2.10:49152 hello", ""},
		{"trusted v2", "127.0.0.2", header(2, proxyproto.PROXY), "192.0.2.10:49152 hello", ""},
		{"trusted LOCAL keeps the balancer's address", "127.0.0.2", header(2, proxyproto.LOCAL), "127.0.0.2:", ""},
		{"trusted without header is direct", "127.0.0.2", nil, "127.0.0.2:", ""},
		{"untrusted without header is direct", "127.0.0.1", nil, "127.0.0.1:", ""},
		{"untrusted v2 header refused", "127.0.0.1", header(2, proxyproto.PROXY), "", "untrusted peer"},
		{"untrusted v1 header refused", "127.0.0.1", header(1, proxyproto.PROXY), "", "untrusted peer"},
		{"closed at once is a health check, not logged", "127.0.0.2", []byte{}, "", ""},
		{"malformed header refused", "127.0.0.2", []byte("PROXY TCP4 999.0.2.10 x 1 2\r\n"), "", "malformed PROXY header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr, logs := serve(t, Config{TrustedNetworks: []string{"127.0.0.2/32", "2001:db8::/32"}, HeaderTimeout: 5 * time.Second})
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.from)}, Timeout: 5 * time.Second}
			conn, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if c.send != nil && len(c.send) == 0 {
				conn.Close()
				time.Sleep(50 * time.Millisecond)
				if strings.Contains(logs.String(), "refused") {
					t.Fatalf("logged: %s", logs.String())
				}
				return
			}
			conn.Write(append(c.send, "hello\n"...))
			reply, _ := io.ReadAll(conn)
			if c.want == "" {
				if len(reply) != 0 {
					t.Fatalf("served: %q", reply)
				}
			} else if !strings.HasPrefix(string(reply), c.want) {
				t.Fatalf("reply %q, want prefix %q", reply, c.want)
			}
			if c.wantLog != "" {
				deadline := time.Now().Add(5 * time.Second)
				for !strings.Contains(logs.String(), c.wantLog) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if !strings.Contains(logs.String(), c.wantLog) || !strings.Contains(logs.String(), "remote=127.0.0.") {
					t.Fatalf("log %q lacks %q and the peer", logs.String(), c.wantLog)
				}
			}
		})
	}
}

// A silent peer does not hold up others, and Close ends its header read.
func TestSilentPeerDoesNotBlockAccept(t *testing.T) {
	addr, _ := serve(t, Config{TrustedNetworks: []string{"127.0.0.2"}, HeaderTimeout: time.Hour})
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "hello\n")
	reply, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(reply), "127.0.0.1:") {
		t.Fatalf("reply %q", reply)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		nets []string
		err  string
	}{
		{nil, ""},
		{[]string{"10.0.0.5", "10.0.1.0/28", "2001:db8::1", "fd00::/8"}, ""},
		{[]string{"10.0.0.5", "balancer.corp"}, "proxy_protocol.trusted_networks[1]"},
		{[]string{"10.0.0.0/33"}, "proxy_protocol.trusted_networks[0]"},
	}
	for _, c := range cases {
		cfg := Default()
		cfg.TrustedNetworks = c.nets
		err := cfg.Validate()
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%v: %v, want %q", c.nets, err, c.err)
		}
	}
}

// TestRefusalLinesRateLimited: anyone who can connect can send a bad
// header; 50 of them from one peer make one line (issue 10 part 6).
func TestRefusalLinesRateLimited(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	l, err := Wrap(inner, Config{TrustedNetworks: []string{"127.0.0.2/32"}, HeaderTimeout: 5 * time.Second},
		slog.New(slog.NewTextHandler(logs, nil)), WithRefusalLog(ratelog.New(time.Hour, 0, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 50 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(header(2, proxyproto.PROXY))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.ReadAll(c) // closed by the listener once it refused the header
		c.Close()
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d refusal lines for 50 refusals, want 1:\n%s", n, logs.String())
	}
}
