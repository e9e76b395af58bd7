package testotelcol

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// One line as the v0.162.0 file exporter writes it, trimmed to the fields
// the harness decodes.
const sampleLine = `{"resourceLogs":[{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"ws01"}},{"key":"os.type","value":{"stringValue":"windows"}}]},"scopeLogs":[{"scope":{"name":"wefgate","version":"1"},"logRecords":[{"timeUnixNano":"1795168801516634100","observedTimeUnixNano":"1795168805000000000","severityNumber":9,"severityText":"INFO","eventName":"windows.security.4690","body":{"kvlistValue":{"values":[{"key":"event_id","value":{"kvlistValue":{"values":[{"key":"id","value":{"intValue":"4690"}}]}}},{"key":"keywords","value":{"arrayValue":{"values":[{"stringValue":"0x8020000000000000"}]}}},{"key":"ok","value":{"boolValue":true}},{"key":"ratio","value":{"doubleValue":0.5}},{"key":"raw","value":{"bytesValue":"AQI="}},{"key":"empty","value":{}}]}},"attributes":[{"key":"process.pid","value":{"intValue":"7712"}}],"traceId":"","spanId":""}]}]}]}
`

func TestParseRequest(t *testing.T) {
	recs, err := parseRequest([]byte(sampleLine))
	if err != nil {
		t.Fatal(err)
	}
	want := []ReceivedRecord{{
		Resource:       map[string]any{"host.name": "ws01", "os.type": "windows"},
		ScopeName:      "wefgate",
		ScopeVersion:   "1",
		Timestamp:      time.Unix(0, 1795168801516634100).UTC(),
		Observed:       time.Unix(0, 1795168805000000000).UTC(),
		SeverityNumber: 9,
		SeverityText:   "INFO",
		EventName:      "windows.security.4690",
		Body: map[string]any{
			"event_id": map[string]any{"id": int64(4690)},
			"keywords": []any{"0x8020000000000000"},
			"ok":       true,
			"ratio":    0.5,
			"raw":      []byte{1, 2},
			"empty":    nil,
		},
		Attributes: map[string]any{"process.pid": int64(7712)},
	}}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("got  %#v\nwant %#v", recs, want)
	}
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct{ name, line string }{
		{"not JSON", `{"resourceLogs":[`},
		{"bad int", `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"k","value":{"intValue":"x"}}]}]}]}]}`},
		{"bad time", `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}`},
		{"bad bytes", `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"!!"}}]}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseRequest([]byte(tt.line)); err == nil {
				t.Error("parseRequest returned nil error")
			}
		})
	}
}

func TestReadRecordsIgnoresUnterminatedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if recs, err := readRecords(path); err != nil || recs != nil {
		t.Fatalf("missing file: %v, %v", recs, err)
	}
	if err := os.WriteFile(path, []byte(sampleLine+sampleLine[:40]), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := readRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Errorf("got %d records, want 1", len(recs))
	}
}

// TestStartStopRestart runs the real collector: both receivers answer, a
// stopped collector refuses connections, and a restarted one listens on the
// same ports again.
func TestStartStopRestart(t *testing.T) {
	c := Start(t)
	post := func() (int, error) {
		resp, err := http.Post("http://"+c.HTTPEndpoint()+"/v1/logs", "application/json", bytes.NewReader([]byte(sampleLine)))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post(); err != nil || code != http.StatusOK {
		t.Fatalf("POST /v1/logs: %d, %v", code, err)
	}
	recs := c.WaitForRecords(t, 1, 10*time.Second)
	if recs[0].EventName != "windows.security.4690" || recs[0].Resource["host.name"] != "ws01" {
		t.Errorf("received %+v", recs[0])
	}

	c.Stop()
	if _, err := net.DialTimeout("tcp", c.GRPCEndpoint(), time.Second); err == nil {
		t.Error("gRPC port still accepts connections after Stop")
	}
	c.Restart(t)
	if code, err := post(); err != nil || code != http.StatusOK {
		t.Fatalf("POST after restart: %d, %v", code, err)
	}
	if recs := c.WaitForRecords(t, 2, 10*time.Second); len(recs) != 2 {
		t.Errorf("after restart the output holds %d records, want 2 (append mode)", len(recs))
	}
}

func TestStartSkipsWithoutBinary(t *testing.T) {
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "no-such-otelcol"))
	t.Setenv(EnvRequire, "")
	started := false
	ok := t.Run("start", func(t *testing.T) {
		Start(t)
		started = true
	})
	if !ok || started {
		t.Errorf("Start without a binary: subtest ok=%v, returned=%v; want a skip", ok, started)
	}
}
