package otlp

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/protobuf/encoding/protowire"

	"wefgate/record"
)

// scopeName is the instrumentation scope of every record wefgate exports.
const scopeName = "wefgate"

// Field numbers of the OTLP messages written here, from
// opentelemetry-proto v1: collector/logs/v1/logs_service.proto,
// logs/v1/logs.proto, common/v1/common.proto, resource/v1/resource.proto.
const (
	fRequestResourceLogs protowire.Number = 1 // ExportLogsServiceRequest.resource_logs

	fResourceLogsResource  protowire.Number = 1 // ResourceLogs.resource
	fResourceLogsScopeLogs protowire.Number = 2 // ResourceLogs.scope_logs
	fResourceLogsSchemaURL protowire.Number = 3 // ResourceLogs.schema_url
	fResourceAttributes    protowire.Number = 1 // Resource.attributes

	fScopeLogsScope      protowire.Number = 1 // ScopeLogs.scope
	fScopeLogsLogRecords protowire.Number = 2 // ScopeLogs.log_records
	fScopeName           protowire.Number = 1 // InstrumentationScope.name
	fScopeAttributes     protowire.Number = 3 // InstrumentationScope.attributes

	fLogTime           protowire.Number = 1  // LogRecord.time_unix_nano (fixed64)
	fLogSeverityNumber protowire.Number = 2  // LogRecord.severity_number
	fLogSeverityText   protowire.Number = 3  // LogRecord.severity_text
	fLogBody           protowire.Number = 5  // LogRecord.body
	fLogAttributes     protowire.Number = 6  // LogRecord.attributes
	fLogObservedTime   protowire.Number = 11 // LogRecord.observed_time_unix_nano (fixed64)
	fLogEventName      protowire.Number = 12 // LogRecord.event_name

	fKVKey   protowire.Number = 1 // KeyValue.key
	fKVValue protowire.Number = 2 // KeyValue.value

	fAnyString protowire.Number = 1 // AnyValue.string_value
	fAnyBool   protowire.Number = 2 // AnyValue.bool_value
	fAnyInt    protowire.Number = 3 // AnyValue.int_value
	fAnyDouble protowire.Number = 4 // AnyValue.double_value
	fAnyArray  protowire.Number = 5 // AnyValue.array_value
	fAnyKVList protowire.Number = 6 // AnyValue.kvlist_value
	fAnyBytes  protowire.Number = 7 // AnyValue.bytes_value

	fArrayValues  protowire.Number = 1 // ArrayValue.values
	fKVListValues protowire.Number = 1 // KeyValueList.values
)

// severityMax is SEVERITY_NUMBER_FATAL4; numbers outside 1..24 are sent as
// SEVERITY_NUMBER_UNSPECIFIED (omitted), as the OTel SDK did.
const severityMax = 24

// span locates one encoded LogRecord (its message content, without tag and
// length) in encoder.records.
type span struct{ off, n int }

// hostGroup is one ResourceLogs of the request being assembled: the records
// of one Windows host, chained through encoder.next.
type hostGroup struct {
	host        string
	first, last int // record indexes
	fixed       int // encoded size of the resource, scope and schema URL fields
	recordBytes int // encoded size of the log_records fields
}

// encoder writes ExportLogsServiceRequest messages (OTLP v1) straight from
// records with protowire, into buffers it reuses: no per-record heap
// objects. The request holds one ResourceLogs per Windows host (host.name,
// os.type=windows, service.instance.id, service.name, in key order, and the
// semantic-conventions schema URL), each with one ScopeLogs (scope
// "wefgate" and the configured scope attributes) of that host's records in
// batch order. Hosts appear in the order of their first record.
//
// An encoder is not safe for concurrent use.
type encoder struct {
	// resourceTail is the encoded Resource.attributes after host.name;
	// scope the encoded ScopeLogs.scope field.
	resourceTail []byte
	scope        []byte
	schemaURL    string

	records []byte // LogRecord contents of the batch, back to back
	spans   []span // per input record
	next    []int  // per input record: the next record of its host in the chunk, -1 at the end

	groups  []hostGroup
	byHost  map[string]int // host → index in groups
	chunkSz int            // encoded size of the chunk's request so far
}

