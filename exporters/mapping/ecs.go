package mapping

import (
	"strconv"
	"strings"
	"time"

	"wefgate/record"
	"wefgate/wef/event"
)

// The ecs schema reproduces the document Elastic stores for a Windows
// event collected by winlogbeat (or Elastic Agent) and passed through the
// Windows security ingest pipeline of Elastic's system integration:
//
//   - winlogbeat's own fields: event.kind, event.code (a string),
//     event.provider, event.action (the task name), event.outcome,
//     event.created, log.level, message and winlog.* (channel,
//     computer_name, event_id, provider_name, provider_guid, record_id as
//     a string, task, opcode, keywords, level, outcome, version,
//     process.pid, process.thread.id, time_created, activity_id,
//     related_activity_id, user.identifier, event_data.<Name> with empty
//     values dropped and unnamed items as param<N>); sources: winlogbeat
//     "winlog" field reference, libbeat decode_xml_wineventlog;
//   - the ingest pipeline's additions (elastic/integrations
//     packages/system/data_stream/security/elasticsearch/ingest_pipeline
//     and its test fixtures test-4658/4660/4690.json-expected.json):
//     event.action/category/type for the ids it classifies,
//     winlog.logon.id from SubjectLogonId, user.* and related.user from
//     the Subject for the ids it lists, process.* from ProcessId and
//     ProcessName (moved out of winlog.event_data) for 4658, 4660 and
//     4689, from NewProcessId/NewProcessName/ParentProcessName for 4688,
//     and nothing for 4690 (its SourceProcessId stays in event_data);
//   - the data stream the system integration writes Windows Security
//     events to: event.module "system", event.dataset and
//     data_stream.dataset "system.security" (constant_keyword fields of
//     that data stream), so an Elastic OTLP endpoint in ECS mapping mode
//     routes the record to logs-system.security-<namespace>. Other
//     channels go to the Windows integration's "windows.forwarded".
//
// ECS reference: https://www.elastic.co/guide/en/ecs/current/ (8.11).
const (
	// ECSVersion is the ECS version the fields follow (the version the
	// system integration's fixtures carry).
	ECSVersion = "8.11.0"

	// ECS and winlog keys the ecs schema sets that other code refers to.
	ECSEventID        = "event.id"
	ECSEventKind      = "event.kind"
	ECSEventModule    = "event.module"
	ECSEventDataset   = "event.dataset"
	ECSDataStreamType = "data_stream.type"
	ECSDataStreamSet  = "data_stream.dataset"
	ECSEventCreated   = "event.created"
	ECSEventOriginal  = "event.original"
	ECSMessage        = "message"
	ECSLogonID        = "winlog.logon.id"
	ECSEventData      = "winlog.event_data."
	ECSRelatedUser    = "related.user"
	ECSProcessPID     = "process.pid"
	ECSProcessExe     = "process.executable"
	ECSProcessName    = "process.name"

	// ECSEnrichmentPrefix is where enrichment attributes live in the ecs
	// schema: below winlog.handle, never in an ECS field Elastic fills
	// from the event itself.
	ECSEnrichmentPrefix = "winlog.handle."
)

// Data streams of Elastic's integrations (their base-fields.yml).
const (
	securityModule  = "system"
	securityDataset = "system.security"
	otherModule     = "windows"
	otherDataset    = "windows.forwarded"
)

// securityTasks names the Security-Auditing task (audit subcategory)
// numbers of the events wefgate collects, as the publisher's metadata
// renders them; winlogbeat puts that name in event.action and winlog.task
// when the event itself carries no RenderingInfo. Source: Microsoft's
// per-event pages (windows/security/threat-protection/auditing/event-*.md)
// and the Task values seen in the OTRF and mdecrevoisier captures.
var securityTasks = map[uint16]string{
	12800: "File System",
	12801: "Registry",
	12802: "Kernel Object",
	12803: "SAM",
	12804: "Other Object Access Events",
	12805: "Certification Services",
	12806: "Application Generated",
	12807: "Handle Manipulation",
	12808: "File Share",
	12809: "Filtering Platform Packet Drop",
	12810: "Filtering Platform Connection",
	12811: "Detailed File Share",
	12812: "Removable Storage",
	12813: "Central Policy Staging",
	13312: "Process Creation",
	13313: "Process Termination",
	14080: "Directory Service Access",
}

