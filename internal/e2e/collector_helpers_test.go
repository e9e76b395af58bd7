package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wefgate/certs"
	"wefgate/exporters/mapping"
	"wefgate/internal/testotelcol"
	"wefgate/wef/event"
	"wefgate/wef/forwarder"
	"wefgate/wef/sldc"
	"wefgate/wef/soap"
)

// otlpConfig describes a wefgate that listens on HTTPS (development-style
// PKI in {{data}}/pki), spools and exports only over OTLP.
type otlpConfig struct {
	protocol string // grpc or http/protobuf
	endpoint string
	// subscriptions is the YAML list under "subscriptions:"; empty means
	// the default (4658/4690 only).
	subscriptions string
	maxBodyBytes  int64
	spoolMaxBytes int64
	segmentBytes  int64
	// spoolCompression "none" makes the spool fill at the rate events come.
	spoolCompression string
	logLevel         string
	// schema is exporters.schema (empty: the default).
	schema string
}

// yaml renders the configuration; {{port}} and {{data}} are left for the
// caller (startGateway, or writeConfig for a subprocess).
func (c otlpConfig) yaml() string {
	var b strings.Builder
	b.WriteString("data_dir: {{data}}\nhostname: localhost\n")
	if c.maxBodyBytes > 0 {
		fmt.Fprintf(&b, "max_body_bytes: %d\n", c.maxBodyBytes)
	}
	b.WriteString(`https:
  address: 127.0.0.1:{{port}}
  server_cert: {{data}}/pki/server.pem
  server_key: {{data}}/pki/server-key.pem
  ca_files: [{{data}}/pki/root-ca.pem, {{data}}/pki/issuing-ca.pem]
`)
	if c.subscriptions != "" {
		b.WriteString("subscriptions:\n" + c.subscriptions)
	}
	b.WriteString("exporters:\n")
	if c.schema != "" {
		fmt.Fprintf(&b, "  schema: %s\n", c.schema)
	}
	fmt.Fprintf(&b, `  file:
    enabled: false
  otlp:
    endpoint: %q
    protocol: %s
    insecure: true
spool:
  enabled: true
`, c.endpoint, c.protocol)
	if c.spoolMaxBytes > 0 {
		fmt.Fprintf(&b, "  max_bytes: %d\n", c.spoolMaxBytes)
	}
	if c.segmentBytes > 0 {
		fmt.Fprintf(&b, "  segment_bytes: %d\n", c.segmentBytes)
	}
	if c.spoolCompression != "" {
		fmt.Fprintf(&b, "  compression: %s\n", c.spoolCompression)
	}
	if c.logLevel != "" {
		fmt.Fprintf(&b, "log:\n  level: %s\n", c.logLevel)
	}
	return b.String()
}

// collectorEndpoint returns the collector's receiver for protocol.
func collectorEndpoint(col *testotelcol.Collector, protocol string) string {
	if protocol == "grpc" {
		return col.GRPCEndpoint()
	}
	return col.HTTPEndpoint()
}

// testPKI creates the PKI wefgate's configuration points at (dir/pki) and
// issues a client certificate per host.
func testPKI(t *testing.T, dir string, hosts ...string) (*certs.PKI, map[string]*certs.ClientCert) {
	t.Helper()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "pki"), ServerNames: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*certs.ClientCert{}
	for _, h := range hosts {
		cc, err := pki.IssueClient(h)
		if err != nil {
			t.Fatal(err)
		}
		out[h] = cc
	}
	return pki, out
}

// ackedEvent is one event a forwarder saw acknowledged.
type ackedEvent struct {
	host     string
	recordID uint64
}

// ackRecorder remembers every event forwarders had acknowledged, by the
// log.record.uid wefgate must give it.
type ackRecorder struct {
	mu    sync.Mutex
	byUID map[string]ackedEvent
}

func newAckRecorder() *ackRecorder { return &ackRecorder{byUID: map[string]ackedEvent{}} }

// onAck returns the OnAck callback of the host whose events carry
// computer as their <Computer>.
func (r *ackRecorder) onAck(computer string) func(soap.Subscription, []forwarder.Record) {
	return func(_ soap.Subscription, recs []forwarder.Record) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rec := range recs {
			r.byUID[recordUID(computer, rec.Channel, rec.RecordID)] = ackedEvent{computer, rec.RecordID}
		}
	}
}

func (r *ackRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byUID)
}

func (r *ackRecorder) snapshot() map[string]ackedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]ackedEvent, len(r.byUID))
	for k, v := range r.byUID {
		out[k] = v
	}
	return out
}

// recordUID is the log.record.uid wefgate gives the event with this
// computer, channel and record id.
func recordUID(computer, channel string, recordID uint64) string {
	return mapping.RecordUID(&event.Event{Computer: computer, Channel: channel, RecordID: recordID, HasRecordID: true})
}

// ackingHost is a simulated host authenticating with cc whose acknowledged
// batches go to rec.
func ackingHost(t *testing.T, pki *certs.PKI, cc *certs.ClientCert, managerURL string, log forwarder.Log, rec *ackRecorder, logs *logBuffer) *forwarder.Host {
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
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		StopWhenDrained: true,
		MaxRetryWait:    500 * time.Millisecond,
		// A steady stream of small batches rather than one per
		// subscription MaxTime (30 s): the tests count acknowledgements
		// while they crash and restart things.
		MaxTime: 10 * time.Millisecond,
		OnAck:   rec.onAck(cc.FQDN),
	})
}

