// Package otlp exports records as OpenTelemetry log records over OTLP (gRPC
// or HTTP/protobuf), synchronously: Export returns nil only after the
// backend acknowledged every request.
//
// It is built on the OTel Go SDK exporters (otlploggrpc/otlploghttp), called
// directly rather than through a BatchProcessor, which would drop records
// silently when full. Each Windows host is its own OTLP Resource
// (host.name, os.type=windows, service.name, service.instance.id). The SDK
// offers no public way to set a Resource per record, so each host gets its
// own LoggerProvider whose only processor captures the emitted records for
// the export in progress; providers are cached per host with an LRU bound.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"wefgate/record"
)

// Exporter sends records to one OTLP endpoint. It implements
// pipeline.Exporter.
type Exporter struct {
	cfg    resolved
	logger *slog.Logger

	mu     sync.Mutex // serialises Export: the SDK exporter must not run concurrently
	sdk    sdklog.Exporter
	hosts  *hostCache
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
	exp, err := newSDKExporter(ctx, r)
	if err != nil {
		return nil, err
	}
	return &Exporter{
		cfg:    r,
		logger: logger.With("exporter", "otlp", "protocol", r.Protocol),
		sdk:    exp,
		hosts:  newHostCache(r.MaxCachedHosts, r.ServiceName, r.ServiceInstanceID, r.ScopeAttributes),
	}, nil
}

// Name returns "otlp".
func (e *Exporter) Name() string { return "otlp" }

// Export sends records in as few requests as the size cap allows and
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
		return errors.New("otlp: exporter closed")
	}
	for _, chunk := range e.splitBySize(records) {
		if err := e.exportChunk(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// exportChunk sends one request. Should the SDK find it larger than the cap
// after all (the estimate is an upper bound, so only for records outside
// record.KV's value kinds), it is halved and retried.
func (e *Exporter) exportChunk(ctx context.Context, recs []record.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	batch := e.hosts.emit(ctx, recs)
	err := e.sdk.Export(ctx, batch)
	switch {
	case err == nil:
		return nil
	case isTooLarge(err) && len(recs) > 1:
		half := len(recs) / 2
		if err := e.exportChunk(ctx, recs[:half]); err != nil {
			return err
		}
		return e.exportChunk(ctx, recs[half:])
	case isPartialSuccess(err):
		e.logger.WarnContext(ctx, "backend rejected some records; not re-sending", "records", len(recs), "error", err)
		return nil
	}
	return fmt.Errorf("otlp: export %d records: %w", len(recs), err)
}

// The SDK's errors for these cases are of internal types; their messages
// are the only stable handle.
func isTooLarge(err error) bool { return strings.Contains(err.Error(), "request message too large") }

// isPartialSuccess reports whether err carries nothing but partial-success
// notices (the SDK joins them with any transport error, one per line).
func isPartialSuccess(err error) bool {
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "OTLP partial success") {
			return false
		}
	}
	return true
}

// Close shuts the SDK exporter down. Export fails afterwards.
func (e *Exporter) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.hosts.shutdown(ctx)
	if err := e.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("otlp: shutdown: %w", err)
	}
	return nil
}

// splitBySize cuts records into consecutive chunks whose estimated request
// size stays within limit. A record larger than limit on its own travels
// alone.
func (e *Exporter) splitBySize(records []record.Record) [][]record.Record {
	limit := e.cfg.MaxRequestBytes
	var chunks [][]record.Record
	hosts := map[string]bool{}
	start, size := 0, requestOverhead
	for i := range records {
		r := &records[i]
		n := estimateSize(r)
		if !hosts[r.HostName] {
			n += resourceSize(r.HostName, e.cfg.ServiceName, e.cfg.ServiceInstanceID)
		}
		if i > start && size+n > limit {
			chunks = append(chunks, records[start:i])
			start, size = i, requestOverhead
			clear(hosts)
			n = estimateSize(r) + resourceSize(r.HostName, e.cfg.ServiceName, e.cfg.ServiceInstanceID)
		}
		hosts[r.HostName] = true
		size += n
	}
	if start < len(records) {
		chunks = append(chunks, records[start:])
	}
	return chunks
}