// subjectUserEvents are the ids whose Subject the ingest pipeline copies
// to user.* and related.user (among those wefgate collects; 4656, 4661
// and 4663 are not in its list).
func subjectUserEvent(id uint32) bool {
	switch id {
	case 4657, 4658, 4660, 4670, 4688, 4689, 4690:
		return true
	}
	return false
}

// processMovedEvents are the ids whose ProcessId and ProcessName the
// ingest pipeline moves out of winlog.event_data into process.*.
func processMovedEvent(id uint32) bool {
	switch id {
	case 4658, 4660, 4689:
		return true
	}
	return false
}

// mapECS is Map for the ecs schema.
func mapECS(src record.Source, ev *event.Event, extra []record.KV, opts Options, sh *shared) record.Record {
	rec := record.Record{
		Timestamp: ev.TimeCreated,
		Observed:  src.Received,
		EventName: EventName(ev.Channel, ev.EventID),
		HostName:  ev.Computer,
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = src.Received
	}
	if rec.HostName == "" {
		rec.HostName = src.Identity
	}
	// The severity text is winlogbeat's log.level: Elastic's ECS mapping
	// mode writes the OTLP severity text to log.level.
	rec.SeverityNumber, _ = severity(ev)
	rec.SeverityText = logLevel(ev)
	attrs := ecsAttributes(src, ev, opts, rec.SeverityText, len(extra), sh)
	rec.Attributes = appendExtra(attrs, extra, ecsEnrichmentKey)
	return rec
}

// logLevel is the event's level as winlogbeat writes it: the rendered
// name, lower-cased, else the standard name of the level number. Security
// audit events are level 0, which Windows renders "Information".
func logLevel(ev *event.Event) string {
	if ev.Rendering != nil && ev.Rendering.Level != "" {
		return strings.ToLower(ev.Rendering.Level)
	}
	switch ev.Level {
	case 0, 4:
		return "information"
	case 1:
		return "critical"
	case 2:
		return "error"
	case 3:
		return "warning"
	case 5:
		return "verbose"
	}
	return ""
}

// taskName is the rendered task name, else the Security task's name, else
// the task number.
func taskName(ev *event.Event) string {
	if ev.Rendering != nil && ev.Rendering.Task != "" {
		return ev.Rendering.Task
	}
	if strings.EqualFold(ev.Channel, "Security") {
		if n, ok := securityTasks[ev.Task]; ok {
			return n
		}
	}
	if ev.Task == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(ev.Task), 10)
}

// opcodeName is the rendered opcode, else the name of the standard opcode
// 0, "Info" (winevt.h WINEVENT_OPCODE_INFO).
func opcodeName(ev *event.Event) string {
	if ev.Rendering != nil && ev.Rendering.Opcode != "" {
		return ev.Rendering.Opcode
	}
	if ev.Opcode == 0 {
		return "Info"
	}
	return strconv.FormatUint(uint64(ev.Opcode), 10)
}

// keywordNames are the rendered keywords, else the names of the audit
// keyword bits (winmeta.xml: 0x20000000000000 Audit Success,
// 0x10000000000000 Audit Failure), as winlogbeat renders them.
func keywordNames(ev *event.Event) []any {
	if ev.Rendering != nil && len(ev.Rendering.Keywords) > 0 {
		return stringsToAny(ev.Rendering.Keywords)
	}
	var kw []any
	if ev.AuditSuccess() {
		kw = append(kw, "Audit Success")
	}
	if ev.AuditFailure() {
		kw = append(kw, "Audit Failure")
	}
	return kw
}