func newEncoder(serviceName, serviceInstance string, scopeAttrs map[string]string) *encoder {
	var tail []byte
	tail = appendStringKV(tail, fResourceAttributes, string(semconv.OSTypeKey), semconv.OSTypeWindows.Value.AsString())
	if serviceInstance != "" {
		tail = appendStringKV(tail, fResourceAttributes, string(semconv.ServiceInstanceIDKey), serviceInstance)
	}
	tail = appendStringKV(tail, fResourceAttributes, string(semconv.ServiceNameKey), serviceName)

	var scope []byte
	scope = appendStringField(scope, fScopeName, scopeName)
	// In key order, as the SDK's attribute set had them.
	for _, k := range slices.Sorted(maps.Keys(scopeAttrs)) {
		scope = appendStringKV(scope, fScopeAttributes, k, scopeAttrs[k])
	}
	scopeField := appendStr(nil, fScopeLogsScope, scope)

	return &encoder{
		resourceTail: tail,
		scope:        scopeField,
		schemaURL:    semconv.SchemaURL,
		byHost:       make(map[string]int),
	}
}

// groupSize is the encoded size of g's ResourceLogs field, tag included.
func (e *encoder) groupSize(g *hostGroup) int {
	scopeLogs := g.recordBytes + len(e.scope)
	rl := g.fixed + fieldSize(scopeLogs)
	return fieldSize(rl)
}

