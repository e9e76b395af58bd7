package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"wefgate/exporters/mapping"
	"wefgate/record"
	"wefgate/wef/event"
)

var _ interface {
	Name() string
	Export(context.Context, []record.Record) error
	Close(context.Context) error
} = (*Exporter)(nil)

func sampleRecord(id uint64) record.Record {
	ev := &event.Event{
		Provider:    event.Provider{Name: "Microsoft-Windows-Security-Auditing"},
		EventID:     4690,
		Keywords:    event.KeywordAuditSuccess,
		KeywordsRaw: "0x8020000000000000",
		SystemTime:  "2026-11-20T10:00:01.5166341Z",
		TimeCreated: time.Date(2026, 11, 20, 10, 0, 1, 516634100, time.UTC),
		RecordID:    id, HasRecordID: true,
		Channel:  "Security",
		Computer: "ws01.corp.example",
		EventData: []event.Data{
			{Name: "SubjectUserName", Value: "admmig"},
			{Name: "SourceProcessId", Value: "0x1e20"},
		},
	}
	src := record.Source{Identity: "ws01.corp.example", Address: "192.0.2.10", Received: time.Date(2026, 11, 20, 10, 0, 2, 0, time.FixedZone("CET", 3600))}
	return mapping.Map(src, ev, []record.KV{{Key: "enrich.ratio", Value: 0.5}, {Key: "enrich.ok", Value: true}}, mapping.Options{})
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", len(out)+1, err, sc.Text())
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExportWritesOTLPLikeJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	exp, err := New(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close(context.Background())
	if exp.Name() != "file" {
		t.Errorf("Name = %q", exp.Name())
	}
	recs := []record.Record{sampleRecord(1), sampleRecord(2)}
	if err := exp.Export(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	got := lines[0]
	want := map[string]any{
		"timestamp":          "2026-11-20T10:00:01.5166341Z",
		"observed_timestamp": "2026-11-20T09:00:02Z",
		"severity_number":    float64(9),
		"severity_text":      "INFO",
		"event_name":         "windows.security.4690",
		"resource":           map[string]any{"host.name": "ws01.corp.example", "os.type": "windows"},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
	attrs, _ := got["attributes"].(map[string]any)
	for k, w := range map[string]any{
		"log.record.uid":    mapping.RecordUID(&event.Event{Computer: "ws01.corp.example", Channel: "Security", RecordID: 1, HasRecordID: true}),
		"event.code":        "4690",
		"event.category":    []any{"process"},
		"process.pid":       float64(7712),
		"client.address":    "192.0.2.10",
		"enrich.ratio":      0.5,
		"enrich.ok":         true,
		"user.name":         "admmig",
		"event.outcome":     "success",
		"event.action":      "duplicate-handle-attempt",
		"event.provider":    "Microsoft-Windows-Security-Auditing",
		"event.type":        []any{"access"},
		"wef.host.identity": "ws01.corp.example",
	} {
		if !reflect.DeepEqual(attrs[k], w) {
			t.Errorf("attributes[%s] = %#v, want %#v", k, attrs[k], w)
		}
	}
	body, _ := got["body"].(map[string]any)
	if id := body["event_id"].(map[string]any)["id"]; id != float64(4690) {
		t.Errorf("body.event_id.id = %v", id)
	}
	if ed := body["event_data"].(map[string]any); ed["SourceProcessId"] != "0x1e20" {
		t.Errorf("body.event_data = %v", ed)
	}
	if lines[1]["body"].(map[string]any)["record_id"] != float64(2) {
		t.Errorf("second line record_id = %v", lines[1]["body"])
	}
}

func TestAttributeOrderAndDuplicates(t *testing.T) {
	rec := record.Record{Attributes: []record.KV{
		{Key: "b", Value: "1"}, {Key: "a", Value: int64(2)}, {Key: "b", Value: "3"},
		{Key: "nan", Value: math.NaN()}, {Key: "inf", Value: math.Inf(-1)},
		{Key: "list", Value: []any{"x", int64(1), false, map[string]any{"z": nil, "y": []string{"q"}}}},
	}}
	var b bytes.Buffer
	appendRecord(&b, &rec)
	got := b.String()
	wantAttrs := `"attributes":{"b":"3","a":2,"nan":"NaN","inf":"-Inf","list":["x",1,false,{"y":["q"],"z":null}]}`
	if !strings.Contains(got, wantAttrs) {
		t.Errorf("got %s\nwant it to contain %s", got, wantAttrs)
	}
	if strings.Contains(got, `"timestamp"`) {
		t.Errorf("zero timestamp written: %s", got)
	}
	if !json.Valid([]byte(got)) {
		t.Errorf("invalid JSON: %s", got)
	}
}

func TestExportAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(`{"old":true}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp, err := New(path, Options{Name: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	if exp.Name() != "audit" {
		t.Errorf("Name = %q", exp.Name())
	}
	if err := exp.Export(context.Background(), []record.Record{sampleRecord(1)}); err != nil {
		t.Fatal(err)
	}
	if err := exp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, path); len(lines) != 2 || lines[0]["old"] != true {
		t.Fatalf("lines = %v", lines)
	}
}

func TestExportReopensAfterRotation(t *testing.T) {
	tests := []struct {
		name   string
		rotate func(path string) error
	}{
		{"moved", func(p string) error { return os.Rename(p, p+".1") }},
		{"removed", os.Remove},
		{"replaced", func(p string) error {
			if err := os.Rename(p, p+".1"); err != nil {
				return err
			}
			return os.WriteFile(p, nil, 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			exp, err := New(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer exp.Close(context.Background())
			ctx := context.Background()
			if err := exp.Export(ctx, []record.Record{sampleRecord(1)}); err != nil {
				t.Fatal(err)
			}
			if err := tt.rotate(path); err != nil {
				t.Fatal(err)
			}
			if err := exp.Export(ctx, []record.Record{sampleRecord(2), sampleRecord(3)}); err != nil {
				t.Fatal(err)
			}
			lines := readLines(t, path)
			if len(lines) != 2 {
				t.Fatalf("after rotation the path holds %d lines, want 2", len(lines))
			}
			if _, err := os.Stat(path + ".1"); err == nil {
				if old := readLines(t, path+".1"); len(old) != 1 {
					t.Errorf("rotated file holds %d lines, want 1", len(old))
				}
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		exp, err := New(filepath.Join(t.TempDir(), "x"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := exp.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := exp.Export(context.Background(), []record.Record{sampleRecord(1)}); err == nil {
			t.Error("Export after Close returned nil")
		}
		if err := exp.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		exp, err := New(filepath.Join(t.TempDir(), "x"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Close(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := exp.Export(ctx, []record.Record{sampleRecord(1)}); err == nil {
			t.Error("Export with cancelled context returned nil")
		}
	})
	t.Run("directory vanished", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		exp, err := New(filepath.Join(dir, "x"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Close(context.Background())
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := exp.Export(context.Background(), []record.Record{sampleRecord(1)}); err == nil {
			t.Error("Export into a removed directory returned nil")
		}
	})
	t.Run("empty path", func(t *testing.T) {
		if _, err := New("", Options{}); err == nil {
			t.Error("New(\"\") returned nil error")
		}
	})
}

func BenchmarkExport(b *testing.B) {
	exp, err := New(filepath.Join(b.TempDir(), "events.jsonl"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer exp.Close(context.Background())
	batch := make([]record.Record, 500)
	for i := range batch {
		batch[i] = sampleRecord(uint64(i))
	}
	var size int
	{
		var buf bytes.Buffer
		for i := range batch {
			appendRecord(&buf, &batch[i])
			buf.WriteByte('\n')
		}
		size = buf.Len()
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for b.Loop() {
		if err := exp.Export(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
}

// TestWriteStringMatchesEncodingJSON pins the hand-written escaper to
// encoding/json's output, which readers of the file may rely on.
func TestWriteStringMatchesEncodingJSON(t *testing.T) {
	inputs := []string{"", "plain", `C:\Windows\System32\lsass.exe`, "quote\"here", "tab\tnl\ncr\r", "\x00\x01\x1f",
		"<html>&amp;", "jörg 文件 😀", "bad\xffutf8\xc3", "line\u2028sep\u2029", "\x7f"}
	for _, in := range inputs {
		var buf bytes.Buffer
		writeString(&buf, in)
		want, _ := json.Marshal(in)
		if buf.String() != string(want) {
			t.Errorf("writeString(%q) = %s, want %s", in, buf.String(), want)
		}
	}
}

func FuzzWriteString(f *testing.F) {
	f.Add("C:\\x\"<\x00\xff")
	f.Fuzz(func(t *testing.T, in string) {
		var buf bytes.Buffer
		writeString(&buf, in)
		want, _ := json.Marshal(in)
		if buf.String() != string(want) {
			t.Fatalf("writeString(%q) = %s, want %s", in, buf.String(), want)
		}
	})
}

// TestAppendFloatMatchesEncodingJSON pins the float writer to
// encoding/json's output.
func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 1.0 / 3, 123456789, 1e20, 1e21, 1.5e21, 1e-6, 9.99e-7, 1e-7, -2.5e-9, 1e100, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}