// ecsAttributes builds the attributes of ev; level is logLevel(ev), which
// the record's severity text already holds.
func ecsAttributes(src record.Source, ev *event.Event, opts Options, level string, room int, sh *shared) []record.KV {
	attrs := make([]record.KV, 0, 48+room)
	add := func(key string, value any) { attrs = append(attrs, record.KV{Key: key, Value: value}) }
	addString := func(key, value string) {
		if value != "" {
			add(key, value)
		}
	}
	security := strings.EqualFold(ev.Channel, "Security")
	code := strconv.FormatUint(uint64(ev.EventID), 10)
	module, dataset := otherModule, otherDataset
	if security {
		module, dataset = securityModule, securityDataset
	}
	task := taskName(ev)
	outcome := ""
	switch {
	case ev.AuditFailure():
		outcome = "failure"
	case ev.AuditSuccess():
		outcome = "success"
	}

	add("ecs.version", ECSVersion)
	// event.id is ECS's unique event id; the same deterministic uid as
	// log.record.uid, so re-delivered events can be de-duplicated.
	add(ECSEventID, RecordUID(ev))
	add(ECSEventKind, "event")
	add(ECSEventModule, module)
	add(ECSEventDataset, dataset)
	add(ECSDataStreamType, "logs")
	add(ECSDataStreamSet, dataset)
	add(AttrEventCode, code)
	addString(AttrEventProvider, ev.Provider.Name)
	if ee, ok := elasticClassification(ev.EventID); ok && security {
		add(AttrEventAction, ee.action)
		add(AttrEventCategory, ee.category)
		add(AttrEventType, ee.kind)
	} else {
		addString(AttrEventAction, task)
	}
	addString(AttrEventOutcome, outcome)
	if !src.Received.IsZero() {
		add(ECSEventCreated, sh.eventCreated(src))
	}
	if ev.Rendering != nil && ev.Rendering.Message != "" {
		// winlogbeat keeps the whole rendered message, line breaks as \n.
		add(ECSMessage, strings.TrimSpace(strings.ReplaceAll(ev.Rendering.Message, "\r\n", "\n")))
	}

	addString("winlog.channel", ev.Channel)
	addString("winlog.computer_name", ev.Computer)
	add("winlog.event_id", code)
	addString("winlog.provider_name", ev.Provider.Name)
	addString("winlog.provider_guid", ev.Provider.GUID)
	if ev.HasRecordID {
		add("winlog.record_id", strconv.FormatUint(ev.RecordID, 10))
	}
	addString("winlog.task", task)
	addString("winlog.opcode", opcodeName(ev))
	if kw := keywordNames(ev); len(kw) > 0 {
		add("winlog.keywords", kw)
	}
	addString("winlog.level", level)
	addString("winlog.outcome", outcome)
	if ev.Version > 0 {
		add("winlog.version", int64(ev.Version))
	}
	if ev.Execution.HasProcessID {
		add("winlog.process.pid", int64(ev.Execution.ProcessID))
		add("winlog.process.thread.id", int64(ev.Execution.ThreadID))
	}
	if !ev.TimeCreated.IsZero() {
		add("winlog.time_created", ev.TimeCreated.UTC().Format(time.RFC3339Nano))
	}
	addString("winlog.activity_id", ev.ActivityID)
	addString("winlog.related_activity_id", ev.RelatedActivityID)
	addString("winlog.user.identifier", ev.UserID)

	// process.* first: what it takes out of event_data is not repeated
	// there, as the ingest pipeline removes what it moves.
	proc, moved := ecsProcess(ev, security)
	attrs = ecsEventData(attrs, ev, moved)
	if security {
		logon := "SubjectLogonId"
		switch ev.EventID {
		case 4634, 4647, 4964:
			logon = "TargetLogonId"
		}
		if v, ok := ev.DataValue(logon); ok && v != "" {
			add(ECSLogonID, v)
		}
	}
	attrs = append(attrs, proc...)
	if security {
		attrs = ecsUsers(attrs, ev)
	}

	return appendCollection(sh.appendSource(attrs, src), ev, opts.IncludeOriginal, ECSEventOriginal)
}

// eventCreated is ECS event.created: when the delivery was received.
func (s *shared) eventCreated(src record.Source) any {
	if s != nil && s.created != nil {
		return s.created
	}
	var created any = src.Received.UTC().Format(time.RFC3339Nano)
	if s != nil {
		s.created = created
	}
	return created
}

