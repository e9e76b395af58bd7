// Package testotelcol runs a real OpenTelemetry Collector for end-to-end
// tests: an OTLP receiver (gRPC and HTTP on free loopback ports) feeding the
// file exporter, whose OTLP-JSON output the test reads back as simple
// structs.
//
// The collector binary is built once by scripts/build-otelcol.sh. Start
// finds it through $WEFGATE_OTELCOL or the script's cache path and skips the
// test when it is missing, unless WEFGATE_REQUIRE_OTELCOL=1 (set by the
// Makefile after building it), in which case the test fails.
package testotelcol

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"wefgate/internal/loopback"
)

// Version is the collector release scripts/build-otelcol.sh builds.
const Version = "0.162.0"

// Environment variables Start reads.
const (
	EnvBinary  = "WEFGATE_OTELCOL"
	EnvRequire = "WEFGATE_REQUIRE_OTELCOL"
	EnvCache   = "WEFGATE_CACHE"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// Option tunes Start.
type Option func(*options)

type options struct {
	binary         string
	grpcMaxRecvMiB int
	tls            *tlsFiles
}

type tlsFiles struct{ cert, key, clientCA string }

// WithBinary uses the collector at path instead of looking it up.
func WithBinary(path string) Option { return func(o *options) { o.binary = path } }

// WithGRPCMaxRecvMiB sets the gRPC receiver's message size limit (the
// receiver's default is grpc-go's 4 MiB).
func WithGRPCMaxRecvMiB(n int) Option { return func(o *options) { o.grpcMaxRecvMiB = n } }

// WithTLS serves both receivers over TLS with the PEM files certFile and
// keyFile; a non-empty clientCAFile also requires client certificates
// signed by it.
func WithTLS(certFile, keyFile, clientCAFile string) Option {
	return func(o *options) { o.tls = &tlsFiles{certFile, keyFile, clientCAFile} }
}

// Collector is one running collector process.
type Collector struct {
	binary     string
	configPath string
	outputPath string
	grpcAddr   string
	httpAddr   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *lockedBuffer
}

// Binary returns the collector binary's path, or "" when it is not there.
func Binary() string {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	cache := os.Getenv(EnvCache)
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "wefgate")
	}
	p := filepath.Join(cache, "otelcol-"+Version, "otelcol")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Start writes a config, starts the collector and waits until both
// receivers accept connections. The collector is stopped when the test ends.
func Start(t testing.TB, opts ...Option) *Collector {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.binary == "" {
		o.binary = Binary()
	}
	if o.binary == "" {
		msg := "OpenTelemetry Collector not built; run scripts/build-otelcol.sh or set " + EnvBinary
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	c := &Collector{
		binary:     o.binary,
		configPath: filepath.Join(dir, "config.yaml"),
		outputPath: filepath.Join(dir, "received.jsonl"),
		grpcAddr:   freeLoopbackAddr(t),
		httpAddr:   freeLoopbackAddr(t),
	}
	if err := os.WriteFile(c.configPath, []byte(c.config(o)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("collector stderr:\n%s", c.stderrText())
		}
		c.Stop()
	})
	c.start(t)
	return c
}

