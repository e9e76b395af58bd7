package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"wefgate/certs"
	"wefgate/subscriptions"
	"wefgate/wef/forwarder"
)

// adminConfig is the HTTPS fixture with the spool, the admin listener and
// the access log on.
const adminConfig = httpsGateway + `
subscriptions:
  - name: handle-manipulation
    id: 5A1D0C6B-7F3E-4C2A-9D8E-1B2C3D4E5F60
    xpath: "*"
    denied_hosts: ["denied*"]
  - name: quiet-subscription
    channel: Application
    allowed_hosts: ["nobody*"]
exporters:
  file:
    enabled: true
    path: {{data}}/events.jsonl
{{otlp}}
admin:
  address: 127.0.0.1:{{adminport}}
access_log:
  enabled: true
`

// adminFixture is a gateway with traffic behind it: an active host, a host
// that only sends heartbeats, a denied host and a refused certificate.
type adminFixture struct {
	*fixture
	adminURL string
}

func newAdminFixture(t *testing.T) *adminFixture { return newAdminFixtureWith(t, "") }

// newAdminFixtureWith adds otlp (an exporters.otlp section, indented) to
// the configuration.
func newAdminFixtureWith(t *testing.T, otlp string) *adminFixture {
	t.Helper()
	dir := t.TempDir()
	pki, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "pki"), ServerNames: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, pki: pki, hosts: map[string]*certs.ClientCert{}}
	for _, h := range []string{"host1.example.test", "host2.example.test", "denied1.example.test"} {
		cc, err := pki.IssueClient(h)
		if err != nil {
			t.Fatal(err)
		}
		f.hosts[h] = cc
	}
	// A host that went silent hours ago, from an earlier run.
	store, err := subscriptions.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	gone := subscriptions.Contact{Identity: "gone.example.test", SubscriptionID: "5A1D0C6B-7F3E-4C2A-9D8E-1B2C3D4E5F60",
		Subscription: "handle-manipulation", MachineID: "gone.example.test", Address: "192.0.2.7", At: time.Now().Add(-3 * time.Hour), Events: 7}
	if err := store.CommitBatch(context.Background(), "", gone); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	adminPort := freePort(t)
	text := strings.NewReplacer("{{adminport}}", fmt.Sprint(adminPort), "{{otlp}}", otlp).Replace(adminConfig)
	f.gw = startGateway(t, dir, text, freePort(t))
	af := &adminFixture{fixture: f, adminURL: fmt.Sprintf("http://127.0.0.1:%d", adminPort)}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := []string{
		testEvent(4658, 101, "host1.example.test", map[string]string{"HandleId": "0x274", "ProcessId": "0x1e20"}),
		testEvent(4624, 102, "host1.example.test", map[string]string{"LogonType": "3"}),
		testEvent(4690, 103, "host1.example.test", map[string]string{"SourceHandleId": "0x274", "SourceProcessId": "0x1e20", "TargetHandleId": "0x11c0", "TargetProcessId": "0x4"}),
		strings.Replace(testEvent(4658, 104, "host1.example.test", map[string]string{"HandleId": "0x11c0", "ProcessId": "0x4"}),
			`</Event>`, `<RenderingInfo Culture='en-US'><Message>The handle to an object was cl`, 1),
	}
	if err := f.host(t, "host1.example.test", forwarder.NewStaticLog(events)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	h2 := f.host(t, "host2.example.test", forwarder.NewStaticLog(nil))
	subs, err := h2.Enumerate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h2.Heartbeat(ctx, handleSub(t, subs)); err != nil {
		t.Fatal(err)
	}
	denied := f.host(t, "denied1.example.test", forwarder.NewStaticLog(nil))
	if err := denied.Heartbeat(ctx, handleSub(t, subs)); !forwarder.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("denied host heartbeat: %v, want 403", err)
	}
	rogue, err := certs.CreatePKI(certs.PKIOptions{Dir: filepath.Join(dir, "rogue"), ServerNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	rogueHost, err := rogue.IssueClient("host1.example.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := certs.ClientTLSConfig(rogueHost.CertFile, rogueHost.KeyFile, []string{pki.Path(certs.RootCAFile)}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	rh := forwarder.NewHost(forwarder.HostConfig{MachineID: "host1.example.test", ManagerURL: f.gw.managerURL(),
		Client: &forwarder.Client{Security: forwarder.TLSSecurity{Config: cfg}}, Log: forwarder.NewStaticLog(nil)})
	if _, err := rh.Enumerate(ctx); err == nil {
		t.Fatal("certificate of another CA accepted")
	}
	// The shipper exports the spooled batch in the background.
	deadline := time.Now().Add(20 * time.Second)
	for len(readOutput(t, filepath.Join(dir, "events.jsonl"))) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the spooled events were not exported within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return af
}