// fieldSize is the size of a length-delimited field (one-byte tag) whose
// content is n bytes.
func fieldSize(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// hostKVSize is the encoded size of the host.name KeyValue field.
func hostKVSize(host string) int {
	return fieldSize(fieldSize(len(semconv.HostNameKey)) + fieldSize(fieldSize(len(host))))
}

// encodeRecords encodes every record's LogRecord into e.records.
func (e *encoder) encodeRecords(recs []record.Record) {
	e.records = e.records[:0]
	e.spans = slices.Grow(e.spans[:0], len(recs))[:len(recs)]
	e.next = slices.Grow(e.next[:0], len(recs))[:len(recs)]
	for i := range recs {
		off := len(e.records)
		e.records = appendLogRecord(e.records, &recs[i])
		e.spans[i] = span{off, len(e.records) - off}
	}
}

// maxKeptScratch bounds the record buffer kept between exports: one
// unusually large batch should not pin its size in memory for good.
const maxKeptScratch = 64 << 20

// release ends an export: nothing of the caller's records is kept.
func (e *encoder) release() {
	e.resetChunk()
	if cap(e.records) > maxKeptScratch {
		e.records = nil
	}
}

// resetChunk starts an empty request. The host names are dropped, not
// just truncated: they belong to the caller's records.
func (e *encoder) resetChunk() {
	clear(e.groups)
	e.groups = e.groups[:0]
	clear(e.byHost)
	e.chunkSz = 0
}

// costIfAdded returns the request size with record i (of host) added.
func (e *encoder) costIfAdded(i int, host string) int {
	rec := fieldSize(e.spans[i].n)
	if gi, ok := e.group(host); ok {
		g := e.groups[gi]
		before := e.groupSize(&g)
		g.recordBytes += rec
		return e.chunkSz - before + e.groupSize(&g)
	}
	g := hostGroup{fixed: e.fixedSize(host), recordBytes: rec}
	return e.chunkSz + e.groupSize(&g)
}

// add appends record i (of host) to the request.
func (e *encoder) add(i int, host string) {
	rec := fieldSize(e.spans[i].n)
	e.next[i] = -1
	gi, ok := e.group(host)
	if !ok {
		e.groups = append(e.groups, hostGroup{host: host, first: i, last: i, fixed: e.fixedSize(host), recordBytes: rec})
		e.byHost[host] = len(e.groups) - 1
		e.chunkSz += e.groupSize(&e.groups[len(e.groups)-1])
		return
	}
	g := &e.groups[gi]
	e.chunkSz -= e.groupSize(g)
	g.recordBytes += rec
	e.next[g.last] = i
	g.last = i
	e.chunkSz += e.groupSize(g)
}

// group finds host's group; records of one host usually come together,
// so the last group is tried before the map.
func (e *encoder) group(host string) (int, bool) {
	if n := len(e.groups); n > 0 && e.groups[n-1].host == host {
		return n - 1, true
	}
	gi, ok := e.byHost[host]
	return gi, ok
}

// fixedSize is the size of a ResourceLogs' fields besides scope_logs.
func (e *encoder) fixedSize(host string) int {
	return fieldSize(hostKVSize(host)+len(e.resourceTail)) + fieldSize(len(e.schemaURL))
}

// appendRequest appends the request of the current chunk to b; its size is
// exactly e.chunkSz.
func (e *encoder) appendRequest(b []byte) []byte {
	for gi := range e.groups {
		g := &e.groups[gi]
		scopeLogs := g.recordBytes + len(e.scope)
		rl := g.fixed + fieldSize(scopeLogs)
		b = appendLen(b, fRequestResourceLogs, rl)

		b = appendLen(b, fResourceLogsResource, hostKVSize(g.host)+len(e.resourceTail))
		b = appendStringKV(b, fResourceAttributes, string(semconv.HostNameKey), g.host)
		b = append(b, e.resourceTail...)

		b = appendLen(b, fResourceLogsScopeLogs, scopeLogs)
		b = append(b, e.scope...)
		for i := g.first; i >= 0; i = e.next[i] {
			s := e.spans[i]
			b = appendLen(b, fScopeLogsLogRecords, s.n)
			b = append(b, e.records[s.off:s.off+s.n]...)
		}
		b = appendStringField(b, fResourceLogsSchemaURL, e.schemaURL)
	}
	return b
}

// appendLogRecord appends r's LogRecord message content. Attributes go out
// as they are: the mapping never repeats a key (the SDK removed repeats,
// keeping the last).
func appendLogRecord(b []byte, r *record.Record) []byte {
	if ts := unixNano(r.Timestamp); ts != 0 {
		b = appendFixed64Field(b, fLogTime, ts)
	}
	if n := r.SeverityNumber; n > 0 && n <= severityMax {
		b = appendVarintField(b, fLogSeverityNumber, uint64(n))
	}
	b = appendStringField(b, fLogSeverityText, r.SeverityText)
	// The body is a kvlist (a nil Body an empty one, as the SDK sent it),
	// usually of some hundred bytes: two-byte lengths save moving it.
	b, body := beginMessage(b, fLogBody, 2)
	b, list := beginMessage(b, fAnyKVList, 2)
	for k, v := range r.Body {
		b = appendKV(b, fKVListValues, k, v)
	}
	b = endMessage(b, list, 2)
	b = endMessage(b, body, 2)
	for _, kv := range r.Attributes {
		b = appendKV(b, fLogAttributes, kv.Key, kv.Value)
	}
	if ts := unixNano(r.Observed); ts != 0 {
		b = appendFixed64Field(b, fLogObservedTime, ts)
	}
	return appendStringField(b, fLogEventName, r.EventName)
}

// unixNano is t in nanoseconds since the Unix epoch; 0 (the field's
// "unknown") for the zero time and times before 1970.
func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// appendStringField appends a proto3 string field, omitted when empty.
func appendStringField(b []byte, f protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendStr(b, f, s)
}

// appendStringKV appends a KeyValue field with a string value.
func appendStringKV(b []byte, f protowire.Number, key, value string) []byte {
	b = appendLen(b, f, keySize(key)+fieldSize(fieldSize(len(value))))
	b = appendStringField(b, fKVKey, key)
	b = appendLen(b, fKVValue, fieldSize(len(value)))
	return appendStr(b, fAnyString, value)
}

// keySize is the encoded size of KeyValue.key (proto3: omitted when empty).
func keySize(key string) int {
	if key == "" {
		return 0
	}
	return fieldSize(len(key))
}

// scalarSize returns the encoded size of v's AnyValue content when v is a
// kind whose size is known without encoding it.
func scalarSize(v any) (int, bool) {
	switch v := v.(type) {
	case nil:
		return 0, true
	case string:
		return fieldSize(len(v)), true
	case int64:
		return 1 + protowire.SizeVarint(uint64(v)), true
	case int:
		return 1 + protowire.SizeVarint(uint64(int64(v))), true
	case float64:
		return 1 + 8, true
	case bool:
		return 1 + 1, true
	case []byte:
		return fieldSize(len(v)), true
	}
	return 0, false
}

// appendScalar appends the AnyValue content of a kind scalarSize knows.
func appendScalar(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendStr(b, fAnyString, v)
	case int64:
		return appendVarintField(b, fAnyInt, uint64(v))
	case int:
		return appendVarintField(b, fAnyInt, uint64(int64(v)))
	case float64:
		return appendFixed64Field(b, fAnyDouble, math.Float64bits(v))
	case bool:
		return appendVarintField(b, fAnyBool, protowire.EncodeBool(v))
	case []byte:
		return appendStr(b, fAnyBytes, v)
	}
	return b // nil: an AnyValue with no value set
}