// handleEventLog is an endless (total 0) or bounded log of alternating
// 4658 and 4690 events from computer, each padded with padBytes of random
// text so that the spool fills at a predictable rate.
func handleEventLog(computer string, rate float64, total uint64, padBytes int) *forwarder.GeneratedLog {
	return &forwarder.GeneratedLog{
		Channel: "Security",
		Rate:    rate,
		Total:   total,
		Make: func(id uint64) []byte {
			pad := randomText(rand.New(rand.NewPCG(id, 7)), padBytes)
			if id%2 == 0 {
				return []byte(testEvent(4690, id, computer, map[string]string{
					"SourceHandleId": "0x274", "SourceProcessId": "0x1e20", "TargetHandleId": fmt.Sprintf("0x%x", 4*id), "TargetProcessId": "0x4", "Pad": pad,
				}))
			}
			return []byte(testEvent(4658, id, computer, map[string]string{
				"HandleId": fmt.Sprintf("0x%x", 4*id), "ProcessId": "0x1e20", "ProcessName": `C:\Tools\tool.exe`, "Pad": pad,
			}))
		},
	}
}

// randomText returns n characters that need no XML escaping and do not
// compress much.
func randomText(rng *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// uidCounts counts the collector's records by log.record.uid.
func uidCounts(recs []testotelcol.ReceivedRecord) map[string]int {
	out := make(map[string]int, len(recs))
	for _, r := range recs {
		if uid, ok := r.Attributes[mapping.AttrRecordUID].(string); ok {
			out[uid]++
		}
	}
	return out
}

// waitAllArrived polls the collector until every acknowledged event is
// there, then logs the duplicates. It fails the test, naming some of the
// missing events, when the deadline passes first.
func waitAllArrived(t *testing.T, col *testotelcol.Collector, acked map[string]ackedEvent, timeout time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		counts := uidCounts(col.Records(t))
		var missing []ackedEvent
		for uid, ev := range acked {
			if counts[uid] == 0 {
				missing = append(missing, ev)
			}
		}
		if len(missing) == 0 {
			dups, extra := 0, 0
			for _, n := range counts {
				if n > 1 {
					dups++
					extra += n - 1
				}
			}
			t.Logf("all %d acknowledged events reached the collector (%d uids in all; %d delivered more than once, %d extra copies)",
				len(acked), len(counts), dups, extra)
			return counts
		}
		if time.Now().After(deadline) {
			slices.SortFunc(missing, func(a, b ackedEvent) int {
				if c := strings.Compare(a.host, b.host); c != 0 {
					return c
				}
				return int(a.recordID) - int(b.recordID)
			})
			t.Fatalf("%d of %d acknowledged events never reached the collector within %v; first missing: %v",
				len(missing), len(acked), timeout, missing[:min(len(missing), 10)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds, failing the test with what after
// timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runHosts runs the hosts until they drain their logs or ctx ends, and
// returns a function that waits for them and reports their errors (a
// cancelled context is not one).
func runHosts(ctx context.Context, hosts ...*forwarder.Host) (wait func(t *testing.T)) {
	var wg sync.WaitGroup
	errs := make([]error, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.Run(ctx); err != nil && ctx.Err() == nil {
				errs[i] = err
			}
		}()
	}
	return func(t *testing.T) {
		t.Helper()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("host %d: %v", i, err)
			}
		}
	}
}

// hostStats sums the hosts' counters.
func hostStats(hosts ...*forwarder.Host) (acked, retries uint64) {
	for _, h := range hosts {
		acked += h.Stats.EventsAcked.Load()
		retries += h.Stats.Retries.Load()
	}
	return acked, retries
}

// logOnFailure prints the lines of logs when the test fails, to explain it.
func logOnFailure(t *testing.T, name string, logs *logBuffer) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs.mu.Lock()
		defer logs.mu.Unlock()
		const keep = 200
		lines := logs.lines
		if len(lines) > keep {
			lines = lines[len(lines)-keep:]
		}
		t.Logf("%s logs (last %d of %d lines):\n%s", name, len(lines), len(logs.lines), strings.Join(lines, "\n"))
	})
}

// stoppableLog ends a log on demand: once stopped, it has nothing more and
// reports itself drained, so a host with StopWhenDrained finishes the batch
// in flight and returns. (Cancelling Run's context does not stop a host
// that still has a backlog to send.)
type stoppableLog struct {
	forwarder.Log
	stopped atomic.Bool
}

func (l *stoppableLog) stop() { l.stopped.Store(true) }

func (l *stoppableLog) Read(ctx context.Context, after map[string]uint64, max int, wait time.Duration) ([]forwarder.Record, error) {
	if l.stopped.Load() {
		return nil, nil
	}
	return l.Log.Read(ctx, after, max, wait)
}

func (l *stoppableLog) Drained(after map[string]uint64) bool {
	return l.stopped.Load() || l.Log.Drained(after)
}
