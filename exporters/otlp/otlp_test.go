package otlp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	"wefgate/exporters/mapping"
	"wefgate/internal/testotelcol"
	"wefgate/record"
	"wefgate/wef/event"
)

var _ interface {
	Name() string
	Export(context.Context, []record.Record) error
	Close(context.Context) error
} = (*Exporter)(nil)

var received = time.Date(2026, 11, 20, 10, 0, 5, 987654321, time.UTC)

func handleEvent(host string, id uint64) *event.Event {
	return &event.Event{
		Provider:    event.Provider{Name: "Microsoft-Windows-Security-Auditing", GUID: "{54849625-5478-4994-A5BA-3E3B0328C30D}"},
		EventID:     4658,
		Task:        12802,
		Keywords:    event.KeywordAuditSuccess | 0x8000000000000000,
		KeywordsRaw: "0x8020000000000000",
		SystemTime:  "2026-11-20T10:00:01.5166341Z",
		TimeCreated: time.Date(2026, 11, 20, 10, 0, 1, 516634100, time.UTC),
		RecordID:    id, HasRecordID: true,
		Execution: event.Execution{ProcessID: 4, ThreadID: 456, HasProcessID: true},
		Channel:   "Security",
		Computer:  host,
		EventData: []event.Data{
			{Name: "SubjectUserSid", Value: "S-1-5-18"},
			{Name: "SubjectUserName", Value: "WS01$"},
			{Name: "SubjectDomainName", Value: "CORP"},
			{Name: "SubjectLogonId", Value: "0x3e7"},
			{Name: "ObjectServer", Value: "Security"},
			{Name: "HandleId", Value: "0x11c0"},
			{Name: "ProcessId", Value: "0x1e20"},
			{Name: "ProcessName", Value: `C:\Tools\mimikatz.exe`},
		},
		Raw: `<Event><System><EventID>4658</EventID></System></Event>`,
	}
}

func mapped(host string, id uint64, opts mapping.Options) record.Record {
	src := record.Source{Identity: strings.ToLower(host), Address: "192.0.2.10", Subscription: "handles", SubscriptionID: "sub-1", Received: received}
	return mapping.Map(src, handleEvent(host, id), []record.KV{{Key: "enrich.score", Value: 0.25}, {Key: "enrich.flag", Value: true}}, opts)
}

func newExporter(t *testing.T, cfg Config) *Exporter {
	t.Helper()
	exp, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close(context.Background()) })
	return exp
}

