package otlp

import "wefgate/record"

// The estimate below is an upper bound of a record's protobuf encoding in an
// ExportLogsServiceRequest: every length prefix is counted at 5 bytes (good
// to 32 GiB), every integer at its widest. It runs once per record, so it
// must be cheap; the SDK re-checks the real size before sending.
const (
	lenField   = 1 + 5 // tag + widest length prefix
	intField   = 1 + 10
	fixed64    = 1 + 8
	boolField  = 1 + 1
	recordBase = lenField + 2*fixed64 + intField + 2*lenField + lenField + lenField + 16 // envelope, times, severity, texts, body, event name, flags

	// requestOverhead is the request message's own framing.
	requestOverhead = 16
	// resourceBase covers one ResourceLogs with its ScopeLogs, scope name,
	// schema URLs and the framing of four resource attributes, besides the
	// attribute values themselves.
	resourceBase = 512
)

// estimateSize bounds the encoded size of r's LogRecord, excluding its
// Resource (see resourceSize).
func estimateSize(r *record.Record) int {
	n := recordBase + len(r.SeverityText) + len(r.EventName) + valueSize(r.Body)
	for _, kv := range r.Attributes {
		n += lenField + kvSize(kv.Key, kv.Value)
	}
	return n
}

// resourceSize bounds one host's ResourceLogs framing and attributes.
func resourceSize(host, serviceName, serviceInstance string) int {
	return resourceBase + len(host) + len(serviceName) + len(serviceInstance)
}

func kvSize(key string, v any) int {
	return lenField + len(key) + lenField + valueSize(v)
}

// valueSize bounds the encoded AnyValue for v.
func valueSize(v any) int {
	switch v := v.(type) {
	case nil:
		return 0
	case string:
		return lenField + len(v)
	case bool:
		return boolField
	case int64, int:
		return intField
	case float64:
		return fixed64
	case []string:
		n := lenField
		for _, s := range v {
			n += lenField + lenField + len(s)
		}
		return n
	case []any:
		n := lenField
		for _, item := range v {
			n += lenField + valueSize(item)
		}
		return n
	case map[string]any:
		n := lenField
		for k, item := range v {
			n += lenField + kvSize(k, item)
		}
		return n
	default:
		// Sent as its string form (toValue); unknown length, so leave it
		// to the SDK's exact check.
		return lenField + 64
	}
}
