package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"wefgate/record"
)

// appendRecord writes one record as a JSON object without a trailing
// newline. Keys follow the OTLP log data model (snake case as in the OTLP
// JSON mapping's proto names) so that readers of either format find the
// same fields:
//
//	{"timestamp":…,"observed_timestamp":…,"severity_number":…,"severity_text":…,
//	 "event_name":…,"resource":{"host.name":…,"os.type":"windows"},
//	 "attributes":{…},"body":{…}}
//
// Attributes keep the record's order; a repeated key keeps its first
// position and its last value, as the OTel SDK does when it de-duplicates.
func appendRecord(buf *bytes.Buffer, r *record.Record) {
	var keys []string
	encodeRecord(buf, r, &keys)
}

// encodeRecord is appendRecord with a scratch slice for sorting map keys,
// which the caller keeps from record to record.
func encodeRecord(buf *bytes.Buffer, r *record.Record, keys *[]string) {
	buf.WriteByte('{')
	first := true
	key := func(k string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeString(buf, k)
		buf.WriteByte(':')
	}
	if !r.Timestamp.IsZero() {
		key("timestamp")
		writeTime(buf, r.Timestamp)
	}
	if !r.Observed.IsZero() {
		key("observed_timestamp")
		writeTime(buf, r.Observed)
	}
	key("severity_number")
	buf.Write(strconv.AppendInt(buf.AvailableBuffer(), int64(r.SeverityNumber), 10))
	key("severity_text")
	writeString(buf, r.SeverityText)
	key("event_name")
	writeString(buf, r.EventName)

	key("resource")
	buf.WriteString(`{"host.name":`)
	writeString(buf, r.HostName)
	buf.WriteString(`,"os.type":"windows"}`)

	key("attributes")
	writeAttributes(buf, r.Attributes, keys)
	key("body")
	writeValue(buf, r.Body, keys)
	buf.WriteByte('}')
}

// writeAttributes writes attrs as one JSON object. A key repeated (an
// enrichment attribute overriding a mapped one) keeps its first position
// and its last value. Records carry a few dozen attributes, so scanning
// beats building a map for every line.
func writeAttributes(buf *bytes.Buffer, attrs []record.KV, keys *[]string) {
	buf.WriteByte('{')
	written := 0
next:
	for i, kv := range attrs {
		for _, earlier := range attrs[:i] {
			if earlier.Key == kv.Key {
				continue next // written already, at its first position
			}
		}
		value := kv.Value
		for _, later := range attrs[i+1:] {
			if later.Key == kv.Key {
				value = later.Value
			}
		}
		if written > 0 {
			buf.WriteByte(',')
		}
		written++
		writeString(buf, kv.Key)
		buf.WriteByte(':')
		writeValue(buf, value, keys)
	}
	buf.WriteByte('}')
}

func writeTime(buf *bytes.Buffer, t time.Time) {
	buf.WriteByte('"')
	buf.Write(t.UTC().AppendFormat(buf.AvailableBuffer(), time.RFC3339Nano))
	buf.WriteByte('"')
}

// writeString writes s as a JSON string exactly as encoding/json would
// (HTML-safe escapes, invalid UTF-8 replaced, which Windows event text can
// carry) without its reflection and allocation, which dominated the cost
// of exporting a record.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			case '\b':
				buf.WriteString(`\b`)
			case '\f':
				buf.WriteString(`\f`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(s[start:i])
			buf.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf.WriteString(s[start:i])
			buf.WriteString(`\u202`)
			buf.WriteByte(hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// writeValue writes the value kinds record.KV allows. Maps come out with
// sorted keys so output is stable. Non-finite floats, which JSON cannot
// express, become strings instead of failing the whole export. keys is
// scratch for sorting: each map uses its end and gives it back.
func writeValue(buf *bytes.Buffer, v any, keys *[]string) {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case string:
		writeString(buf, v)
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case int64:
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), v, 10))
	case int:
		buf.Write(strconv.AppendInt(buf.AvailableBuffer(), int64(v), 10))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			writeString(buf, strconv.FormatFloat(v, 'g', -1, 64))
			return
		}
		buf.Write(appendFloat(buf.AvailableBuffer(), v))
	case []any:
		buf.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeValue(buf, item, keys)
		}
		buf.WriteByte(']')
	case []string:
		buf.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, item)
		}
		buf.WriteByte(']')
	case map[string]any:
		// Nested maps append their keys after these and cut them off
		// again; sorted stays valid if that moves the slice.
		start := len(*keys)
		for k := range v {
			*keys = append(*keys, k)
		}
		sorted := (*keys)[start:]
		sort.Strings(sorted)
		buf.WriteByte('{')
		for i, k := range sorted {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeValue(buf, v[k], keys)
		}
		buf.WriteByte('}')
		clear((*keys)[start:])
		*keys = (*keys)[:start]
	default:
		// Outside record.KV's contract; keep the data rather than fail.
		b, err := json.Marshal(v)
		if err != nil {
			writeString(buf, fmt.Sprint(v))
			return
		}
		buf.Write(b)
	}
}

// appendFloat appends a finite f as encoding/json writes a float64
// (ES6 number formatting), without its reflection and allocation.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
