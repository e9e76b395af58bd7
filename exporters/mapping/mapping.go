// Package mapping turns one parsed Windows event, plus the facts about who
// delivered it, into the exporter-neutral record.Record that every output
// writes, in one of two schemas (Config.Schema): otel, described here, or
// ecs, the fields winlogbeat and Elastic's Windows security pipeline store
// (ecs.go).
//
// The body follows the OpenTelemetry Collector's windowseventlogreceiver
// (flat event_data map, rendered names preferred), so dashboards built for
// that receiver work unchanged. Attributes carry indexed fields named after
// OpenTelemetry semantic conventions where one exists and after Elastic ECS
// otherwise, followed by wefgate's delivery metadata (wef.*).
//
// Choices made here, each documented where it is implemented:
//   - EventName is "windows.security.<EventID>" for the Security channel and
//     "windows.<channel>.<EventID>" otherwise, the channel lower-cased with
//     white space removed ("Microsoft-Windows-Sysmon/Operational" →
//     "windows.microsoft-windows-sysmon/operational.1").
//   - log.record.uid is a name-based UUID (version 5 layout) over the
//     lower-cased computer, the channel and the record id, so a re-delivered
//     event gets the same uid and backends may de-duplicate.
//   - event.category/event.type follow the Elastic system integration's
//     Security pipeline for the few events it maps (4658 → [iam,
//     configuration]/[change], 4690 → [process]/[access], …).
package mapping

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"

	"wefgate/record"
	"wefgate/wef/event"
	"wefgate/winvalue"
)

// Options tunes Map: it is the mapping's Config, so the configuration
// section passes through unchanged.
type Options = Config

// Severity numbers and texts as the OpenTelemetry log data model defines
// them and as the windowseventlogreceiver emits them.
const (
	severityInfo  = 9
	severityWarn  = 13
	severityError = 17
	severityFatal = 21
)

// Attribute keys set by Map.
const (
	AttrRecordUID      = "log.record.uid"
	AttrRecordOriginal = "log.record.original"
	AttrEventCode      = "event.code"
	AttrEventProvider  = "event.provider"
	AttrEventOutcome   = "event.outcome"
	AttrEventAction    = "event.action"
	AttrEventCategory  = "event.category"
	AttrEventType      = "event.type"
	AttrProcessPID     = "process.pid"
	AttrProcessPath    = "process.executable.path"
	AttrUserID         = "user.id"
	AttrUserName       = "user.name"
	AttrUserDomain     = "user.domain"
	AttrHostIdentity   = "wef.host.identity"
	AttrMachineID      = "wef.machine_id"
	AttrSubscription   = "wef.subscription.name"
	AttrSubscriptionID = "wef.subscription.id"
	AttrClientAddress  = "client.address"
	AttrParseProblem   = "wef.parse_problem"
)

// Map builds the record for ev as delivered by src, in opts.Schema. extra
// (enrichment) is appended after the attributes Map sets itself, except a
// key Map already set: enrichment never overwrites a field read from the
// event. Map never fails: fields the event lacks are left out, and a
// damaged event is flagged with wef.parse_problem rather than dropped.
func Map(src record.Source, ev *event.Event, extra []record.KV, opts Options) record.Record {
	return mapEvent(src, ev, extra, opts, nil)
}

// MapEvents maps the events of one delivery from src into out (len(evs)
// records): out[i] is what Map(src, evs[i], nil, opts) returns, but what
// the records have in common (the delivery's attributes, the provider and
// keywords of events alike) is built once and shared between them, so the
// records must not be changed.
func MapEvents(src record.Source, evs []*event.Event, opts Options, out []record.Record) {
	sh := &shared{source: appendSource(nil, src)}
	for i, ev := range evs {
		out[i] = mapEvent(src, ev, nil, opts, sh)
	}
}

// shared holds the values MapEvents builds once for the records of one
// delivery. A nil *shared builds everything for each record (Map).
type shared struct {
	source  []record.KV // appendSource of the delivery
	created any         // ecs event.created
	// The latest event's provider map and keywords, reused while the
	// next events have the same.
	provider                      map[string]any
	provName, provGUID, provEvSrc string
	keywords                      []any
	keywordsRaw                   string
	eventID                       map[string]any
	eventIDKey                    [2]uint32
	eventName                     string
	eventNameKey                  struct {
		channel string
		id      uint32
	}
	// Boxed values of the latest event, reused while equal.
	boxes [boxCount]boxed
	nums  [numCount]boxedNum
}

