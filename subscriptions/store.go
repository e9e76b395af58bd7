package subscriptions

import (
	"context"
	"time"
)

// HostState is what wefgate knows about one host on one subscription.
type HostState struct {
	Identity       string    `json:"identity"`
	SubscriptionID string    `json:"subscription_id"`
	Subscription   string    `json:"subscription"`
	MachineID      string    `json:"machine_id,omitempty"`
	Address        string    `json:"address"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
	// LastHeartbeat is the last Heartbeat message; LastEvent the last Events
	// batch (zero when none yet).
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	LastEvent     time.Time `json:"last_event,omitzero"`
	Events        uint64    `json:"events"`
	// Node is the wefgate node that last heard from the host (node.name).
	Node string `json:"node,omitempty"`
}

// Contact is one message from a host, for its HostState.
type Contact struct {
	Identity       string
	SubscriptionID string
	Subscription   string
	MachineID      string
	Address        string
	At             time.Time
	// Events is the number of events in the batch; 0 for a heartbeat.
	Events    int
	Heartbeat bool
	// Node is the wefgate node that took the message; Grouped fills it in.
	Node string
}

// Commit is one CommitBatch call: the bookmark of a batch ("" for a
// heartbeat) and the contact it records.
type Commit struct {
	Bookmark string
	Contact  Contact
}

// Store keeps bookmarks and host states. Implementations must be safe for
// concurrent use; a bookmark returned by Bookmark must be durable (it is
// acknowledged to the forwarder right after).
type Store interface {
	// Bookmark returns the stored BookmarkList XML, or "" when none.
	Bookmark(ctx context.Context, identity, subscriptionID string) (string, error)
	// CommitBatch durably stores the bookmark (when not "") and records the
	// contact in one transaction.
	CommitBatch(ctx context.Context, bookmark string, c Contact) error
	// Hosts lists the known host states.
	Hosts(ctx context.Context) ([]HostState, error)
	// DeleteBookmark forgets a host's bookmark (the host then starts afresh).
	DeleteBookmark(ctx context.Context, identity, subscriptionID string) error
	Close() error
}

// Backend is a Store that can also commit many hosts' batches at once, in
// one transaction. Grouped puts concurrent CommitBatch calls through it.
type Backend interface {
	Store
	// CommitBatches stores every commit in one transaction: all of them
	// are durable when it returns nil, none of them when it fails. A
	// bookmark older than the stored one (see BookmarkIsStale) is not
	// written; its contact still is.
	CommitBatches(ctx context.Context, commits []Commit) error
}
