// Package record defines the exporter-neutral log record that every output
// (OTLP, JSON-lines file) is produced from, so that all outputs agree field
// for field.
package record

import "time"

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

// KV is one attribute. Value is one of: string, int64, float64, bool,
// []any, map[string]any (values of the same kinds, recursively).
type KV struct {
	Key   string
	Value any
}

// Record is one Windows event ready for export: an OpenTelemetry log record
// in all but type.
type Record struct {
	// Timestamp is the event's TimeCreated; Observed is when wefgate
	// received it.
	Timestamp time.Time
	Observed  time.Time

	SeverityNumber int
	SeverityText   string
	// EventName is the OTLP event name, for example "windows.security.4690".
	EventName string

	// HostName is the source Windows host (System/Computer); each distinct
	// value becomes its own OTLP resource.
	HostName string

	// Body is a map shaped like the OpenTelemetry Collector's Windows event
	// log receiver output.
	Body map[string]any
	// Attributes are indexed fields (log.record.uid, event.code, ...), in a
	// stable order.
	Attributes []KV
}

// Attribute returns the value of the first attribute called key.
func (r *Record) Attribute(key string) (any, bool) {
	for _, kv := range r.Attributes {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}
