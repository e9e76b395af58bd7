package server

import (
	"context"
	"errors"
	"time"

	"wefgate/wef/event"
	"wefgate/wef/soap"
)

// The interfaces below are what the endpoint consumes; the assembly
// (internal/app) adapts the subscription catalogue, the state store and the
// pipeline to them, so that the protocol endpoint depends on none of them.

// Subscription is one configured subscription as the endpoint needs it.
type Subscription interface {
	// Key returns the stable identifier (upper-case UUID) and the name.
	Key() (id, name string)
	// IsEnabled reports whether hosts may use it; a disabled subscription
	// is answered 404 rather than left silent.
	IsEnabled() bool
	// Admits reports whether the authenticated identity may use it.
	Admits(identity string) bool
	// Offer renders it for an EnumerateResponse: baseURL is the listener's
	// scheme://host:port, auth the listener's delivery policy, bookmark the
	// host's stored BookmarkList XML ("" when none).
	Offer(baseURL string, auth soap.Auth, bookmark string) soap.Subscription
	// BatchLimits returns what the subscription announced to hosts:
	// MaxEnvelopeSize in UTF-16 code units and MaxItems in w:Event
	// elements (0: none announced). A batch beyond them is refused.
	BatchLimits() (maxEnvelopeSize, maxItems int)
}

// State keeps each host's bookmark and its last contact. Implementations
// must be safe for concurrent use.
type State interface {
	// Bookmark returns the stored BookmarkList XML of identity on a
	// subscription, or "" when none.
	Bookmark(ctx context.Context, identity, subscriptionID string) (string, error)
	// CommitBatch durably stores the bookmark (when not "") and records
	// the contact, in one transaction: the forwarder is acknowledged right
	// after it returns nil.
	CommitBatch(ctx context.Context, bookmark string, c Contact) error
}

// Contact is one message from a host.
type Contact struct {
	Identity       string
	SubscriptionID string
	Subscription   string
	// MachineID is the client-asserted m:MachineID (unauthenticated).
	MachineID string
	// Address is the forwarder's IP address.
	Address string
	At      time.Time
	// Events is the number of events in the batch; 0 for a heartbeat.
	Events    int
	Heartbeat bool
}

// Batch is the part of one Events message that passed selection, with the
// facts about who sent it.
type Batch struct {
	// Identity is the authenticated host identity; MachineID the
	// client-asserted one; Address the forwarder's IP address.
	Identity, MachineID, Address string
	// Subscription is the name, SubscriptionID the stable UUID,
	// SubscriptionVersion the version the forwarder echoed.
	Subscription, SubscriptionID, SubscriptionVersion string
	// Received is when the endpoint received the message.
	Received time.Time
	Events   []*event.Event
}

// Sink takes batches. Accept returns nil only once the batch is durable, so
// that the bookmark may be stored and the message acknowledged; it returns
// an error wrapping ErrBackpressure when it cannot take more now.
type Sink interface {
	Accept(ctx context.Context, b *Batch) error
}

// ErrBackpressure, wrapped by a Sink's error, makes the endpoint answer 503
// with Retry-After: the forwarder keeps the events in its own log and sends
// them again later.
var ErrBackpressure = errors.New("server: sink is full, retry later")
