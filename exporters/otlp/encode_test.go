package otlp

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"wefgate/exporters/mapping"
	"wefgate/record"
)

// TestEncodeMatchesRecords decodes the encoder's bytes with the official
// generated OTLP types and compares every field with the records.
func TestEncodeMatchesRecords(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 1, 516634100, time.UTC)
	kinds := record.Record{
		Timestamp: t0, Observed: t0.Add(time.Second), SeverityNumber: 9, SeverityText: "information",
		EventName: "windows.security.4658", HostName: "ws01.corp.example",
		Body: map[string]any{
			"event_id": map[string]any{"id": int64(4658), "qualifiers": ""},
			"channel":  "Security",
			"list":     []any{"a", int64(-1), 2.5, true, nil, []any{}, map[string]any{"k": "v"}},
			"empty":    map[string]any{},
		},
		Attributes: []record.KV{
			{Key: "s", Value: "text"}, {Key: "empty.string", Value: ""},
			{Key: "i64", Value: int64(math.MinInt64)}, {Key: "int", Value: 4294967296}, {Key: "zero", Value: int64(0)},
			{Key: "f", Value: 0.25}, {Key: "f.zero", Value: 0.0},
			{Key: "t", Value: true}, {Key: "false", Value: false},
			{Key: "bytes", Value: []byte{0, 1, 0xff}}, {Key: "nil", Value: nil},
			{Key: "strings", Value: []string{"a", "", strings.Repeat("z", 300)}},
			{Key: "any", Value: []any{"x", int64(7)}},
			{Key: "map", Value: map[string]any{"n": int64(1), "long": strings.Repeat("y", 200), "m": map[string]any{"deep": []string{"d"}}}},
			{Key: "other", Value: uint16(42)},
			{Key: "", Value: "empty key"},
		},
	}
	bare := record.Record{HostName: "ws02.corp.example", SeverityNumber: 99}
	big := mapped("WS01.corp.example", 7, mapping.Options{IncludeOriginal: true})
	big.Attributes = append(big.Attributes, record.KV{Key: "pad", Value: strings.Repeat("p", 70_000)})
	bigBody := mapped("ws04", 8, mapping.Options{})
	bigBody.Body["pad"] = strings.Repeat("b", 20_000)

	tests := []struct {
		name            string
		serviceInstance string
		scope           map[string]string
		recs            []record.Record
	}{
		{"every value kind", "gw-1", nil, []record.Record{kinds}},
		{"zero fields and nil body", "", nil, []record.Record{bare}},
		{"hosts interleaved", "gw-1", map[string]string{"elastic.mapping.mode": "ecs", "a": "first"}, []record.Record{
			mapped("WS01.corp.example", 1, mapping.Options{}), mapped("ws02.corp.example", 2, mapping.Options{Schema: mapping.SchemaECS}),
			mapped("WS01.corp.example", 3, mapping.Options{IncludeOriginal: true}), kinds, bare, mapped("ws03", 4, mapping.Options{}),
		}},
		{"lengths over 16 KiB", "gw-1", nil, []record.Record{big, kinds, bigBody, big}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := newEncoder("wefgate", tt.serviceInstance, tt.scope)
			enc.encodeRecords(tt.recs)
			enc.resetChunk()
			for i := range tt.recs {
				enc.add(i, tt.recs[i].HostName)
			}
			b := enc.appendRequest(nil)
			if len(b) != enc.chunkSz {
				t.Errorf("planned %d bytes, wrote %d", enc.chunkSz, len(b))
			}
			var req collogpb.ExportLogsServiceRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				t.Fatal(err)
			}
			checkRequest(t, &req, tt.recs, tt.serviceInstance, tt.scope)
		})
	}
}

// checkRequest compares req with what recs should have produced: one
// ResourceLogs per host in order of first appearance, records in order.
func checkRequest(t *testing.T, req *collogpb.ExportLogsServiceRequest, recs []record.Record, serviceInstance string, scope map[string]string) {
	t.Helper()
	var hosts []string
	byHost := map[string][]record.Record{}
	for _, r := range recs {
		if _, ok := byHost[r.HostName]; !ok {
			hosts = append(hosts, r.HostName)
		}
		byHost[r.HostName] = append(byHost[r.HostName], r)
	}
	if len(req.ResourceLogs) != len(hosts) {
		t.Fatalf("%d ResourceLogs, want %d", len(req.ResourceLogs), len(hosts))
	}
	for i, rl := range req.ResourceLogs {
		host := hosts[i]
		if rl.SchemaUrl != semconv.SchemaURL {
			t.Errorf("%s: schema URL %q", host, rl.SchemaUrl)
		}
		wantRes := []string{"host.name=" + host, "os.type=windows"}
		if serviceInstance != "" {
			wantRes = append(wantRes, "service.instance.id="+serviceInstance)
		}
		wantRes = append(wantRes, "service.name=wefgate")
		var gotRes []string
		for _, kv := range rl.GetResource().GetAttributes() {
			gotRes = append(gotRes, kv.Key+"="+kv.GetValue().GetStringValue())
		}
		if !slices.Equal(gotRes, wantRes) {
			t.Errorf("resource %v, want %v", gotRes, wantRes)
		}
		if len(rl.ScopeLogs) != 1 {
			t.Fatalf("%s: %d ScopeLogs", host, len(rl.ScopeLogs))
		}
		sl := rl.ScopeLogs[0]
		if sl.GetScope().GetName() != scopeName || sl.GetScope().GetVersion() != "" || sl.SchemaUrl != "" {
			t.Errorf("scope %v, schema %q", sl.GetScope(), sl.SchemaUrl)
		}
		var wantScope, gotScope []string
		for k, v := range scope {
			wantScope = append(wantScope, k+"="+v)
		}
		slices.Sort(wantScope)
		for _, kv := range sl.GetScope().GetAttributes() {
			gotScope = append(gotScope, kv.Key+"="+kv.GetValue().GetStringValue())
		}
		if !slices.Equal(gotScope, wantScope) {
			t.Errorf("scope attributes %v, want %v (sorted)", gotScope, wantScope)
		}
		want := byHost[host]
		if len(sl.LogRecords) != len(want) {
			t.Fatalf("%s: %d records, want %d", host, len(sl.LogRecords), len(want))
		}
		for j, lr := range sl.LogRecords {
			checkLogRecord(t, fmt.Sprintf("%s[%d]", host, j), lr, &want[j])
		}
	}
}

