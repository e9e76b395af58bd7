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

// fieldKind says where a JSON member was found.
type fieldKind uint8

const (
	// fieldTop: a scalar at the top level (nxlog and OTRF flatten the
	// event data there, beside their own fields).
	fieldTop fieldKind = iota
	// fieldData: a member of an EventData or event_data object
	// (winlogbeat's winlog.event_data included): always event data.
	fieldData
	// fieldNested: a member of any other object, named by its dotted path
	// (winlog.record_id, host.name): never event data.
	fieldNested
)

// jsonField is one member of a JSON event, in file order.
type jsonField struct {
	key  string
	val  json.RawMessage
	kind fieldKind
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

// maxJSONDepth bounds how deep nested objects are flattened; winlogbeat's
// deepest System field (winlog.process.thread.id) is at depth 4.
const maxJSONDepth = 8

// decodeJSONEvent reads one JSON object keeping its keys in order, which
// encoding/json's map decoding would lose. Members of an event data object
// (EventData, event_data, winlog.event_data) are named as they are; members
// of other nested objects by their dotted path.
func decodeJSONEvent(line []byte) (*jsonEvent, error) {
	je := &jsonEvent{index: map[string]int{}}
	if err := je.decodeObject(line, "", fieldTop, 0); err != nil {
		return nil, err
	}
	return je, nil
}

func (je *jsonEvent) decodeObject(data []byte, prefix string, kind fieldKind, depth int) error {
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
			return fmt.Errorf("decode JSON value of %q: %w", prefix+key, err)
		}
		path := prefix + key
		if len(val) > 0 && val[0] == '{' && depth < maxJSONDepth {
			sub, subKind := path+".", fieldNested
			if isEventDataPath(path) {
				sub, subKind = "", fieldData
			}
			if err := je.decodeObject(val, sub, subKind, depth+1); err != nil {
				return err
			}
			continue
		}
		if _, dup := je.index[path]; dup {
			continue // the first occurrence wins, as in most JSON readers
		}
		je.index[path] = len(je.fields)
		je.fields = append(je.fields, jsonField{key: path, val: val, kind: kind})
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	return nil
}

// isEventDataPath reports whether the object at path holds the event data:
// EventData (OTRF), event_data (winlogbeat 6) or winlog.event_data
// (winlogbeat 7 and later).
func isEventDataPath(path string) bool {
	switch path {
	case "EventData", "event_data", "winlog.event_data":
		return true
	}
	return false
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
	s, _, ok := je.firstKey(keys...)
	return s, ok
}

// firstKey is first, also returning which key held the value.
func (je *jsonEvent) firstKey(keys ...string) (string, string, bool) {
	for _, k := range keys {
		if s, ok := je.text(k); ok && s != "" {
			return s, k, true
		}
	}
	return "", "", false
}

// uint reads the first of keys present as an unsigned number (decimal, or
// hexadecimal after 0x). ok is false when none is present or the value is
// not such a number.
func (je *jsonEvent) uint(bits int, keys ...string) (uint64, bool) {
	v, found, err := je.number(bits, keys...)
	return v, found && err == nil
}

// number is uint for fields that must be numbers when present: err names
// the key and its value when the value is not a number.
func (je *jsonEvent) number(bits int, keys ...string) (v uint64, found bool, err error) {
	s, key, ok := je.firstKey(keys...)
	if !ok {
		return 0, false, nil
	}
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseUint(s, 10, bits); err == nil {
		return v, true, nil
	}
	if rest, hex := strings.CutPrefix(s, "0x"); hex {
		if v, err := strconv.ParseUint(rest, 16, bits); err == nil {
			return v, true, nil
		}
	}
	return 0, true, fmt.Errorf("field %s: %q is not a number of at most %d bits", key, s, bits)
}