// ecsEventData appends winlog.event_data.<Name> for every EventData item
// with a value, except the names moved to process.*; unnamed items are
// param<N> and a repeated name keeps every value as eventData does.
func ecsEventData(attrs []record.KV, ev *event.Event, moved []string) []record.KV {
	seen := make(map[string]bool, len(ev.EventData))
next:
	for i, d := range ev.EventData {
		key := d.Name
		pos := strconv.Itoa(i + 1)
		if key == "" {
			key = "param" + pos
		}
		for _, m := range moved {
			if key == m {
				continue next
			}
		}
		if seen[key] {
			key += "_" + pos
		}
		seen[key] = true
		if d.Value == "" {
			continue
		}
		attrs = append(attrs, record.KV{Key: ECSEventData + key, Value: d.Value})
	}
	if ev.Binary != "" {
		attrs = append(attrs, record.KV{Key: ECSEventData + "Binary", Value: ev.Binary})
	}
	return attrs
}

// ecsProcess returns the process.* fields the ingest pipeline derives and
// the EventData names it moves out of winlog.event_data. A value that is
// not a number stays where it is, without a process.pid.
func ecsProcess(ev *event.Event, security bool) (proc []record.KV, moved []string) {
	if !security {
		return nil, nil
	}
	add := func(key string, value any) { proc = append(proc, record.KV{Key: key, Value: value}) }
	pidFrom := func(key, name string) {
		if v, ok := ev.DataValue(name); ok {
			if pid, ok := ParseWindowsInt(v); ok {
				add(key, pid)
				moved = append(moved, name)
			}
		}
	}
	imageFrom := func(exeKey, nameKey, name string) {
		if v, ok := ev.DataValue(name); ok && v != "" {
			add(exeKey, v)
			add(nameKey, windowsBase(v))
			moved = append(moved, name)
		}
	}
	switch {
	case processMovedEvent(ev.EventID):
		pidFrom(ECSProcessPID, "ProcessId")
		imageFrom(ECSProcessExe, ECSProcessName, "ProcessName")
	case ev.EventID == 4688:
		pidFrom(ECSProcessPID, "NewProcessId")
		imageFrom(ECSProcessExe, ECSProcessName, "NewProcessName")
		imageFrom("process.parent.executable", "process.parent.name", "ParentProcessName")
		// ProcessId (the creator) is copied, not moved.
		if v, ok := ev.DataValue("ProcessId"); ok {
			if pid, ok := ParseWindowsInt(v); ok {
				add("process.parent.pid", pid)
			}
		}
		if cl, ok := ev.DataValue("CommandLine"); ok && cl != "" {
			add("process.command_line", cl)
			add("process.args", stringsToAny(commandLineArgs(cl)))
		}
	}
	return proc, moved
}

// ecsUsers appends user.*, user.effective.* (4688) and related.user as
// the ingest pipeline derives them from the Subject and Target fields.
func ecsUsers(attrs []record.KV, ev *event.Event) []record.KV {
	var related []any
	relate := func(name string) {
		if name == "" || name == "-" {
			return
		}
		for _, r := range related {
			if r == name {
				return
			}
		}
		related = append(related, name)
	}
	add := func(key, name string) {
		if v, ok := ev.DataValue(name); ok && v != "" {
			attrs = append(attrs, record.KV{Key: key, Value: v})
		}
	}
	if subjectUserEvent(ev.EventID) {
		add("user.id", "SubjectUserSid")
		add("user.name", "SubjectUserName")
		add("user.domain", "SubjectDomainName")
		v, _ := ev.DataValue("SubjectUserName")
		relate(v)
	}
	if ev.EventID == 4688 {
		for _, f := range [][2]string{{"user.effective.id", "TargetUserSid"}, {"user.effective.name", "TargetUserName"}, {"user.effective.domain", "TargetDomainName"}} {
			if v, ok := ev.DataValue(f[1]); ok && v != "" && v != "-" {
				attrs = append(attrs, record.KV{Key: f[0], Value: v})
			}
		}
		v, _ := ev.DataValue("TargetUserName")
		relate(v)
	}
	if len(related) > 0 {
		attrs = append(attrs, record.KV{Key: ECSRelatedUser, Value: related})
	}
	return attrs
}