func checkLogRecord(t *testing.T, name string, lr *logspb.LogRecord, want *record.Record) {
	t.Helper()
	nanos := func(t time.Time) uint64 {
		if t.IsZero() {
			return 0
		}
		return uint64(t.UnixNano())
	}
	if lr.TimeUnixNano != nanos(want.Timestamp) || lr.ObservedTimeUnixNano != nanos(want.Observed) {
		t.Errorf("%s: times %d / %d, want %v / %v", name, lr.TimeUnixNano, lr.ObservedTimeUnixNano, want.Timestamp, want.Observed)
	}
	wantSeverity := want.SeverityNumber
	if wantSeverity < 0 || wantSeverity > severityMax {
		wantSeverity = 0
	}
	if int(lr.SeverityNumber) != wantSeverity || lr.SeverityText != want.SeverityText {
		t.Errorf("%s: severity %d %q, want %d %q", name, lr.SeverityNumber, lr.SeverityText, wantSeverity, want.SeverityText)
	}
	if lr.EventName != want.EventName {
		t.Errorf("%s: event name %q, want %q", name, lr.EventName, want.EventName)
	}
	if lr.DroppedAttributesCount != 0 || lr.Flags != 0 || lr.TraceId != nil || lr.SpanId != nil {
		t.Errorf("%s: unexpected dropped/flags/trace fields: %v", name, lr)
	}
	if lr.Body.GetKvlistValue() == nil {
		t.Errorf("%s: body is %v, want a kvlist", name, lr.Body)
	}
	if got, wantBody := fromAnyValue(lr.Body), expected(want.Body); !reflect.DeepEqual(got, wantBody) {
		t.Errorf("%s: body\n got %#v\nwant %#v", name, got, wantBody)
	}
	if len(lr.Attributes) != len(want.Attributes) {
		t.Fatalf("%s: %d attributes, want %d", name, len(lr.Attributes), len(want.Attributes))
	}
	for k, kv := range lr.Attributes {
		w := want.Attributes[k]
		if kv.Key != w.Key || kv.Value == nil {
			t.Errorf("%s: attribute %d is %q (value %v), want %q", name, k, kv.Key, kv.Value, w.Key)
			continue
		}
		if got, wv := fromAnyValue(kv.Value), expected(w.Value); !reflect.DeepEqual(got, wv) {
			t.Errorf("%s: attribute %s = %#v, want %#v", name, w.Key, got, wv)
		}
	}
}

// fromAnyValue converts a decoded AnyValue to Go values: string, bool,
// int64, float64, []byte, []any, map[string]any, or nil when unset.
func fromAnyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		out := []any{}
		for _, item := range x.ArrayValue.GetValues() {
			out = append(out, fromAnyValue(item))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := map[string]any{}
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.Key] = fromAnyValue(kv.Value)
		}
		return out
	}
	return nil
}

// expected is v as fromAnyValue should return it after the round trip.
func expected(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int64, float64, []byte:
		return v
	case int:
		return int64(v)
	case []string:
		out := []any{}
		for _, s := range v {
			out = append(out, s)
		}
		return out
	case []any:
		out := []any{}
		for _, item := range v {
			out = append(out, expected(item))
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, item := range v {
			out[k] = expected(item)
		}
		return out
	}
	return fmt.Sprint(v)
}

// TestEndMessageLengths checks the length back-patching at each varint
// width boundary, for both reservations, before and after other bytes.
func TestEndMessageLengths(t *testing.T) {
	for _, reserve := range []int{1, 2} {
		for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152} {
			content := []byte(strings.Repeat("x", n))
			b := []byte("prefix")
			b, start := beginMessage(b, 3, reserve)
			b = append(b, content...)
			b = endMessage(b, start, reserve)
			b = append(b, "suffix"...)
			rest, ok := bytes.CutPrefix(b, []byte("prefix"))
			num, typ, tagLen := protowire.ConsumeTag(rest)
			got, m := protowire.ConsumeBytes(rest[tagLen:])
			if !ok || num != 3 || typ != protowire.BytesType || m < 0 || !bytes.Equal(got, content) ||
				string(rest[tagLen+m:]) != "suffix" || m != protowire.SizeBytes(n) {
				t.Errorf("reserve %d, n=%d: field does not round-trip minimally", reserve, n)
			}
		}
	}
}

// BenchmarkEncode encodes 500 mapped records of 10 hosts into one request,
// the work Export does per batch besides the transport.
func BenchmarkEncode(b *testing.B) {
	batch := make([]record.Record, 500)
	for i := range batch {
		batch[i] = mapped(fmt.Sprintf("ws%02d.corp.example", i%10), uint64(i), mapping.Options{})
	}
	exp := &Exporter{cfg: resolved{Config: Config{MaxRequestBytes: DefaultMaxRequestBytesGRPC}}, enc: newEncoder("wefgate", "gw-1", nil), out: &payload{}}
	encoded := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := exp.forEachRequest(batch, func(int) error { encoded += len(exp.out.buf); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(encoded)/float64(b.N*len(batch)), "bytes/record")
}