// Slots of shared.boxes and shared.nums.
const (
	boxComputer = iota
	boxChannel
	boxProvider
	boxUserID
	boxUserName
	boxUserDomain
	boxCount
)

const (
	numCode = iota
	numTask
	numOpcode
	numLevel
	numCount
)

// boxed is a string and the interface value holding it (one allocation),
// kept for the next record.
type boxed struct {
	s   string
	val any
}

// box returns v as an interface value, the one in slot when it holds v.
func (s *shared) box(slot int, v string) any {
	if s == nil {
		return v
	}
	b := &s.boxes[slot]
	if b.val == nil || b.s != v {
		b.s, b.val = v, v
	}
	return b.val
}

// boxedNum is a number's decimal text as an interface value, kept for
// the next record.
type boxedNum struct {
	n   uint64
	val any
}

func (s *shared) decimal(slot int, n uint64) any {
	if s == nil {
		return strconv.FormatUint(n, 10)
	}
	b := &s.nums[slot]
	if b.val == nil || b.n != n {
		b.n, b.val = n, strconv.FormatUint(n, 10)
	}
	return b.val
}

func (s *shared) eventIDMap(ev *event.Event) map[string]any {
	key := [2]uint32{ev.EventID, uint32(ev.Qualifiers)}
	if s != nil && s.eventID != nil && s.eventIDKey == key {
		return s.eventID
	}
	m := map[string]any{
		"id":         int64(ev.EventID),
		"qualifiers": int64(ev.Qualifiers),
	}
	if s != nil {
		s.eventID, s.eventIDKey = m, key
	}
	return m
}

func (s *shared) name(ev *event.Event) string {
	if s == nil {
		return EventName(ev.Channel, ev.EventID)
	}
	if s.eventName == "" || s.eventNameKey.channel != ev.Channel || s.eventNameKey.id != ev.EventID {
		s.eventName = EventName(ev.Channel, ev.EventID)
		s.eventNameKey.channel, s.eventNameKey.id = ev.Channel, ev.EventID
	}
	return s.eventName
}

// appendSource appends the delivery's collection attributes.
func (s *shared) appendSource(attrs []record.KV, src record.Source) []record.KV {
	if s == nil {
		return appendSource(attrs, src)
	}
	return append(attrs, s.source...)
}

func (s *shared) providerMap(ev *event.Event) map[string]any {
	p := ev.Provider
	if s != nil && s.provider != nil && s.provName == p.Name && s.provGUID == p.GUID && s.provEvSrc == p.EventSourceName {
		return s.provider
	}
	m := map[string]any{
		"name":         p.Name,
		"guid":         p.GUID,
		"event_source": p.EventSourceName,
	}
	if s != nil {
		s.provider, s.provName, s.provGUID, s.provEvSrc = m, p.Name, p.GUID, p.EventSourceName
	}
	return m
}

func (s *shared) rawKeywords(ev *event.Event) []any {
	raw := rawKeywords(ev)
	if s != nil && s.keywords != nil && s.keywordsRaw == raw {
		return s.keywords
	}
	kw := []any{raw}
	if s != nil {
		s.keywords, s.keywordsRaw = kw, raw
	}
	return kw
}

// mapEvent is Map, with what the records of a delivery share in sh.
func mapEvent(src record.Source, ev *event.Event, extra []record.KV, opts Options, sh *shared) record.Record {
	if opts.Schema == SchemaECS {
		return mapECS(src, ev, extra, opts, sh)
	}
	rec := record.Record{
		Timestamp: ev.TimeCreated,
		Observed:  src.Received,
		EventName: sh.name(ev),
		HostName:  ev.Computer,
		Body:      body(ev, sh),
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = src.Received
	}
	if rec.HostName == "" {
		rec.HostName = src.Identity
	}
	rec.SeverityNumber, rec.SeverityText = severity(ev)
	rec.Attributes = appendExtra(attributes(src, ev, opts, len(extra), sh), extra, nil)
	return rec
}

