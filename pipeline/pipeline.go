// Package pipeline defines what travels from the WEF endpoint to the
// exporters: a Delivery (one accepted batch of events with the facts about
// who sent it) and the Sink that must make it durable before the forwarder
// is acknowledged.
//
// With the spool, a Shipper drains it to the exporters, one lane per
// exporter. Each lane has its own spool position, stage, retry and commits,
// so an exporter that is down holds back only itself. The lanes share one
// feed (feed.go): the lane furthest ahead reads each spool entry and
// decodes it once, the others take the same decoded delivery from a
// bounded window, and with no stateful stage each event is mapped to its
// record once for every exporter. A lane that falls further behind than
// the window reads and decodes for itself until it is back in it. A stage
// (the handle correlator) is still one per lane: its output depends on
// when its lane takes the events, and a lane must be able to replay the
// spool on its own.
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
// Export must not change the records nor keep them or the slice after it
// returns: the shipper reuses the slice, and other exporters read the same
// records at the same time.
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
