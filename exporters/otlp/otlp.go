// Package otlp exports records as OpenTelemetry log records over OTLP (gRPC
// or HTTP/protobuf), synchronously: Export returns nil only after the
// backend acknowledged every request.
//
// The request bytes are written straight from the records with protowire
// (encode.go), into buffers reused from one export to the next: one
// ExportLogsServiceRequest per chunk of at most MaxRequestBytes, with one
// Resource per Windows host (host.name, os.type=windows, service.name,
// service.instance.id). The OTel Go SDK's exporters built the same message
// through per-record SDK, attribute and generated-proto objects, which cost
// about 13 µs per record; this costs 1–2 µs. The transports are
// libraries: grpc-go's ClientConn.Invoke on LogsService/Export with a codec
// that passes the bytes through, and net/http for OTLP/HTTP.
package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"wefgate/record"
)

// Exporter sends records to one OTLP endpoint. It implements
// pipeline.Exporter.
type Exporter struct {
	cfg    resolved
	logger *slog.Logger

	mu     sync.Mutex // serialises Export: the encoder and buffers are reused
	enc    *encoder
	out    *payload
	sender sender
	closed bool
}

// New creates the exporter. It does not contact the backend: the first
// Export does, so a backend that is down at start-up is not fatal.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Exporter, error) {
	if logger == nil {
		logger = slog.Default()
	}
	r, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	var s sender
	switch r.Protocol {
	case ProtocolGRPC:
		if s, err = newGRPCSender(r); err != nil {
			return nil, err
		}
	default:
		s = newHTTPSender(r)
	}
	return &Exporter{
		cfg:    r,
		logger: logger.With("exporter", "otlp", "protocol", r.Protocol),
		enc:    newEncoder(r.ServiceName, r.ServiceInstanceID, r.ScopeAttributes),
		out:    &payload{},
		sender: s,
	}, nil
}

// Endpoint returns the protocol, where requests go, as resolved from the
// configuration and the environment (the URL for HTTP, host:port for
// gRPC), and whether they go over TLS.
func (e *Exporter) Endpoint() (protocol, endpoint string, tls bool) {
	if e.cfg.Protocol == ProtocolGRPC {
		return e.cfg.Protocol, e.cfg.Target, e.cfg.Secure
	}
	return e.cfg.Protocol, e.cfg.URL, e.cfg.Secure
}

// Name returns "otlp".
func (e *Exporter) Name() string { return "otlp" }

// Export sends records in as few requests as MaxRequestBytes allows and
// returns nil once every request was acknowledged. On error some leading
// requests may have been delivered; the caller re-sends the whole batch and
// the backend can drop the duplicates by log.record.uid.
//
// A partial success (the backend accepted the request but rejected some
// records) is logged and counted as delivered: re-sending would duplicate
// the accepted records and most likely be rejected again.
func (e *Exporter) Export(ctx context.Context, records []record.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errClosed
	}
	err := e.forEachRequest(records, func(n int) error { return e.send(ctx, n) })
	if cap(e.out.buf) > maxKeptScratch {
		e.out = &payload{} // after a record far over the cap
	}
	return err
}

// forEachRequest encodes records and cuts them into consecutive chunks
// whose request stays within MaxRequestBytes (a record over the cap on its
// own travels alone); for each it encodes the request into e.out.buf and
// calls fn with the chunk's record count.
func (e *Exporter) forEachRequest(records []record.Record, fn func(records int) error) error {
	enc := e.enc
	enc.encodeRecords(records)
	defer enc.release()
	enc.resetChunk()
	start := 0
	flush := func(end int) error {
		if e.out.busy() {
			e.out = &payload{} // a transport still reads the last one
		}
		e.out.buf = enc.appendRequest(e.out.buf[:0])
		err := fn(end - start)
		enc.resetChunk()
		start = end
		return err
	}
	for i := range records {
		host := records[i].HostName
		if i > start && enc.costIfAdded(i, host) > e.cfg.MaxRequestBytes {
			if err := flush(i); err != nil {
				return err
			}
		}
		enc.add(i, host)
	}
	if start < len(records) {
		return flush(len(records))
	}
	return nil
}

// send delivers the request in e.out.
func (e *Exporter) send(ctx context.Context, records int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	partial, err := e.sender.send(ctx, e.out)
	if err != nil {
		return fmt.Errorf("otlp: export %d records (%d bytes): %w", records, len(e.out.buf), err)
	}
	if partial != nil && (partial.GetRejectedLogRecords() != 0 || partial.GetErrorMessage() != "") {
		e.logger.WarnContext(ctx, "backend rejected some records; not re-sending", "records", records,
			"error", fmt.Sprintf("OTLP partial success: %s (%d logs rejected)", partial.GetErrorMessage(), partial.GetRejectedLogRecords()))
	}
	return nil
}

// Close closes the connection. Export fails afterwards.
func (e *Exporter) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if err := e.sender.close(); err != nil {
		return fmt.Errorf("otlp: close: %w", err)
	}
	return nil
}