func (c *Collector) config(o options) string {
	grpcExtra := ""
	if o.grpcMaxRecvMiB > 0 {
		grpcExtra = "\n        max_recv_msg_size_mib: " + strconv.Itoa(o.grpcMaxRecvMiB)
	}
	tls := ""
	if o.tls != nil {
		tls = "\n        tls:\n          cert_file: " + strconv.Quote(o.tls.cert) + "\n          key_file: " + strconv.Quote(o.tls.key)
		if o.tls.clientCA != "" {
			tls += "\n          client_ca_file: " + strconv.Quote(o.tls.clientCA)
		}
	}
	// append keeps earlier records across Restart; a short flush interval
	// keeps WaitForRecords fast.
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s%s%s
      http:
        endpoint: %s%s
exporters:
  file:
    path: %s
    append: true
    flush_interval: 50ms
service:
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
`, c.grpcAddr, grpcExtra, tls, c.httpAddr, tls, strconv.Quote(c.outputPath))
}

// GRPCEndpoint returns the gRPC receiver's host:port.
func (c *Collector) GRPCEndpoint() string { return c.grpcAddr }

// HTTPEndpoint returns the HTTP receiver's host:port (path /v1/logs).
func (c *Collector) HTTPEndpoint() string { return c.httpAddr }

func (c *Collector) start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		t.Fatal("testotelcol: collector already running")
	}
	if c.stderr == nil {
		c.stderr = &lockedBuffer{}
	}
	cmd := exec.Command(c.binary, "--config", "file:"+c.configPath)
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("testotelcol: start %s: %v", c.binary, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	c.cmd, c.done = cmd, done

	deadline := time.Now().Add(readyTimeout)
	for _, addr := range []string{c.grpcAddr, c.httpAddr} {
		for {
			conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-done:
				t.Fatalf("testotelcol: collector exited during start-up:\n%s", c.stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("testotelcol: %s not listening after %v:\n%s", addr, readyTimeout, c.stderr.String())
			}
		}
	}
}

// Stop terminates the collector (SIGTERM, so the file exporter flushes;
// SIGKILL after a grace period). Stopping a stopped collector does nothing.
func (c *Collector) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd, c.done = nil, nil
}

// Restart stops the collector and starts it again on the same ports and
// output file, for outage tests.
func (c *Collector) Restart(t testing.TB) {
	t.Helper()
	c.Stop()
	c.start(t)
}

func (c *Collector) stderrText() string {
	if c.stderr == nil {
		return ""
	}
	return c.stderr.String()
}

// ReceivedRecord is one log record as the collector wrote it.
type ReceivedRecord struct {
	// Resource and Attributes map keys to decoded values: string, int64,
	// float64, bool, []byte, []any or map[string]any.
	Resource        map[string]any
	ScopeName       string
	ScopeVersion    string
	ScopeAttributes map[string]any

	Timestamp      time.Time
	Observed       time.Time
	SeverityNumber int
	SeverityText   string
	EventName      string
	Body           any
	Attributes     map[string]any
}

// Records returns every record the collector has written so far, in the
// order written. A trailing line still being written is ignored.
func (c *Collector) Records(t testing.TB) []ReceivedRecord {
	t.Helper()
	recs, err := readRecords(c.outputPath)
	if err != nil {
		t.Fatalf("testotelcol: %v", err)
	}
	return recs
}

// WaitForRecords polls until at least n records arrived, failing the test
// after timeout.
func (c *Collector) WaitForRecords(t testing.TB, n int, timeout time.Duration) []ReceivedRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs := c.Records(t)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("testotelcol: %d records after %v, want %d", len(recs), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readRecords(path string) ([]ReceivedRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read collector output: %w", err)
	}
	var out []ReceivedRecord
	r := bufio.NewReader(bytes.NewReader(data))
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// Unterminated: the exporter is mid-write.
			return out, nil
		}
		recs, perr := parseRequest(line)
		if perr != nil {
			return nil, fmt.Errorf("collector output line %d: %w", lineNo, perr)
		}
		out = append(out, recs...)
	}
}

// The OTLP/JSON shapes the file exporter writes (one
// ExportLogsServiceRequest per line).
type (
	jsonRequest struct {
		ResourceLogs []struct {
			Resource struct {
				Attributes []jsonKeyValue `json:"attributes"`
			} `json:"resource"`
			ScopeLogs []struct {
				Scope struct {
					Name       string         `json:"name"`
					Version    string         `json:"version"`
					Attributes []jsonKeyValue `json:"attributes"`
				} `json:"scope"`
				LogRecords []jsonLogRecord `json:"logRecords"`
			} `json:"scopeLogs"`
		} `json:"resourceLogs"`
	}
	jsonLogRecord struct {
		TimeUnixNano         string         `json:"timeUnixNano"`
		ObservedTimeUnixNano string         `json:"observedTimeUnixNano"`
		SeverityNumber       int            `json:"severityNumber"`
		SeverityText         string         `json:"severityText"`
		EventName            string         `json:"eventName"`
		Body                 *jsonAnyValue  `json:"body"`
		Attributes           []jsonKeyValue `json:"attributes"`
	}
	jsonKeyValue struct {
		Key   string       `json:"key"`
		Value jsonAnyValue `json:"value"`
	}
	jsonAnyValue struct {
		StringValue *string  `json:"stringValue"`
		BoolValue   *bool    `json:"boolValue"`
		IntValue    *string  `json:"intValue"`
		DoubleValue *float64 `json:"doubleValue"`
		BytesValue  *string  `json:"bytesValue"`
		ArrayValue  *struct {
			Values []jsonAnyValue `json:"values"`
		} `json:"arrayValue"`
		KvlistValue *struct {
			Values []jsonKeyValue `json:"values"`
		} `json:"kvlistValue"`
	}
)

func parseRequest(line []byte) ([]ReceivedRecord, error) {
	var req jsonRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return nil, fmt.Errorf("decode OTLP JSON: %w", err)
	}
	var out []ReceivedRecord
	for _, rl := range req.ResourceLogs {
		res, err := decodeKVs(rl.Resource.Attributes)
		if err != nil {
			return nil, err
		}
		for _, sl := range rl.ScopeLogs {
			var scopeAttrs map[string]any
			if len(sl.Scope.Attributes) > 0 {
				if scopeAttrs, err = decodeKVs(sl.Scope.Attributes); err != nil {
					return nil, err
				}
			}
			for _, lr := range sl.LogRecords {
				rec := ReceivedRecord{
					Resource:        res,
					ScopeName:       sl.Scope.Name,
					ScopeVersion:    sl.Scope.Version,
					ScopeAttributes: scopeAttrs,
					SeverityNumber:  lr.SeverityNumber,
					SeverityText:    lr.SeverityText,
					EventName:       lr.EventName,
				}
				if rec.Timestamp, err = unixNano(lr.TimeUnixNano); err != nil {
					return nil, err
				}
				if rec.Observed, err = unixNano(lr.ObservedTimeUnixNano); err != nil {
					return nil, err
				}
				if lr.Body != nil {
					if rec.Body, err = decodeValue(*lr.Body); err != nil {
						return nil, err
					}
				}
				if rec.Attributes, err = decodeKVs(lr.Attributes); err != nil {
					return nil, err
				}
				out = append(out, rec)
			}
		}
	}
	return out, nil
}

func unixNano(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return time.Unix(0, n).UTC(), nil
}

func decodeKVs(kvs []jsonKeyValue) (map[string]any, error) {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v, err := decodeValue(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

func decodeValue(v jsonAnyValue) (any, error) {
	switch {
	case v.StringValue != nil:
		return *v.StringValue, nil
	case v.BoolValue != nil:
		return *v.BoolValue, nil
	case v.IntValue != nil:
		n, err := strconv.ParseInt(*v.IntValue, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("intValue %q: %w", *v.IntValue, err)
		}
		return n, nil
	case v.DoubleValue != nil:
		return *v.DoubleValue, nil
	case v.BytesValue != nil:
		b, err := base64.StdEncoding.DecodeString(*v.BytesValue)
		if err != nil {
			return nil, fmt.Errorf("bytesValue: %w", err)
		}
		return b, nil
	case v.ArrayValue != nil:
		out := make([]any, len(v.ArrayValue.Values))
		for i, item := range v.ArrayValue.Values {
			d, err := decodeValue(item)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	case v.KvlistValue != nil:
		return decodeKVs(v.KvlistValue.Values)
	}
	return nil, nil
}

// freeLoopbackAddr returns a loopback address with a port free right now.
// The port could be taken before the collector binds it; on a test machine
// that is rare enough, and start-up then fails loudly.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatalf("testotelcol: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// lockedBuffer collects the collector's output from its copying goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
