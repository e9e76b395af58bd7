package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// userAgent identifies wefgate to the backend.
const userAgent = "wefgate-otlp"

// payload is an encoded request body that a transport may still be reading
// after its send returned (grpc-go's writer, net/http's body goroutine):
// refs counts those readers, and the exporter reuses buf only at zero.
type payload struct {
	buf  []byte
	refs atomic.Int32
}

// busy reports whether a transport still holds buf.
func (p *payload) busy() bool { return p.refs.Load() != 0 }

// Get and Put make payload the mem.BufferPool of its own gRPC buffer:
// grpc-go calls Put when it has written the bytes, or given up on them.
func (p *payload) Get(n int) *[]byte { b := make([]byte, n); return &b }
func (p *payload) Put(*[]byte)       { p.refs.Add(-1) }

// sender delivers one encoded ExportLogsServiceRequest. It returns the
// response's partial success, if any.
type sender interface {
	send(ctx context.Context, p *payload) (*collogspb.ExportLogsPartialSuccess, error)
	close() error
}

// exportMethod is the OTLP/gRPC logs method (collector/logs/v1).
const exportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

// grpcSender calls LogsService/Export with ClientConn.Invoke; rawCodec
// passes the encoded request through.
type grpcSender struct {
	conn     *grpc.ClientConn
	md       metadata.MD
	callOpts []grpc.CallOption
}

func newGRPCSender(r resolved) (*grpcSender, error) {
	creds := insecure.NewCredentials()
	if r.Secure {
		cfg := r.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(r.Target,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(userAgent),
		// grpc-go backs reconnection off up to 120 s, so after an outage
		// exports would keep failing long after the backend is back; a
		// short cap resumes delivery within seconds. The shipper retries
		// failed exports with its own backoff.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxReconnectDelay},
			MinConnectTimeout: 5 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("otlp: gRPC client for %s: %w", r.Target, err)
	}
	s := &grpcSender{conn: conn, callOpts: []grpc.CallOption{grpc.ForceCodecV2(rawCodec{})}}
	if len(r.Headers) > 0 {
		s.md = metadata.New(r.Headers)
	}
	if r.Gzip {
		s.callOpts = append(s.callOpts, grpc.UseCompressor(grpcgzip.Name))
	}
	return s, nil
}

func (s *grpcSender) send(ctx context.Context, p *payload) (*collogspb.ExportLogsPartialSuccess, error) {
	if s.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, s.md)
	}
	var resp collogspb.ExportLogsServiceResponse
	if err := s.conn.Invoke(ctx, exportMethod, p, &resp, s.callOpts...); err != nil {
		return nil, err
	}
	return resp.GetPartialSuccess(), nil
}

func (s *grpcSender) close() error { return s.conn.Close() }

// rawCodec sends a *payload's bytes as the request message and decodes
// responses with the registered protobuf codec.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" } // the content-subtype collectors expect

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	p, ok := v.(*payload)
	if !ok {
		return nil, fmt.Errorf("otlp: rawCodec cannot marshal %T", v)
	}
	if mem.IsBelowBufferPoolingThreshold(cap(p.buf)) {
		// grpc-go would not call Put for so small a buffer: hand it a copy.
		return mem.BufferSlice{mem.SliceBuffer(bytes.Clone(p.buf))}, nil
	}
	p.refs.Add(1)
	return mem.BufferSlice{mem.NewBuffer(&p.buf, p)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2("proto").Unmarshal(data, v)
}

// httpSender POSTs the request as application/x-protobuf (OTLP/HTTP).
type httpSender struct {
	url     string
	headers map[string]string
	client  *http.Client
	gzip    *gzip.Writer // nil: no compression
	zbody   *payload     // the compressed body, reused while no reader holds it
}

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 64 << 10

func newHTTPSender(r resolved) *httpSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.TLS != nil {
		tr.TLSClientConfig = r.TLS.Clone()
	}
	s := &httpSender{url: r.URL, headers: r.Headers, client: &http.Client{Transport: tr}, zbody: &payload{}}
	if r.Gzip {
		s.gzip, _ = gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
	}
	return s
}

func (s *httpSender) send(ctx context.Context, p *payload) (*collogspb.ExportLogsPartialSuccess, error) {
	body := p
	if s.gzip != nil {
		if s.zbody.busy() {
			s.zbody = &payload{}
		}
		w := bytes.NewBuffer(s.zbody.buf[:0])
		s.gzip.Reset(w)
		if _, err := s.gzip.Write(p.buf); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := s.gzip.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		s.zbody.buf = w.Bytes()
		body = s.zbody
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Body = newPayloadReader(body)
	req.GetBody = func() (io.ReadCloser, error) { return newPayloadReader(body), nil }
	req.ContentLength = int64(len(body.buf))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", userAgent)
	if s.gzip != nil {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("HTTP %d, reading the response: %w", resp.StatusCode, err)
	}
	// Read what is left so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	return httpResult(resp, msg)
}

// httpResult interprets an OTLP/HTTP response (OTLP specification,
// "OTLP/HTTP Response"): 2xx carries an ExportLogsServiceResponse that may
// report a partial success; any other status is an error, with the
// google.rpc.Status message when the body has one. 429, 502, 503 and 504
// are the retryable ones; the error says so, and the shipper retries every
// failed export anyway.
func httpResult(resp *http.Response, body []byte) (*collogspb.ExportLogsPartialSuccess, error) {
	protobuf := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-protobuf")
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if len(body) == 0 || !protobuf {
			return nil, nil
		}
		var r collogspb.ExportLogsServiceResponse
		if err := proto.Unmarshal(body, &r); err != nil {
			// Accepted all the same: the status says so.
			return nil, nil
		}
		return r.GetPartialSuccess(), nil
	}
	detail := ""
	if protobuf && len(body) > 0 {
		var st statuspb.Status
		if proto.Unmarshal(body, &st) == nil && st.GetMessage() != "" {
			detail = ": " + st.GetMessage()
		}
	} else if len(body) > 0 {
		detail = ": " + strings.TrimSpace(string(body[:min(len(body), 512)]))
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		retry := ""
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			retry = ", Retry-After " + ra
		}
		return nil, fmt.Errorf("HTTP %s (retryable%s)%s", resp.Status, retry, detail)
	}
	return nil, fmt.Errorf("HTTP %s%s", resp.Status, detail)
}

func (s *httpSender) close() error {
	s.client.CloseIdleConnections()
	return nil
}

// payloadReader is one reader of a payload's bytes; Close releases it.
type payloadReader struct {
	bytes.Reader
	p      *payload
	closed atomic.Bool
}

func newPayloadReader(p *payload) *payloadReader {
	p.refs.Add(1)
	r := &payloadReader{p: p}
	r.Reset(p.buf)
	return r
}

func (r *payloadReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.p.refs.Add(-1)
	}
	return nil
}

var errClosed = errors.New("otlp: exporter closed")
