package app

import (
	"context"
	"errors"

	"wefgate/pipeline"
	"wefgate/subscriptions"
	"wefgate/wef/server"
)

// The endpoint declares what it consumes (wef/server/consumers.go); these
// adapters connect it to the state store and the pipeline, so that the
// protocol packages depend on neither.

// stateAdapter is a subscriptions.Store seen as the endpoint's State.
type stateAdapter struct{ store subscriptions.Store }

func (a stateAdapter) Bookmark(ctx context.Context, identity, subscriptionID string) (string, error) {
	return a.store.Bookmark(ctx, identity, subscriptionID)
}

func (a stateAdapter) CommitBatch(ctx context.Context, bookmark string, c server.Contact) error {
	return a.store.CommitBatch(ctx, bookmark, subscriptions.Contact{
		Identity: c.Identity, SubscriptionID: c.SubscriptionID, Subscription: c.Subscription,
		MachineID: c.MachineID, Address: c.Address, At: c.At, Events: c.Events, Heartbeat: c.Heartbeat,
	})
}

// sinkAdapter is a pipeline.Sink seen as the endpoint's Sink.
type sinkAdapter struct{ sink pipeline.Sink }

func (a sinkAdapter) Accept(ctx context.Context, b *server.Batch) error {
	err := a.sink.Accept(ctx, &pipeline.Delivery{
		Source: pipeline.Source{
			Identity: b.Identity, MachineID: b.MachineID, Address: b.Address,
			Subscription: b.Subscription, SubscriptionID: b.SubscriptionID,
			SubscriptionVersion: b.SubscriptionVersion, Received: b.Received,
		},
		Events: b.Events,
	})
	if errors.Is(err, pipeline.ErrBackpressure) {
		return backpressure{err}
	}
	return err
}

// backpressure is a pipeline's backpressure error that also matches
// server.ErrBackpressure, keeping the pipeline's own message.
type backpressure struct{ err error }

func (b backpressure) Error() string        { return b.err.Error() }
func (b backpressure) Unwrap() error        { return b.err }
func (b backpressure) Is(target error) bool { return target == server.ErrBackpressure }

// serverSubscriptions lists the configured definitions for the endpoint.
func serverSubscriptions(defs []*subscriptions.Definition) []server.Subscription {
	out := make([]server.Subscription, len(defs))
	for i, d := range defs {
		out[i] = d
	}
	return out
}
