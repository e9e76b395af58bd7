package eventfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wefgate/wef/event"
)

// jsonField is one top-level key of a JSON event, in file order.
type jsonField struct {
	key string
	val json.RawMessage
}

// jsonEvent is one flattened JSON event.
type jsonEvent struct {
	fields []jsonField
	index  map[string]int
}

func readJSONLines(data []byte) ([]string, error) {
	var events []string
	err := lines(data, func(n int, line []byte) error {
		je, err := decodeJSONEvent(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		ev, err := je.toEvent()
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		events = append(events, EventXML(ev))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, errEmpty
	}
	return events, nil
}

// decodeJSONEvent reads one JSON object keeping its keys in order, which
// encoding/json's map decoding would lose. Members of a nested EventData
// (or winlogbeat's event_data) object count as top-level keys.
func decodeJSONEvent(line []byte) (*jsonEvent, error) {
	je := &jsonEvent{index: map[string]int{}}
	if err := je.decodeObject(line, true); err != nil {
		return nil, err
	}
	return je, nil
}

func (je *jsonEvent) decodeObject(data []byte, top bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("decode JSON: not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decode JSON: %w", err)
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fmt.Errorf("decode JSON value of %q: %w", key, err)
		}
		if top && (key == "EventData" || key == "event_data") && len(val) > 0 && val[0] == '{' {
			if err := je.decodeObject(val, false); err != nil {
				return err
			}
			continue
		}
		if _, dup := je.index[key]; dup {
			continue // the first occurrence wins, as in most JSON readers
		}
		je.index[key] = len(je.fields)
		je.fields = append(je.fields, jsonField{key: key, val: val})
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	return nil
}

// text returns the value of key as text: strings as they are, numbers and
// booleans as written, null as "". ok is false when the key is absent or
// holds an array or object.
func (je *jsonEvent) text(key string) (string, bool) {
	i, found := je.index[key]
	if !found {
		return "", false
	}
	return scalarText(je.fields[i].val)
}

func scalarText(val json.RawMessage) (string, bool) {
	val = bytes.TrimSpace(val)
	if len(val) == 0 {
		return "", false
	}
	switch val[0] {
	case '"':
		var s string
		if err := json.Unmarshal(val, &s); err != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		return "", false
	case 'n':
		return "", true
	}
	return string(val), true
}

// first returns the text of the first of keys present.
func (je *jsonEvent) first(keys ...string) (string, bool) {
	for _, k := range keys {
		if s, ok := je.text(k); ok && s != "" {
			return s, true
		}
	}
	return "", false
}

func (je *jsonEvent) uint(bits int, keys ...string) (uint64, bool) {
	s, ok := je.first(keys...)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseUint(s, 10, bits); err == nil {
		return v, true
	}
	if rest, hex := strings.CutPrefix(s, "0x"); hex {
		if v, err := strconv.ParseUint(rest, 16, bits); err == nil {
			return v, true
		}
	}
	return 0, false
}

// toEvent maps the shipper's field names onto the event model. The event
// data is the event's documented Data items when the EventID is known, in
// documented order; otherwise every key that is not a System or shipper
// field, in file order.
func (je *jsonEvent) toEvent() (*event.Event, error) {
	id, ok := je.uint(32, "EventID", "event_id", "EventId")
	if !ok {
		return nil, errors.New("no numeric EventID")
	}
	ev := &event.Event{EventID: uint32(id)}
	schema := schemaFields(ev.EventID)
	if schema != nil {
		// All known events are Security audit events.
		ev.Channel = "Security"
		ev.Provider = event.Provider{Name: securityProvider, GUID: securityGUID}
		switch ev.EventID {
		case 4624, 4688, 4689, 4690: // one subcategory each
			ev.Task = securityTask(ev.EventID)
		}
	}
	if s, ok := je.first("SourceName", "ProviderName", "provider_name"); ok {
		ev.Provider.Name = s
	}
	if s, ok := je.first("ProviderGuid", "ProviderGUID", "provider_guid"); ok {
		ev.Provider.GUID = s
	}
	if v, ok := je.uint(8, "Level"); ok {
		ev.Level = uint8(v)
	}
	if v, ok := je.uint(16, "Task"); ok {
		ev.Task = uint16(v)
	}
	if v, ok := je.uint(8, "OpcodeValue", "Opcode"); ok {
		ev.Opcode = uint8(v)
	}
	if s, ok := je.first("Keywords"); ok {
		ev.Keywords, ev.KeywordsRaw = jsonKeywords(s)
	} else if s, ok := je.first("EventType"); ok {
		// nxlog's rendering of the audit keyword bits
		switch s {
		case "AUDIT_SUCCESS":
			ev.Keywords = event.KeywordAuditSuccess | keywordClassic
		case "AUDIT_FAILURE":
			ev.Keywords = event.KeywordAuditFailure | keywordClassic
		}
	}
	if t, ok := je.time(); ok {
		ev.TimeCreated = t
		ev.SystemTime = windowsTime(t)
	}
	if v, ok := je.uint(64, "RecordNumber", "EventRecordID", "record_id"); ok {
		ev.RecordID, ev.HasRecordID = v, true
	}
	ev.ActivityID, _ = je.first("ActivityID")
	ev.RelatedActivityID, _ = je.first("RelatedActivityID")
	if v, ok := je.uint(32, "ExecutionProcessID"); ok {
		ev.Execution.ProcessID, ev.Execution.HasProcessID = uint32(v), true
		if t, ok := je.uint(32, "ExecutionThreadID", "ThreadID"); ok {
			ev.Execution.ThreadID = uint32(t)
		}
	}
	if s, ok := je.first("Channel", "channel"); ok {
		ev.Channel = s
		if strings.EqualFold(s, "Security") {
			ev.Channel = "Security" // nxlog writes "security"
		}
	}
	ev.Computer, _ = je.first("Hostname", "Computer", "computer_name")
	ev.UserID, _ = je.first("UserID")

	if schema != nil {
		var version uint8
		for _, f := range schema {
			if v, ok := je.text(f.name); ok {
				ev.EventData = append(ev.EventData, event.Data{Name: f.name, Value: v})
				version = max(version, f.since)
			}
		}
		ev.Version = version
	} else {
		for _, f := range je.fields {
			if isShipperKey(f.key) {
				continue
			}
			if v, ok := scalarText(f.val); ok {
				ev.EventData = append(ev.EventData, event.Data{Name: f.key, Value: v})
			}
		}
	}
	if v, ok := je.uint(8, "Version"); ok {
		ev.Version = uint8(v)
	}

	if msg, ok := je.first("Message"); ok {
		r := &event.Rendering{Message: msg}
		r.Task, _ = je.first("Category")
		if op, ok := je.first("Opcode"); ok {
			if _, err := strconv.Atoi(op); err != nil {
				r.Opcode = op
			}
		}
		ev.Rendering = r
	}
	return ev, nil
}

// keywordClassic is the bit Windows sets on every Security audit event.
const keywordClassic uint64 = 0x8000000000000000

// jsonKeywords reads Keywords as hex text, or as the signed 64-bit number
// nxlog writes (-9214364837600034816 is 0x8020000000000000).
func jsonKeywords(s string) (uint64, string) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		if v, err := strconv.ParseUint(rest, 16, 64); err == nil {
			return v, s
		}
		return 0, ""
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return uint64(v), string(appendKeywords(nil, uint64(v)))
	}
	if v, err := strconv.ParseUint(s, 10, 64); err == nil {
		return v, string(appendKeywords(nil, v))
	}
	return 0, ""
}

// time reads the event time. Shippers write it without a zone in several
// layouts; it is taken as UTC.
func (je *jsonEvent) time() (time.Time, bool) {
	s, ok := je.first("TimeCreated", "EventTime", "@timestamp")
	if !ok {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// isShipperKey reports whether a top-level JSON key is a System field or
// one added by the shipper (nxlog, winlogbeat, logstash), not event data.
func isShipperKey(k string) bool {
	switch k {
	case "@timestamp", "@version", "TimeCreated", "EventTime", "EventReceivedTime",
		"Hostname", "Computer", "computer_name", "host", "port", "tags", "type",
		"SourceName", "ProviderName", "provider_name", "ProviderGuid", "ProviderGUID", "provider_guid",
		"EventID", "EventId", "event_id", "Version", "Level", "Task", "Opcode", "OpcodeValue",
		"Keywords", "Channel", "channel", "RecordNumber", "EventRecordID", "record_id",
		"ActivityID", "RelatedActivityID", "ExecutionProcessID", "ExecutionThreadID", "ThreadID",
		"UserID", "AccountName", "AccountType", "Domain", "Message", "Category", "EventType",
		"Severity", "SeverityValue", "SourceModuleName", "SourceModuleType":
		return true
	}
	return false
}