// EventName returns the OTLP event name for an event of channel and id.
// Channels other than Security keep their full name (lower-cased, white space
// removed) so that events of different logs never share a name.
func EventName(channel string, id uint32) string {
	code := strconv.FormatUint(uint64(id), 10)
	if strings.EqualFold(channel, "Security") {
		return "windows.security." + code
	}
	name := strings.ToLower(strings.Join(strings.Fields(channel), ""))
	if name == "" {
		name = "unknown"
	}
	return "windows." + name + "." + code
}

// severity derives the log severity. Security events are Level 0, which the
// receiver maps to "unspecified"; their audit keyword is the only signal that
// tells a refused access from a granted one, so it takes precedence.
func severity(ev *event.Event) (int, string) {
	switch {
	case ev.AuditFailure():
		return severityWarn, "WARN"
	case ev.AuditSuccess():
		return severityInfo, "INFO"
	}
	if ev.Rendering != nil {
		switch ev.Rendering.Level {
		case "Critical":
			return severityFatal, "FATAL"
		case "Error":
			return severityError, "ERROR"
		case "Warning":
			return severityWarn, "WARN"
		case "Information":
			return severityInfo, "INFO"
		}
	}
	switch ev.Level {
	case 1:
		return severityFatal, "FATAL"
	case 2:
		return severityError, "ERROR"
	case 3:
		return severityWarn, "WARN"
	case 4:
		return severityInfo, "INFO"
	}
	return 0, ""
}

func body(ev *event.Event, sh *shared) map[string]any {
	b := map[string]any{
		"event_id":    sh.eventIDMap(ev),
		"provider":    sh.providerMap(ev),
		"system_time": ev.SystemTime,
		"computer":    sh.box(boxComputer, ev.Computer),
		"channel":     sh.box(boxChannel, ev.Channel),
		"record_id":   int64(ev.RecordID),
		"task":        sh.decimal(numTask, uint64(ev.Task)),
		"opcode":      sh.decimal(numOpcode, uint64(ev.Opcode)),
		"level":       sh.decimal(numLevel, uint64(ev.Level)),
		"keywords":    sh.rawKeywords(ev),
		"version":     int64(ev.Version),
		"execution": map[string]any{
			"process_id": int64(ev.Execution.ProcessID),
			"thread_id":  int64(ev.Execution.ThreadID),
		},
		"event_data": eventData(ev),
	}
	if ev.UserID != "" {
		b["security"] = map[string]any{"user_id": ev.UserID}
	}
	if c := correlation(ev); c != nil {
		b["correlation"] = c
	}
	if ev.UserData != "" {
		// The receiver stringifies its parsed user_data by accident; the
		// verbatim inner XML loses nothing and is just as searchable.
		b["user_data"] = ev.UserData
	}
	if r := ev.Rendering; r != nil {
		if r.Level != "" {
			b["level"] = r.Level
		}
		if r.Task != "" {
			b["task"] = r.Task
		}
		if r.Opcode != "" {
			b["opcode"] = r.Opcode
		}
		if len(r.Keywords) > 0 {
			b["keywords"] = stringsToAny(r.Keywords)
		}
		b["message"] = message(ev.Channel, r.Message)
		b["rendering_info"] = map[string]any{
			"culture":  r.Culture,
			"message":  r.Message,
			"level":    r.Level,
			"task":     r.Task,
			"opcode":   r.Opcode,
			"channel":  r.Channel,
			"provider": r.Provider,
			"keywords": stringsToAny(r.Keywords),
		}
	}
	return b
}

// message mirrors the receiver: a Security message repeats every EventData
// field in indented "Key:\tValue" lines, so only its first line (the
// sentence) is kept in message; rendering_info.message has the whole text.
func message(channel, msg string) string {
	if strings.EqualFold(channel, "Security") {
		if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
			msg = msg[:i]
		}
	}
	return strings.TrimSpace(msg)
}

func rawKeywords(ev *event.Event) string {
	if ev.KeywordsRaw != "" {
		return ev.KeywordsRaw
	}
	return "0x" + strconv.FormatUint(ev.Keywords, 16)
}