// TestExportToCollector sends records from two hosts through a real
// collector and checks every field of what it wrote.
func TestExportToCollector(t *testing.T) {
	col := testotelcol.Start(t)
	for _, tt := range []struct {
		protocol, endpoint, compression string
	}{
		{ProtocolGRPC, col.GRPCEndpoint(), "gzip"},
		{ProtocolHTTP, col.HTTPEndpoint(), "none"},
		{ProtocolHTTP, "http://" + col.HTTPEndpoint(), "gzip"},
	} {
		t.Run(tt.protocol+"/"+tt.endpoint, func(t *testing.T) {
			exp := newExporter(t, Config{
				Protocol: tt.protocol, Endpoint: tt.endpoint, Insecure: true, Compression: tt.compression,
				Timeout: 5 * time.Second, ServiceInstanceID: "gw-1",
			})
			before := len(col.Records(t))
			tag := tt.protocol + tt.endpoint
			recs := []record.Record{
				mapped("WS01.corp.example", 1, mapping.Options{IncludeOriginal: true}),
				mapped("ws02.corp.example", 2, mapping.Options{}),
				mapped("WS01.corp.example", 3, mapping.Options{}),
			}
			for i := range recs {
				recs[i].Attributes = append(recs[i].Attributes, record.KV{Key: "test.tag", Value: tag})
			}
			if err := exp.Export(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
			all := col.WaitForRecords(t, before+3, 10*time.Second)
			var got []testotelcol.ReceivedRecord
			for _, r := range all {
				if r.Attributes["test.tag"] == tag {
					got = append(got, r)
				}
			}
			if len(got) != 3 {
				t.Fatalf("collector has %d records of this run, want 3", len(got))
			}
			byUID := map[string]testotelcol.ReceivedRecord{}
			for _, r := range got {
				byUID[r.Attributes["log.record.uid"].(string)] = r
			}
			for _, want := range recs {
				uid, _ := want.Attribute("log.record.uid")
				r, ok := byUID[uid.(string)]
				if !ok {
					t.Fatalf("record %v not received", uid)
				}
				checkReceived(t, r, want)
			}
		})
	}
}

func checkReceived(t *testing.T, got testotelcol.ReceivedRecord, want record.Record) {
	t.Helper()
	wantRes := map[string]any{
		"host.name": want.HostName, "os.type": "windows",
		"service.name": "wefgate", "service.instance.id": "gw-1",
	}
	if !reflect.DeepEqual(got.Resource, wantRes) {
		t.Errorf("resource = %v, want %v", got.Resource, wantRes)
	}
	if got.ScopeName != scopeName {
		t.Errorf("scope = %q", got.ScopeName)
	}
	if !got.Timestamp.Equal(want.Timestamp) || !got.Observed.Equal(want.Observed) {
		t.Errorf("times = %v / %v, want %v / %v", got.Timestamp, got.Observed, want.Timestamp, want.Observed)
	}
	if got.SeverityNumber != want.SeverityNumber || got.SeverityText != want.SeverityText {
		t.Errorf("severity = %d %q, want %d %q", got.SeverityNumber, got.SeverityText, want.SeverityNumber, want.SeverityText)
	}
	if got.EventName != want.EventName {
		t.Errorf("event name = %q, want %q", got.EventName, want.EventName)
	}
	if !reflect.DeepEqual(got.Body, want.Body) {
		t.Errorf("body mismatch\n got: %#v\nwant: %#v", got.Body, want.Body)
	}
	wantAttrs := map[string]any{}
	for _, kv := range want.Attributes {
		wantAttrs[kv.Key] = kv.Value
	}
	if !reflect.DeepEqual(got.Attributes, wantAttrs) {
		t.Errorf("attributes mismatch\n got: %#v\nwant: %#v", got.Attributes, wantAttrs)
	}
}

// TestExportChunksLargeBatchOverGRPC sends more than the receiver's 4 MiB
// gRPC limit in one Export call.
func TestExportChunksLargeBatchOverGRPC(t *testing.T) {
	col := testotelcol.Start(t)
	// The cap is set at the receiver's limit itself, so any underestimate
	// of the request size would be refused by the collector.
	exp := newExporter(t, Config{Protocol: ProtocolGRPC, Endpoint: col.GRPCEndpoint(), Insecure: true, Timeout: 20 * time.Second, MaxRequestBytes: 4 << 20})
	const n = 600
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = mapped(fmt.Sprintf("ws%02d.corp.example", i%7), uint64(i), mapping.Options{})
		recs[i].Attributes = append(recs[i].Attributes, record.KV{Key: "padding", Value: strings.Repeat("x", 10_000)})
	}
	if sizes := requestSizes(t, exp, recs); len(sizes) < 2 {
		t.Fatalf("split into %d requests", len(sizes))
	}
	if sizes := requestSizes(t, newExporter(t, Config{Protocol: ProtocolGRPC, Endpoint: col.GRPCEndpoint(), Insecure: true, MaxRequestBytes: 64 << 20}), recs); sizes[0] <= 5<<20 {
		t.Fatalf("batch is only %d bytes; the test needs more than the 4 MiB limit", sizes[0])
	}
	// Without the split the collector refuses the batch ("received message
	// larger than max"): the limit this test relies on is really in force.
	unsplit := newExporter(t, Config{Protocol: ProtocolGRPC, Endpoint: col.GRPCEndpoint(), Insecure: true, Timeout: 20 * time.Second, MaxRequestBytes: 64 << 20})
	if err := unsplit.Export(context.Background(), recs); err == nil {
		t.Fatal("the collector accepted an unsplit batch over 4 MiB; the limit under test is gone")
	}
	if err := exp.Export(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	got := col.WaitForRecords(t, n, 30*time.Second)
	seen := map[any]bool{}
	for _, r := range got {
		seen[r.Attributes["log.record.uid"]] = true
	}
	if len(seen) != n {
		t.Errorf("collector has %d distinct records, want %d", len(seen), n)
	}
}

// TestRequestsWithinCap cuts a batch of varied records at a small cap and
// sends each request to a real collector: every request of more than one
// record is within the cap, the size the encoder planned is the size it
// wrote, and the collector accepts them all.
func TestRequestsWithinCap(t *testing.T) {
	col := testotelcol.Start(t)
	const limit = 30_000
	exp := newExporter(t, Config{Protocol: ProtocolHTTP, Endpoint: col.HTTPEndpoint(), Insecure: true, MaxRequestBytes: limit, ServiceInstanceID: "gw-1"})
	var recs []record.Record
	for i := range 60 {
		r := mapped(fmt.Sprintf("ws%d.corp.example", i%3), uint64(i), mapping.Options{IncludeOriginal: i%2 == 0})
		r.Attributes = append(r.Attributes,
			record.KV{Key: "nested", Value: map[string]any{"list": []any{int64(i), "x", 1.5, false, nil}, "deep": map[string]any{"k": strings.Repeat("y", i*40)}}},
			record.KV{Key: "strings", Value: []string{"a", "bb"}})
		recs = append(recs, r)
	}
	before := len(col.Records(t))
	var requests, count int
	err := exp.forEachRequest(recs, func(n int) error {
		requests++
		count += n
		if n > 1 && len(exp.out.buf) > limit {
			t.Errorf("request %d of %d records is %d bytes, over the cap", requests, n, len(exp.out.buf))
		}
		if len(exp.out.buf) != exp.enc.chunkSz {
			t.Errorf("request %d: planned %d bytes, wrote %d", requests, exp.enc.chunkSz, len(exp.out.buf))
		}
		return exp.send(context.Background(), n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if requests < 3 || count != len(recs) {
		t.Fatalf("%d requests carried %d records; the test needs several for %d", requests, count, len(recs))
	}
	col.WaitForRecords(t, before+len(recs), 10*time.Second)
}

// requestSizes returns the sizes of the requests exp would send for recs.
func requestSizes(t testing.TB, exp *Exporter, recs []record.Record) []int {
	t.Helper()
	var sizes []int
	if err := exp.forEachRequest(recs, func(int) error { sizes = append(sizes, len(exp.out.buf)); return nil }); err != nil {
		t.Fatal(err)
	}
	return sizes
}

// TestExportFailsWhenCollectorDown checks that an outage is reported, never
// swallowed, and that export works again after the collector comes back.
func TestExportFailsWhenCollectorDown(t *testing.T) {
	col := testotelcol.Start(t)
	for _, tt := range []struct{ protocol, endpoint string }{
		{ProtocolGRPC, col.GRPCEndpoint()},
		{ProtocolHTTP, col.HTTPEndpoint()},
	} {
		t.Run(tt.protocol, func(t *testing.T) {
			exp := newExporter(t, Config{Protocol: tt.protocol, Endpoint: tt.endpoint, Insecure: true, Timeout: 2 * time.Second})
			col.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := exp.Export(ctx, []record.Record{mapped("ws01", 1, mapping.Options{})}); err == nil {
				t.Fatal("Export returned nil with the collector down")
			}
			before := len(col.Records(t))
			col.Restart(t)
			// A gRPC client may still be waiting out its reconnect backoff
			// (capped at maxReconnectDelay); the SDK's own retry is off, so
			// retry here as the shipper does, within that bound.
			var err error
			deadline := time.Now().Add(maxReconnectDelay + 5*time.Second)
			for {
				if err = exp.Export(context.Background(), []record.Record{mapped("ws01", 2, mapping.Options{})}); err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("Export after restart: %v", err)
			}
			col.WaitForRecords(t, before+1, 10*time.Second)
		})
	}
}

func TestExportAfterClose(t *testing.T) {
	exp := newExporter(t, Config{Protocol: ProtocolHTTP, Endpoint: "127.0.0.1:1", Insecure: true})
	if err := exp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(context.Background(), []record.Record{mapped("h", 1, mapping.Options{})}); err == nil {
		t.Error("Export after Close returned nil")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"protocol", Config{Protocol: "http/json"}},
		{"compression", Config{Protocol: ProtocolGRPC, Compression: "zstd"}},
		{"missing CA", Config{Protocol: ProtocolGRPC, CAFile: "/nonexistent/ca.pem"}},
		{"cert without key", Config{Protocol: ProtocolHTTP, CertFile: "/nonexistent/c.pem"}},
		{"URL without host", Config{Protocol: ProtocolHTTP, Endpoint: "http:///v1/logs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(context.Background(), tt.cfg, nil); err == nil {
				t.Error("New returned nil error")
			}
		})
	}
}

func TestSplitBySize(t *testing.T) {
	exp := &Exporter{cfg: resolved{Config: Config{MaxRequestBytes: 20_000}}, enc: newEncoder("wefgate", "gw-1", nil), out: &payload{}}
	small := mapped("ws01", 1, mapping.Options{})
	other := mapped("ws02", 1, mapping.Options{})
	big := mapped("ws01", 2, mapping.Options{})
	big.Attributes = append(big.Attributes, record.KV{Key: "pad", Value: strings.Repeat("x", 50_000)})
	tests := []struct {
		name string
		in   []record.Record
		want []int
	}{
		{"empty", nil, nil},
		{"one small", []record.Record{small}, []int{1}},
		{"oversized record alone", []record.Record{small, big, small}, []int{1, 1, 1}},
		{"many small", repeat(small, 40), nil},
		{"two hosts", append(repeat(small, 20), repeat(other, 20)...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sizes []int
			count := 0
			err := exp.forEachRequest(tt.in, func(n int) error {
				sizes = append(sizes, n)
				count += n
				if n > 1 && len(exp.out.buf) > exp.cfg.MaxRequestBytes {
					t.Errorf("request of %d records is %d bytes, over the cap", n, len(exp.out.buf))
				}
				var req collogpb.ExportLogsServiceRequest
				if err := proto.Unmarshal(exp.out.buf, &req); err != nil {
					t.Errorf("request does not decode: %v", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if count != len(tt.in) {
				t.Errorf("chunks hold %d records, want %d", count, len(tt.in))
			}
			if tt.want != nil && !reflect.DeepEqual(sizes, tt.want) {
				t.Errorf("chunk sizes = %v, want %v", sizes, tt.want)
			}
			if len(tt.in) >= 40 && len(sizes) < 2 {
				t.Errorf("40 records fit one 20 kB request? sizes %v", sizes)
			}
		})
	}
}

func repeat(r record.Record, n int) []record.Record {
	out := make([]record.Record, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// BenchmarkExport exports 500 mapped records of 10 hosts per call: to a
// real Collector over gRPC and HTTP (which shares the CPU), and over HTTP
// to an in-process server that reads and drops the body ("discard": the
// exporter's own cost).
func BenchmarkExport(b *testing.B) {
	for _, target := range []string{ProtocolGRPC, ProtocolHTTP, "discard"} {
		b.Run(target, func(b *testing.B) {
			cfg := Config{Protocol: target, Insecure: true, ServiceInstanceID: "gw-1"}
			switch target {
			case "discard":
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
				}))
				defer srv.Close()
				cfg.Protocol, cfg.Endpoint = ProtocolHTTP, srv.URL
			case ProtocolGRPC:
				cfg.Endpoint = testotelcol.Start(b).GRPCEndpoint()
			default:
				cfg.Endpoint = testotelcol.Start(b).HTTPEndpoint()
			}
			exp, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer exp.Close(context.Background())
			batch := make([]record.Record, 500)
			for i := range batch {
				batch[i] = mapped(fmt.Sprintf("ws%02d.corp.example", i%10), uint64(i), mapping.Options{})
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := exp.Export(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// TestExportHTTPResponses drives the HTTP exporter against a scripted
// server: what counts as delivered, and that configured headers are sent.
func TestExportHTTPResponses(t *testing.T) {
	partial, err := proto.Marshal(&collogpb.ExportLogsServiceResponse{
		PartialSuccess: &collogpb.ExportLogsPartialSuccess{RejectedLogRecords: 1, ErrorMessage: "too old"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		status  int
		body    []byte
		wantErr bool
		wantLog string
	}{
		{"ok", http.StatusOK, nil, false, ""},
		{"partial success counts as delivered", http.StatusOK, partial, false, "too old (1 logs rejected)"},
		{"bad request", http.StatusBadRequest, nil, true, ""},
		{"unavailable until the deadline", http.StatusServiceUnavailable, nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if r.URL.Path != "/v1/logs" || r.Header.Get("X-Api-Key") != "secret" {
					t.Errorf("request %s with X-Api-Key %q", r.URL.Path, r.Header.Get("X-Api-Key"))
				}
				var req collogpb.ExportLogsServiceRequest
				body, _ := io.ReadAll(r.Body)
				if err := proto.Unmarshal(body, &req); err != nil || len(req.ResourceLogs) != 1 {
					t.Errorf("request body: %v, %d resources", err, len(req.ResourceLogs))
				}
				w.Header().Set("Content-Type", "application/x-protobuf")
				w.WriteHeader(tt.status)
				w.Write(tt.body)
			}))
			defer srv.Close()
			var logs bytes.Buffer
			exp, err := New(context.Background(), Config{Protocol: ProtocolHTTP, Endpoint: srv.URL, Headers: map[string]string{"X-Api-Key": "secret"}},
				slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Close(context.Background())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err = exp.Export(ctx, []record.Record{mapped("ws01", 1, mapping.Options{})})
			if (err != nil) != tt.wantErr {
				t.Errorf("Export error = %v, want error: %v", err, tt.wantErr)
			}
			if !strings.Contains(logs.String(), tt.wantLog) || (tt.wantLog == "" && logs.Len() > 0) {
				t.Errorf("log = %q, want it to contain %q", logs.String(), tt.wantLog)
			}
			if requests.Load() == 0 {
				t.Error("no request reached the server")
			}
		})
	}
}