// The keys each System field is read from, in order: nxlog and OTRF
// first, then winlogbeat 6 (top level), then winlogbeat 7 to 9 (under
// winlog, or ECS). An error names the whole list.
var (
	keysEventID       = []string{"EventID", "EventId", "event_id", "winlog.event_id", "event.code"}
	keysRecordID      = []string{"RecordNumber", "EventRecordID", "record_id", "record_number", "winlog.record_id"}
	keysProvider      = []string{"SourceName", "ProviderName", "provider_name", "source_name", "winlog.provider_name", "event.provider"}
	keysProviderGUID  = []string{"ProviderGuid", "ProviderGUID", "provider_guid", "winlog.provider_guid"}
	keysChannel       = []string{"Channel", "channel", "log_name", "winlog.channel"}
	keysComputer      = []string{"Hostname", "Computer", "computer_name", "winlog.computer_name"}
	keysProcessID     = []string{"ExecutionProcessID", "process_id", "winlog.process.pid"}
	keysThreadID      = []string{"ExecutionThreadID", "ThreadID", "thread_id", "winlog.process.thread.id"}
	keysVersion       = []string{"Version", "version", "winlog.version"}
	keysActivity      = []string{"ActivityID", "activity_id", "winlog.activity_id"}
	keysRelated       = []string{"RelatedActivityID", "related_activity_id", "winlog.related_activity_id"}
	keysUserID        = []string{"UserID", "user.identifier", "winlog.user.identifier"}
	keysLevelName     = []string{"level", "log.level"}
	keysMessage       = []string{"Message", "message"}
	keysTaskName      = []string{"Category", "task", "winlog.task"}
	keysOpcodeName    = []string{"opcode", "winlog.opcode"}
	keysKeywordsNames = []string{"keywords", "winlog.keywords"}
)

// toEvent maps the shipper's field names onto the event model. The event
// data is the event's documented Data items when the EventID is known, in
// documented order; otherwise the members of the event data object and
// every top-level key that is not a System or shipper field, in file
// order.
func (je *jsonEvent) toEvent() (*event.Event, error) {
	id, found, err := je.number(32, keysEventID...)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("missing field: no event id in any of %s", strings.Join(keysEventID, ", "))
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
	if s, ok := je.first(keysChannel...); ok {
		ev.Channel = s
		if strings.EqualFold(s, "Security") {
			ev.Channel = "Security" // nxlog writes "security"
		}
	}
	security := ev.Channel == "Security"
	if s, ok := je.first(keysProvider...); ok {
		ev.Provider.Name = s
	}
	if s, ok := je.first(keysProviderGUID...); ok {
		ev.Provider.GUID = s
	}
	if v, ok := je.uint(8, "Level"); ok {
		ev.Level = uint8(v)
	} else if s, ok := je.first(keysLevelName...); ok {
		ev.Level = levelFromName(s, security)
	}
	if v, ok := je.uint(16, "Task"); ok {
		ev.Task = uint16(v)
	}
	if v, ok := je.uint(8, "OpcodeValue", "Opcode"); ok {
		ev.Opcode = uint8(v)
	}
	ev.Keywords, ev.KeywordsRaw = je.keywords()
	if t, ok := je.time(); ok {
		ev.TimeCreated = t
		ev.SystemTime = windowsTime(t)
	}
	if v, found, err := je.number(64, keysRecordID...); err != nil {
		return nil, err
	} else if found {
		ev.RecordID, ev.HasRecordID = v, true
	}
	ev.ActivityID, _ = je.first(keysActivity...)
	ev.RelatedActivityID, _ = je.first(keysRelated...)
	if v, ok := je.uint(32, keysProcessID...); ok {
		ev.Execution.ProcessID, ev.Execution.HasProcessID = uint32(v), true
		if t, ok := je.uint(32, keysThreadID...); ok {
			ev.Execution.ThreadID = uint32(t)
		}
	}
	ev.Computer, _ = je.first(keysComputer...)
	ev.UserID, _ = je.first(keysUserID...)

	if schema != nil {
		var version uint8
		for _, f := range schema {
			if v, ok := je.data(f.name); ok {
				ev.EventData = append(ev.EventData, event.Data{Name: f.name, Value: v})
				version = max(version, f.since)
			}
		}
		ev.Version = version
	} else {
		for _, f := range je.fields {
			if f.kind == fieldNested || f.kind == fieldTop && isShipperKey(f.key) {
				continue
			}
			if v, ok := scalarText(f.val); ok {
				ev.EventData = append(ev.EventData, event.Data{Name: f.key, Value: v})
			}
		}
	}
	if v, ok := je.uint(8, keysVersion...); ok {
		ev.Version = uint8(v)
	}

	if msg, ok := je.first(keysMessage...); ok {
		r := &event.Rendering{Message: msg}
		r.Task, _ = je.first(keysTaskName...)
		if op, ok := je.first("Opcode"); ok {
			if _, err := strconv.Atoi(op); err != nil {
				r.Opcode = op
			}
		}
		if r.Opcode == "" {
			r.Opcode, _ = je.first(keysOpcodeName...)
		}
		ev.Rendering = r
	}
	return ev, nil
}