func correlation(ev *event.Event) map[string]any {
	if ev.ActivityID == "" && ev.RelatedActivityID == "" {
		return nil
	}
	c := map[string]any{}
	if ev.ActivityID != "" {
		c["activity_id"] = ev.ActivityID
	}
	if ev.RelatedActivityID != "" {
		c["related_activity_id"] = ev.RelatedActivityID
	}
	return c
}

// eventData flattens EventData into a map. Unnamed items become param<N>,
// N being the item's 1-based position (winlogbeat's and the receiver's
// rule). A repeated name keeps every value: the first under the name, the
// others under "<name>_<N>", because silently dropping audit data is worse
// than an odd key.
func eventData(ev *event.Event) map[string]any {
	m := make(map[string]any, len(ev.EventData)+1)
	for i, d := range ev.EventData {
		key := d.Name
		if key == "" {
			key = "param" + strconv.Itoa(i+1)
		}
		if _, dup := m[key]; dup {
			key += "_" + strconv.Itoa(i+1)
		}
		m[key] = d.Value
	}
	if ev.Binary != "" {
		m["binary"] = ev.Binary
	}
	return m
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// elasticEvent is how the Elastic system integration classifies an event:
// action a string, category and kind []any lists. They are interface
// values made once, shared by every record that carries them.
type elasticEvent struct {
	action   any
	category any
	kind     any
}

// elasticClassification returns how the Elastic system integration's
// Security ingest pipeline classifies the handle and process events this
// gateway cares about (taken from its test fixtures for these IDs). Other
// events get their action from the rendered task name.
func elasticClassification(id uint32) (elasticEvent, bool) {
	ee, ok := elasticEvents[id]
	return ee, ok
}

// elasticEvents is elasticClassification's table, read-only.
var elasticEvents = map[uint32]elasticEvent{
	4657: {"registry-value-modified", []any{"registry", "configuration"}, []any{"change"}},
	4658: {"handle-closed-object", []any{"iam", "configuration"}, []any{"change"}},
	4660: {"object-deleted", []any{"file", "registry"}, []any{"deletion"}},
	4688: {"created-process", []any{"process"}, []any{"start"}},
	4689: {"exited-process", []any{"process"}, []any{"end"}},
	4690: {"duplicate-handle-attempt", []any{"process"}, []any{"access"}},
}

func attributes(src record.Source, ev *event.Event, opts Options, room int, sh *shared) []record.KV {
	attrs := make([]record.KV, 0, 20+room)
	add := func(key string, value any) { attrs = append(attrs, record.KV{Key: key, Value: value}) }
	addString := func(key, value string) {
		if value != "" {
			add(key, value)
		}
	}

	add(AttrRecordUID, RecordUID(ev))
	add(AttrEventCode, sh.decimal(numCode, uint64(ev.EventID)))
	if ev.Provider.Name != "" {
		add(AttrEventProvider, sh.box(boxProvider, ev.Provider.Name))
	}
	switch {
	case ev.AuditFailure():
		add(AttrEventOutcome, "failure")
	case ev.AuditSuccess():
		add(AttrEventOutcome, "success")
	}
	security := strings.EqualFold(ev.Channel, "Security")
	if ee, ok := elasticClassification(ev.EventID); ok && security {
		add(AttrEventAction, ee.action)
		add(AttrEventCategory, ee.category)
		add(AttrEventType, ee.kind)
	} else if ev.Rendering != nil && ev.Rendering.Task != "" {
		add(AttrEventAction, kebab(ev.Rendering.Task))
	}
	if security {
		if pid, ok := subjectProcessID(ev); ok {
			add(AttrProcessPID, pid)
		}
		if ev.EventID != 4688 {
			addString(AttrProcessPath, dataValue(ev, "ProcessName"))
		}
		for _, u := range [...]struct {
			key, name string
			slot      int
		}{
			{AttrUserID, "SubjectUserSid", boxUserID},
			{AttrUserName, "SubjectUserName", boxUserName},
			{AttrUserDomain, "SubjectDomainName", boxUserDomain},
		} {
			if v := dataValue(ev, u.name); v != "" {
				add(u.key, sh.box(u.slot, v))
			}
		}
	}

	return appendCollection(sh.appendSource(attrs, src), ev, opts.IncludeOriginal, AttrRecordOriginal)
}

// appendSource appends what wefgate knows of how a delivery was collected,
// the same in both schemas: the authenticated host, its MachineID and
// address, and the subscription.
func appendSource(attrs []record.KV, src record.Source) []record.KV {
	for _, kv := range [...][2]string{
		{AttrHostIdentity, src.Identity},
		{AttrMachineID, src.MachineID},
		{AttrSubscription, src.Subscription},
		{AttrSubscriptionID, src.SubscriptionID},
		{AttrClientAddress, src.Address},
	} {
		if kv[1] != "" {
			attrs = append(attrs, record.KV{Key: kv[0], Value: kv[1]})
		}
	}
	return attrs
}

// appendCollection appends, after appendSource's attributes, what is
// particular to the event: the original XML under originalKey when asked
// for, and the parse problem of a damaged event.
func appendCollection(attrs []record.KV, ev *event.Event, original bool, originalKey string) []record.KV {
	if original && ev.Raw != "" {
		attrs = append(attrs, record.KV{Key: originalKey, Value: ev.Raw})
	}
	if ev.Problem != nil {
		attrs = append(attrs, record.KV{Key: AttrParseProblem, Value: string(ev.Problem.Kind) + ": " + ev.Problem.Message})
	}
	return attrs
}

// subjectProcessID returns the id of the process the event is about:
// SourceProcessId for a duplication (4690), NewProcessId for a process
// creation (4688, whose ProcessId is the parent), ProcessId otherwise.
func subjectProcessID(ev *event.Event) (int64, bool) {
	name := "ProcessId"
	switch ev.EventID {
	case 4690:
		name = "SourceProcessId"
	case 4688:
		name = "NewProcessId"
	}
	v, ok := ev.DataValue(name)
	if !ok {
		return 0, false
	}
	return ParseWindowsInt(v)
}

// ParseWindowsInt reads a number as Windows renders it in event data: hex
// with a 0x prefix, of any width and case ("0x1e20", "0x0000000000001E20"),
// or plain decimal; values beyond int64 are refused.
func ParseWindowsInt(s string) (int64, bool) {
	u, ok := winvalue.Hex(s)
	if !ok || u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// dataValue returns an EventData value, treating Windows' "-" placeholder
// for "no value" as absent.
func dataValue(ev *event.Event, name string) string {
	v, _ := ev.DataValue(name)
	if v == "-" {
		return ""
	}
	return v
}

// appendLower appends s with ASCII letters lower-cased, as strings.ToLower
// does for the host names it is used on.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return append(b, strings.ToLower(s[i:])...)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// kebab turns a rendered task name into an ECS-style action
// ("Handle Manipulation" → "handle-manipulation").
func kebab(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), "-"))
}

