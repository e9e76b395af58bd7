package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/config"
	"wefgate/internal/app"
	"wefgate/internal/loopback"
	"wefgate/wef/forwarder"
	"wefgate/wef/sldc"
)

// gateway is one in-process wefgate started from a YAML configuration.
type gateway struct {
	t       *testing.T
	dataDir string
	yaml    string
	port    int
	cancel  context.CancelFunc
	done    chan error
	logs    *logBuffer
}

// logBuffer keeps wefgate's log lines so tests can assert on the reasons
// given for refusals.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, strings.Split(strings.TrimRight(string(p), "\n"), "\n")...)
	return len(p), nil
}

func (b *logBuffer) contains(substrs ...string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		all := true
		for _, s := range substrs {
			if !strings.Contains(l, s) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// httpsGateway starts the configuration of a gateway on the HTTPS listener
// with the development PKI startGateway makes in its data directory; tests
// append their own sections.
const httpsGateway = `data_dir: {{data}}
hostname: localhost
https:
  address: 127.0.0.1:{{port}}
  server_cert: {{data}}/pki/server.pem
  server_key: {{data}}/pki/server-key.pem
  ca_files: [{{data}}/pki/root-ca.pem, {{data}}/pki/issuing-ca.pem]
`

func freePort(t *testing.T) int {
	t.Helper()
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startGateway starts wefgate with the configuration text (which may use
// {{port}} and {{data}}) and waits for its listener.
func startGateway(t *testing.T, dataDir, yamlText string, port int) *gateway {
	t.Helper()
	g := &gateway{t: t, dataDir: dataDir, yaml: yamlText, port: port, logs: &logBuffer{}}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) start() {
	t := g.t
	text := strings.NewReplacer("{{port}}", fmt.Sprint(g.port), "{{data}}", g.dataDir).Replace(g.yaml)
	cfg, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	logger := slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.done = make(chan error, 1)
	ready := make(chan struct{}, 4)
	go func() {
		g.done <- app.Run(ctx, cfg, logger, func(string, net.Addr) { ready <- struct{}{} })
	}()
	select {
	case <-ready:
	case err := <-g.done:
		t.Fatalf("wefgate did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("wefgate did not start within 20s")
	}
}

func (g *gateway) stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	select {
	case err := <-g.done:
		if err != nil {
			g.t.Errorf("wefgate stopped with: %v", err)
		}
	case <-time.After(20 * time.Second):
		g.t.Error("wefgate did not stop within 20s")
	}
	g.cancel = nil
}

func (g *gateway) restart() {
	g.stop()
	g.start()
}

// managerURL is the GPO Server= URL of the HTTPS listener.
func (g *gateway) managerURL() string {
	return fmt.Sprintf("https://localhost:%d/wsman/SubscriptionManager/WEC", g.port)
}

// tlsHost returns a simulated host that authenticates with cert.
func tlsHost(t *testing.T, pki *certs.PKI, cc *certs.ClientCert, managerURL string, log forwarder.Log) *forwarder.Host {
	t.Helper()
	cfg, err := certs.ClientTLSConfig(cc.CertFile, cc.KeyFile, []string{pki.Path(certs.RootCAFile)}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return forwarder.NewHost(forwarder.HostConfig{
		MachineID:       cc.FQDN,
		ManagerURL:      managerURL,
		Client:          &forwarder.Client{Security: forwarder.TLSSecurity{Config: cfg}, Compress: sldc.Compress},
		Log:             log,
		StopWhenDrained: true,
		MaxRetryWait:    500 * time.Millisecond,
	})
}

// outputRecord is one line of the file exporter.
type outputRecord struct {
	EventName  string         `json:"event_name"`
	Resource   map[string]any `json:"resource"`
	Attributes map[string]any `json:"attributes"`
	Body       map[string]any `json:"body"`
}

// waitOutput reads the output file once it holds at least n records: the
// shipper exports after the acknowledgement, not before it, so a test that
// reads right after an Ack races it. Fewer than n after 10 s is returned
// as it is, for the caller's count check to report.
func waitOutput(t *testing.T, path string, n int) []outputRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := readOutput(t, path)
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readOutput(t *testing.T, path string) []outputRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	defer f.Close()
	var out []outputRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r outputRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("output line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// testEvent renders a Security event as Windows sends it (single quotes,
// no declaration).
func testEvent(id int, recordID uint64, computer string, data map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>%d</EventID><Version>0</Version><Level>0</Level><Task>12807</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-11-21T06:00:00.1234567Z'/><EventRecordID>%d</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='456'/><Channel>Security</Channel><Computer>%s</Computer><Security/></System><EventData>`, id, recordID, computer)
	for _, k := range sortedKeys(data) {
		fmt.Fprintf(&b, `<Data Name='%s'>%s</Data>`, k, data[k])
	}
	b.WriteString(`</EventData></Event>`)
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