// data returns the event data item name: a member of the event data
// object, or a top-level key (flattened shapes).
func (je *jsonEvent) data(name string) (string, bool) {
	i, found := je.index[name]
	if !found || je.fields[i].kind == fieldNested {
		return "", false
	}
	return scalarText(je.fields[i].val)
}

// keywords reads System/Keywords: a number (Keywords, hex or nxlog's
// signed decimal), winlogbeat's list of keyword names, or nxlog's
// EventType. Audit events also carry the Security channel bit
// (0x8000000000000000), which no name stands for.
func (je *jsonEvent) keywords() (uint64, string) {
	if s, ok := je.first("Keywords"); ok {
		return jsonKeywords(s)
	}
	var k uint64
	for _, key := range keysKeywordsNames {
		i, found := je.index[key]
		if !found {
			continue
		}
		if s, ok := scalarText(je.fields[i].val); ok {
			return jsonKeywords(s)
		}
		var names []string
		if json.Unmarshal(je.fields[i].val, &names) == nil {
			for _, n := range names {
				k |= keywordBits[strings.ToLower(strings.TrimSpace(n))]
			}
		}
		break
	}
	if k == 0 {
		// nxlog's rendering of the audit keyword bits
		switch s, _ := je.first("EventType"); s {
		case "AUDIT_SUCCESS":
			k = event.KeywordAuditSuccess
		case "AUDIT_FAILURE":
			k = event.KeywordAuditFailure
		}
	}
	if k&(event.KeywordAuditSuccess|event.KeywordAuditFailure) != 0 {
		k |= keywordClassic // audit keywords are the Security log's
	}
	return k, ""
}

// keywordBits are the standard keyword names Windows renders (winmeta.xml)
// and winlogbeat ships, lower-cased.
var keywordBits = map[string]uint64{
	"response time":    0x0001000000000000,
	"wdi context":      0x0002000000000000,
	"wdi diag":         0x0004000000000000,
	"sqm":              0x0008000000000000,
	"audit failure":    event.KeywordAuditFailure,
	"audit success":    event.KeywordAuditSuccess,
	"correlation hint": 0x0040000000000000,
	"classic":          0x0080000000000000,
}

// levelFromName maps a rendered level name (winlogbeat's level or
// log.level) to System/Level. Security audit events are logged at level 0,
// which Windows renders as "Information".
func levelFromName(s string, security bool) uint8 {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return 1
	case "error":
		return 2
	case "warning":
		return 3
	case "information":
		if security {
			return 0
		}
		return 4
	case "verbose":
		return 5
	}
	return 0
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
		"Severity", "SeverityValue", "SourceModuleName", "SourceModuleType",
		// winlogbeat 6 (top level); later versions nest theirs
		"record_number", "log_name", "source_name", "level", "opcode", "task", "process_id",
		"thread_id", "message", "keywords", "version", "activity_id", "related_activity_id":
		return true
	}
	return false
}