// commandLineArgs splits a command line at white space outside double
// quotes, quotes kept, as the ingest pipeline fills process.args.
func commandLineArgs(cl string) []string {
	var args []string
	start, quoted := 0, false
	for i := 0; i < len(cl); i++ {
		switch c := cl[i]; {
		case c == '"':
			quoted = !quoted
		case (c == ' ' || c == '\t' || c == '\n' || c == '\r') && !quoted:
			args = append(args, cl[start:i])
			start = i + 1
		}
	}
	return append(args, cl[start:])
}

// windowsBase is the last element of a Windows path.
func windowsBase(path string) string {
	if i := strings.LastIndexAny(path, `\/`); i >= 0 {
		return path[i+1:]
	}
	return path
}

// ecsEnrichmentKey names an enrichment attribute in the ecs schema: keys
// already below winlog stay; every other key moves below winlog.handle,
// with ECS's spelling of the executable fields (process.executable.path →
// winlog.handle.process.executable, process.executable.name →
// winlog.handle.process.name). So an enrichment value never lands in an
// ECS field Elastic fills from the event (process.executable is a keyword
// there, which a process.executable.path object would conflict with).
func ecsEnrichmentKey(key string) string {
	if strings.HasPrefix(key, "winlog.") {
		return key
	}
	switch {
	case strings.HasSuffix(key, ".executable.path"):
		key = strings.TrimSuffix(key, ".path")
	case strings.HasSuffix(key, ".executable.name"):
		key = strings.TrimSuffix(key, ".executable.name") + ".name"
	}
	return ECSEnrichmentPrefix + key
}

// appendExtra appends the enrichment attributes after the mapped ones,
// renamed by rename when it is set. An enrichment attribute whose key the
// mapping already set is left out: enrichment adds, it never replaces a
// field read from the event.
func appendExtra(attrs, extra []record.KV, rename func(string) string) []record.KV {
	mapped := len(attrs)
next:
	for _, kv := range extra {
		if rename != nil {
			kv.Key = rename(kv.Key)
		}
		for _, m := range attrs[:mapped] {
			if m.Key == kv.Key {
				continue next
			}
		}
		attrs = append(attrs, kv)
	}
	return attrs
}

// Data stream of the noise summary records in the ecs schema: their own,
// so that counts never mix with the Windows events of system.security.
const (
	summaryModule  = "wefgate"
	summaryDataset = "wefgate.handles_noise"
)

// MapSummary puts a record wefgate made itself (a handle-noise summary:
// body message/image/object_type/duplicates/closes, enrichment-style
// attributes) into opts.Schema. otel records are returned as they are; in
// ecs, event.kind is "metric", the record goes to its own data stream, the
// body's message becomes message, and every attribute but host.name moves
// below winlog.handle as enrichment attributes do.
func MapSummary(rec record.Record, opts Options) record.Record {
	if opts.Schema != SchemaECS {
		return rec
	}
	attrs := make([]record.KV, 0, len(rec.Attributes)+10)
	add := func(k string, v any) { attrs = append(attrs, record.KV{Key: k, Value: v}) }
	add("ecs.version", ECSVersion)
	add(ECSEventKind, "metric")
	add(ECSEventModule, summaryModule)
	add(ECSEventDataset, summaryDataset)
	add(ECSDataStreamType, "logs")
	add(ECSDataStreamSet, summaryDataset)
	if m, ok := rec.Body["message"].(string); ok && m != "" {
		add(ECSMessage, m)
	}
	for _, kv := range rec.Attributes {
		if kv.Key != "host.name" {
			kv.Key = ecsEnrichmentKey(kv.Key)
		}
		attrs = append(attrs, kv)
	}
	rec.Attributes = attrs
	rec.Body = nil
	rec.SeverityText = "information"
	return rec
}
