// Package pipeline defines what travels from the WEF endpoint to the
// exporters: a Delivery (one accepted batch of events with the facts about
// who sent it) and the Sink that must make it durable before the forwarder
// is acknowledged.
package pipeline

import (
	"context"
	"errors"

	"wefgate/record"
	"wefgate/wef/event"
)

// ErrBackpressure is returned by a Sink that cannot take more data now (for
// example a full spool). The endpoint answers with a retryable status so the
// forwarder keeps the events in its own log and sends them again later.
var ErrBackpressure = errors.New("pipeline: sink is full, retry later")

// Source is record.Source: who delivered a batch and under which
// subscription.
type Source = record.Source

// Exporter sends records to one backend. Export returns nil only once the
// backend has confirmed every record (for a file: written and synced), so
// that the caller may forget them. Callers serialise: one Export at a time.
type Exporter interface {
	Name() string
	Export(ctx context.Context, records []record.Record) error
	Close(ctx context.Context) error
}

// Delivery is the part of one Events batch that goes on to the exporters.
type Delivery struct {
	Source Source
	Events []*event.Event
}

// Sink takes deliveries. Accept returns nil only once the delivery is
// durable (on disk or confirmed by the backend), so that the endpoint may
// store the bookmark and acknowledge the batch. It returns ErrBackpressure
// (possibly wrapped) when it is full.
type Sink interface {
	Accept(ctx context.Context, d *Delivery) error
}