func (af *adminFixture) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(af.adminURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestMetrics scrapes /metrics after real traffic, parses it with
// Prometheus's own text parser, lints the names with promlint and checks
// the values against what the hosts did.
func TestMetrics(t *testing.T) {
	af := newAdminFixture(t)
	var families map[string]*dto.MetricFamily
	// The export confirmation is counted just after the file is written.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := af.get(t, "/metrics")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("/metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		var err error
		families, err = parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		problems, err := promlint.New(bytes.NewReader(body)).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			if strings.HasPrefix(p.Metric, "wefgate_") {
				t.Errorf("promlint: %s: %s", p.Metric, p.Text)
			}
		}
		if value(families, "wefgate_export_records_total", nil) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sub := map[string]string{"subscription": "handle-manipulation"}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wefgate_requests_total", map[string]string{"listener": "https", "action": "events", "code": "200"}, 1},
		{"wefgate_requests_total", map[string]string{"listener": "https", "action": "heartbeat", "code": "200"}, 1},
		{"wefgate_requests_total", map[string]string{"listener": "https", "action": "heartbeat", "code": "403"}, 1},
		{"wefgate_events_received_total", sub, 4},
		{"wefgate_events_kept_total", sub, 3},
		{"wefgate_events_dropped_total", sub, 1},
		{"wefgate_events_damaged_total", sub, 1},
		{"wefgate_events_received_total", map[string]string{"subscription": "quiet-subscription"}, 0},
		{"wefgate_auth_refusals_total", map[string]string{"listener": "https", "reason": "host_not_allowed"}, 1},
		{"wefgate_hosts", map[string]string{"subscription": "handle-manipulation", "state": "active"}, 1},
		{"wefgate_hosts", map[string]string{"subscription": "handle-manipulation", "state": "alive"}, 1},
		{"wefgate_hosts", map[string]string{"subscription": "handle-manipulation", "state": "dead"}, 1},
		{"wefgate_hosts", map[string]string{"subscription": "quiet-subscription", "state": "active"}, 0},
		{"wefgate_export_records_total", nil, 3},
		{"wefgate_spool_pending_deliveries", nil, 0},
		{"wefgate_exporters_failing", nil, 0},
		{"wefgate_exporter_exported_records_total", map[string]string{"exporter": "file"}, 3},
		{"wefgate_exporter_failing", map[string]string{"exporter": "file"}, 0},
		{"wefgate_exporter_pending_deliveries", map[string]string{"exporter": "file"}, 0},
	}
	for _, c := range checks {
		if got := value(families, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The refused certificate never reaches an HTTP request: Go's TLS
	// handshake refuses it, and the handshake error is logged instead.
	if hist := families["wefgate_request_duration_seconds"]; hist == nil || hist.GetType() != dto.MetricType_HISTOGRAM {
		t.Error("no request duration histogram")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes",
		"wefgate_spool_bytes", "wefgate_spool_max_bytes", "wefgate_export_lag_seconds",
		"wefgate_export_retries_total", "wefgate_request_body_received_bytes_total",
		"wefgate_exporter_lag_seconds", "wefgate_exporter_retries_total", "wefgate_exporter_outage_seconds",
		"wefgate_request_budget_bytes", "wefgate_request_budget_refusals_total", "wefgate_connections_open",
		"wefgate_connections_accepted_total", "wefgate_connections_refused_total", "wefgate_connection_accept_errors_total",
		"wefgate_events_empty_total", "wefgate_batches_over_limit_total", "wefgate_log_lines_suppressed_total"} {
		if families[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	// Labels stay bounded: no host name in any label value.
	for name, fam := range families {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "example.test") {
					t.Errorf("%s has a per-host label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}

	// The access log has one line per request with who, what and how much.
	if !af.gw.logs.contains("msg=access", "identity=host1.example.test", "action=events", "status=200", "bytes_in=", "bytes_out=", "duration_ms=", "remote=127.0.0.1:") {
		t.Error("no access log line for host1's Events batch")
	}
	if !af.gw.logs.contains("msg=access", "identity=denied1.example.test", "status=403", "refusal=host_not_allowed") {
		t.Error("no access log line for the denied host's refusal")
	}
}

// scrape fetches and parses /metrics.
func (af *adminFixture) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeMetrics(t, af.adminURL)
}

// scrapeMetrics fetches baseURL/metrics and parses it with Prometheus's
// text parser.
func scrapeMetrics(t *testing.T, baseURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return families
}

// TestMetricsNameTheExporterBehind has an OTLP exporter whose backend is
// down next to the file exporter: the per-exporter metrics say which one
// is failing and behind, while the file exporter has everything.
func TestMetricsNameTheExporterBehind(t *testing.T) {
	down := freePort(t) // nothing listens there
	af := newAdminFixtureWith(t, fmt.Sprintf("  otlp:\n    enabled: true\n    protocol: http/protobuf\n    endpoint: http://127.0.0.1:%d\n    insecure: true\n    timeout: 1s\n", down))
	var fam map[string]*dto.MetricFamily
	waitUntil(t, 20*time.Second, "the otlp exporter reported failing and the file exporter's records counted", func() bool {
		fam = af.scrape(t)
		return value(fam, "wefgate_exporter_failing", map[string]string{"exporter": "otlp"}) == 1 &&
			value(fam, "wefgate_exporter_exported_records_total", map[string]string{"exporter": "file"}) >= 3
	})
	for _, c := range []struct {
		name, exporter string
		ok             func(float64) bool
		want           string
	}{
		{"wefgate_exporter_failing", "file", func(v float64) bool { return v == 0 }, "0"},
		{"wefgate_exporter_exported_records_total", "file", func(v float64) bool { return v == 3 }, "3"},
		{"wefgate_exporter_exported_records_total", "otlp", func(v float64) bool { return v == 0 }, "0"},
		{"wefgate_exporter_pending_deliveries", "otlp", func(v float64) bool { return v >= 1 }, ">= 1"},
		{"wefgate_exporter_lag_seconds", "otlp", func(v float64) bool { return v > 0 }, "> 0"},
		{"wefgate_exporter_outage_seconds", "otlp", func(v float64) bool { return v >= 0 }, ">= 0"},
		{"wefgate_exporter_retries_total", "otlp", func(v float64) bool { return v >= 1 }, ">= 1"},
	} {
		if got := value(fam, c.name, map[string]string{"exporter": c.exporter}); !c.ok(got) {
			t.Errorf("%s{exporter=%q} = %v, want %s", c.name, c.exporter, got, c.want)
		}
	}
	if value(fam, "wefgate_exporters_failing", nil) != 1 {
		t.Error("wefgate_exporters_failing is not 1")
	}
}

// value returns the value of the series of name whose labels include
// labels, or -1 when there is none.
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	fam := families[name]
	if fam == nil {
		return -1
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

// artifactDir is where tests leave what a person may want to look at
// (WEFGATE_TEST_ARTIFACTS, else the test's temporary directory).
func artifactDir(t *testing.T) string {
	if d := os.Getenv("WEFGATE_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}
