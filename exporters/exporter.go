// Package exporters holds the outputs wefgate sends records to. Each output
// implements Exporter; sub-packages provide OTLP, a JSON-lines file and the
// durable spool in front of them.
package exporters

import (
	"context"

	"wefgate/exporters/record"
)

// Exporter sends records to one backend. Export returns nil only once the
// backend has confirmed every record (for a file: written and synced), so
// that the caller may forget them. It must be safe for one caller at a time;
// callers serialise.
type Exporter interface {
	Name() string
	Export(ctx context.Context, records []record.Record) error
	Close(ctx context.Context) error
}