// appendKV appends a KeyValue field. The value field is always present (an
// empty AnyValue for nil), as the SDK sent it.
func appendKV(b []byte, f protowire.Number, key string, v any) []byte {
	if s, ok := v.(string); ok { // most values: one type check
		return appendStringKV(b, f, key, s)
	}
	if n, ok := scalarSize(v); ok {
		b = appendLen(b, f, keySize(key)+fieldSize(n))
		b = appendStringField(b, fKVKey, key)
		b = appendLen(b, fKVValue, n)
		return appendScalar(b, v)
	}
	b, start := beginMessage(b, f, 1)
	b = appendStringField(b, fKVKey, key)
	b = appendAnyValueField(b, fKVValue, v)
	return endMessage(b, start, 1)
}

// appendAnyValueField appends an AnyValue field holding v. Value kinds are
// those of record.KV, mapped as the SDK's attribute values were: int and
// int64 to int_value, float64 to double_value, []string and []any to
// array_value, map[string]any to kvlist_value (in map order), []byte to
// bytes_value; any other type is sent as its fmt.Sprint string rather than
// lost.
func appendAnyValueField(b []byte, f protowire.Number, v any) []byte {
	if n, ok := scalarSize(v); ok {
		b = appendLen(b, f, n)
		return appendScalar(b, v)
	}
	switch v := v.(type) {
	case []string:
		// Sizes known up front: no back-patching.
		arr := 0
		for _, s := range v {
			arr += fieldSize(fieldSize(len(s)))
		}
		b = appendLen(b, f, fieldSize(arr))
		b = appendLen(b, fAnyArray, arr)
		for _, s := range v {
			b = appendLen(b, fArrayValues, fieldSize(len(s)))
			b = appendStr(b, fAnyString, s)
		}
		return b
	case []any:
		b, start := beginMessage(b, f, 1)
		b, arr := beginMessage(b, fAnyArray, 1)
		for _, item := range v {
			b = appendAnyValueField(b, fArrayValues, item)
		}
		b = endMessage(b, arr, 1)
		return endMessage(b, start, 1)
	case map[string]any:
		b, start := beginMessage(b, f, 1)
		b, list := beginMessage(b, fAnyKVList, 1)
		for k, item := range v {
			b = appendKV(b, fKVListValues, k, item)
		}
		b = endMessage(b, list, 1)
		return endMessage(b, start, 1)
	default:
		return appendAnyValueField(b, f, fmt.Sprint(v))
	}
}

// The helpers below write one-byte field keys: every field number here is
// under 16. Lengths under 128 (most of them) take the one-byte path.

// appendLen appends the key of length-delimited field f and the length n.
func appendLen(b []byte, f protowire.Number, n int) []byte {
	if n < 0x80 {
		return append(b, byte(f)<<3|byte(protowire.BytesType), byte(n))
	}
	return protowire.AppendVarint(append(b, byte(f)<<3|byte(protowire.BytesType)), uint64(n))
}

// appendStr appends a string or bytes field, present even when empty.
func appendStr[T string | []byte](b []byte, f protowire.Number, s T) []byte {
	return append(appendLen(b, f, len(s)), s...)
}

func appendVarintField(b []byte, f protowire.Number, v uint64) []byte {
	b = append(b, byte(f)<<3|byte(protowire.VarintType))
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

func appendFixed64Field(b []byte, f protowire.Number, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(append(b, byte(f)<<3|byte(protowire.Fixed64Type)), v)
}

// beginMessage appends the tag of a length-delimited field whose content
// size is not known yet, and reserve bytes for its length: 1 for most
// nested messages (under 128 bytes), 2 for a record's body. endMessage
// writes the length, moving the content when its varint takes another
// number of bytes (the encoding stays minimal).
func beginMessage(b []byte, f protowire.Number, reserve int) ([]byte, int) {
	b = append(b, byte(f)<<3|byte(protowire.BytesType), 0, 0)[:len(b)+1+reserve]
	return b, len(b)
}

func endMessage(b []byte, start, reserved int) []byte {
	n := len(b) - start
	if n < 0x80 && reserved == 1 {
		b[start-1] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	if k != reserved {
		to := start + k - reserved
		if k > reserved {
			b = append(b, make([]byte, k-reserved)...)
		}
		copy(b[to:], b[start:start+n])
		b = b[:to+n]
		start = to
	}
	protowire.AppendVarint(b[:start-k], uint64(n))
	return b
}
