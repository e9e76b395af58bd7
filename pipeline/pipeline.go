// Package pipeline defines what travels from the WEF endpoint to the
// exporters: a Delivery (one accepted batch of events with the facts about
// who sent it) and the Sink that must make it durable before the forwarder
// is acknowledged.
package pipeline

import (
	"context"
	"errors"
	"time"

	"wefgate/wef/event"
)

// ErrBackpressure is returned by a Sink that cannot take more data now (for
// example a full spool). The endpoint answers with a retryable status so the
// forwarder keeps the events in its own log and sends them again later.
var ErrBackpressure = errors.New("pipeline: sink is full, retry later")

// Source says who delivered a batch and under which subscription.
type Source struct {
	// Identity is the authenticated host identity: the lower-cased client
	// certificate CN, or the Kerberos client principal.
	Identity string `json:"identity"`
	// MachineID is the client-asserted m:MachineID header (unauthenticated).
	MachineID string `json:"machine_id,omitempty"`
	// Address is the forwarder's IP address.
	Address string `json:"address"`
	// Subscription is the subscription name; SubscriptionID its stable UUID;
	// SubscriptionVersion the version the forwarder echoed.
	Subscription        string `json:"subscription"`
	SubscriptionID      string `json:"subscription_id"`
	SubscriptionVersion string `json:"subscription_version,omitempty"`
	// Received is when wefgate received the batch.
	Received time.Time `json:"received"`
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