// uidNamespace is the 16-byte namespace of wefgate's name-based record
// UUIDs (5d3b2e8c-417a-5f0e-9b6c-1d2f7384a5b6, chosen once at random). It must
// never change: uids would then differ between releases and defeat
// de-duplication of re-delivered events.
const uidNamespace = "\x5d\x3b\x2e\x8c\x41\x7a\x5f\x0e\x9b\x6c\x1d\x2f\x73\x84\xa5\xb6"

// RecordUID returns the deterministic log.record.uid of ev: a version 5
// (SHA-1, name-based) UUID over "<lower(computer)>\x00<channel>\x00<record
// id>". Windows numbers records per channel per host, so the triple names
// one event, and a forwarder re-sending it yields the same uid. An event
// without a record id is named by the SHA-256 of its XML instead.
func RecordUID(ev *event.Event) string {
	// One stack buffer holds namespace and name, so the hash needs no
	// allocation for the usual short computer and channel names.
	var buf [256]byte
	b := append(buf[:0], uidNamespace...)
	b = appendLower(b, ev.Computer)
	b = append(b, 0)
	b = append(b, ev.Channel...)
	b = append(b, 0)
	if ev.HasRecordID {
		b = strconv.AppendUint(b, ev.RecordID, 10)
	} else {
		sum := sha256.Sum256([]byte(ev.Raw))
		b = append(b, "xml:"...)
		b = hex.AppendEncode(b, sum[:])
	}
	sum := sha1.Sum(b)
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], u[10:16])
	return string(out[:])
}
