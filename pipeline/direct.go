package pipeline

import (
	"context"
	"fmt"
	"sync"

	"wefgate/record"
	"wefgate/wef/event"
)

// MapFunc turns one event into its exported record; extra carries
// enrichment attributes.
type MapFunc func(src Source, ev *event.Event, extra []record.KV) record.Record

// DirectSink exports a delivery synchronously to every exporter before
// Accept returns, so a batch is acknowledged only once all backends have
// confirmed it. It is the no-spool mode: simple, but a backend outage
// refuses batches at once (forwarders keep and resend them).
type DirectSink struct {
	Map       MapFunc
	Exporters []Exporter

	// mu serialises exports: exporters serve one caller at a time, and
	// every connection's handler calls Accept.
	mu sync.Mutex
}

// Accept implements Sink.
func (s *DirectSink) Accept(ctx context.Context, d *Delivery) error {
	recs := make([]record.Record, len(d.Events))
	for i, ev := range d.Events {
		recs[i] = s.Map(d.Source, ev, nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.Exporters {
		if err := e.Export(ctx, recs); err != nil {
			return fmt.Errorf("export to %s: %w", e.Name(), err)
		}
	}
	return nil
}
