package otlp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"wefgate/exporters/mapping"
	"wefgate/record"
)

// TestPayloadHeldUntilReleased: the exporter may rewrite a request buffer
// only once every transport reader has let go of it.
func TestPayloadHeldUntilReleased(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		wantHeld bool // a gRPC buffer below the pooling threshold is copied instead
	}{
		{"small", 16, false},
		{"large", 64 << 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &payload{buf: bytes.Repeat([]byte{7}, tt.size)}
			bs, err := rawCodec{}.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if p.busy() != tt.wantHeld {
				t.Errorf("after Marshal busy = %v, want %v", p.busy(), tt.wantHeld)
			}
			if !bytes.Equal(bs.Materialize(), p.buf) {
				t.Error("gRPC buffer differs from the payload")
			}
			bs.Free()
			if p.busy() {
				t.Error("still busy after gRPC freed its buffer")
			}
			if mem.IsBelowBufferPoolingThreshold(tt.size) == tt.wantHeld {
				t.Fatalf("the test's sizes no longer straddle grpc-go's pooling threshold")
			}

			r1, r2 := newPayloadReader(p), newPayloadReader(p) // Body and GetBody
			_ = r1.Close()
			_ = r1.Close() // a second Close releases nothing more
			if !p.busy() {
				t.Error("not busy while one HTTP body reader is open")
			}
			_ = r2.Close()
			if p.busy() {
				t.Error("still busy after every HTTP body reader closed")
			}
		})
	}
}

// TestHTTPResult follows the OTLP/HTTP response rules: a 2xx is delivered
// (with any partial success), anything else an error carrying the
// google.rpc.Status message, the retryable ones saying so.
func TestHTTPResult(t *testing.T) {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	partial := marshal(&collogspb.ExportLogsServiceResponse{PartialSuccess: &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: 2, ErrorMessage: "too old"}})
	status := marshal(&statuspb.Status{Code: 3, Message: "bad timestamp"})
	const pb = "application/x-protobuf"
	tests := []struct {
		name        string
		code        int
		contentType string
		retryAfter  string
		body        []byte
		wantErr     string // "" = delivered
		wantPartial int64
	}{
		{"200 empty", 200, "", "", nil, "", 0},
		{"200 partial success", 200, pb, "", partial, "", 2},
		{"200 not protobuf", 200, "application/json", "", []byte(`{}`), "", 0},
		{"200 undecodable", 200, pb, "", []byte{0xff}, "", 0},
		{"400 with status", 400, pb, "", status, "HTTP 400 Bad Request: bad timestamp", 0},
		{"429 retryable", 429, pb, "5", status, "HTTP 429 Too Many Requests (retryable, Retry-After 5): bad timestamp", 0},
		{"503 retryable", 503, "text/plain", "", []byte("overloaded\n"), "HTTP 503 Service Unavailable (retryable): overloaded", 0},
		{"500 not retryable", 500, "", "", nil, "HTTP 500 Internal Server Error", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Status: fmt.Sprintf("%d %s", tt.code, http.StatusText(tt.code)), Header: http.Header{}}
			if tt.contentType != "" {
				resp.Header.Set("Content-Type", tt.contentType)
			}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			p, err := httpResult(resp, tt.body)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if p.GetRejectedLogRecords() != tt.wantPartial {
				t.Errorf("partial success %v, want %d rejected", p, tt.wantPartial)
			}
		})
	}
}

// logsService answers Export with a partial success and keeps what it got.
type logsService struct {
	collogspb.UnimplementedLogsServiceServer
	got chan logsCall
}

type logsCall struct {
	req    *collogspb.ExportLogsServiceRequest
	apiKey []string
}

func (s *logsService) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.got <- logsCall{req, md.Get("x-api-key")}
	return &collogspb.ExportLogsServiceResponse{PartialSuccess: &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: 1, ErrorMessage: "too old"}}, nil
}

// TestExportGRPCPartialSuccess drives the gRPC transport against a scripted
// LogsService: headers travel as metadata, the request decodes into the
// generated type, and a partial success is logged and counted as delivered.
func TestExportGRPCPartialSuccess(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	svc := &logsService{got: make(chan logsCall, 1)}
	collogspb.RegisterLogsServiceServer(srv, svc)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	var logs bytes.Buffer
	exp, err := New(context.Background(), Config{Protocol: ProtocolGRPC, Endpoint: lis.Addr().String(), Insecure: true, Compression: "gzip",
		Headers: map[string]string{"X-Api-Key": "secret"}, Timeout: 5 * time.Second, ServiceInstanceID: "gw-1"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close(context.Background())
	recs := []record.Record{mapped("ws01", 1, mapping.Options{}), mapped("ws02", 2, mapping.Options{})}
	if err := exp.Export(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	call := <-svc.got
	if len(call.apiKey) != 1 || call.apiKey[0] != "secret" {
		t.Errorf("x-api-key metadata = %v", call.apiKey)
	}
	checkRequest(t, call.req, recs, "gw-1", nil)
	if !strings.Contains(logs.String(), "too old (1 logs rejected)") {
		t.Errorf("log = %q, want the partial success", logs.String())
	}
}
