package eventfile

import (
	"slices"
	"strings"
	"testing"
	"time"

	"wefgate/wef/event"
)

// The same 4658 as each shipper writes it. The shapes follow the shippers'
// documented output: winlogbeat 6.x (fields at the top level, record_number
// as text, keywords by name), winlogbeat 7.x (ECS, fields under winlog,
// numeric event_id), winlogbeat 8.x/9.x (event_id and record_id as text),
// OTRF/Mordor (flattened, hex Keywords) and nxlog im_msvistalog
// (flattened, signed Keywords, EventType).
var shapeLines = []struct {
	shape string
	line  string
}{
	{"winlogbeat 6", `{"@timestamp":"2023-07-19T12:22:16.527Z","beat":{"hostname":"DC01","name":"DC01","version":"6.8.23"},"computer_name":"DC01.pandalab.com","event_data":{"SubjectUserSid":"S-1-5-18","SubjectUserName":"DC01$","SubjectDomainName":"PANDALAB","SubjectLogonId":"0x3e7","ObjectServer":"Security","HandleId":"0xe88","ProcessId":"0xb4c","ProcessName":"C:\\Windows\\System32\\cmd.exe"},"event_id":4658,"keywords":["Audit Success"],"level":"Information","log_name":"Security","message":"The handle to an object was closed.","opcode":"Info","process_id":4,"provider_guid":"{54849625-5478-4994-a5ba-3e3b0328c30d}","record_number":"123456","source_name":"Microsoft-Windows-Security-Auditing","task":"File System","thread_id":5120,"type":"wineventlog"}`},
	{"winlogbeat 7", `{"@timestamp":"2023-07-19T12:22:16.527Z","agent":{"type":"winlogbeat","version":"7.17.18"},"ecs":{"version":"1.12.0"},"event":{"action":"File System","code":4658,"kind":"event","outcome":"success","provider":"Microsoft-Windows-Security-Auditing"},"host":{"name":"DC01.pandalab.com"},"log":{"level":"information"},"message":"The handle to an object was closed.","winlog":{"api":"wineventlog","channel":"Security","computer_name":"DC01.pandalab.com","event_data":{"SubjectUserSid":"S-1-5-18","SubjectUserName":"DC01$","SubjectDomainName":"PANDALAB","SubjectLogonId":"0x3e7","ObjectServer":"Security","HandleId":"0xe88","ProcessId":"0xb4c","ProcessName":"C:\\Windows\\System32\\cmd.exe"},"event_id":4658,"keywords":["Audit Success"],"opcode":"Info","process":{"pid":4,"thread":{"id":5120}},"provider_guid":"{54849625-5478-4994-a5ba-3e3b0328c30d}","provider_name":"Microsoft-Windows-Security-Auditing","record_id":123456,"task":"File System"}}`},
	{"winlogbeat 8", `{"@timestamp":"2023-07-19T12:22:16.527Z","agent":{"type":"winlogbeat","version":"8.13.4"},"ecs":{"version":"8.0.0"},"event":{"action":"File System","code":"4658","created":"2023-07-19T12:22:17.001Z","kind":"event","outcome":"success","provider":"Microsoft-Windows-Security-Auditing"},"host":{"name":"dc01.pandalab.com"},"log":{"level":"information"},"message":"The handle to an object was closed.","winlog":{"api":"wineventlog","channel":"Security","computer_name":"DC01.pandalab.com","event_data":{"SubjectUserSid":"S-1-5-18","SubjectUserName":"DC01$","SubjectDomainName":"PANDALAB","SubjectLogonId":"0x3e7","ObjectServer":"Security","HandleId":"0xe88","ProcessId":"0xb4c","ProcessName":"C:\\Windows\\System32\\cmd.exe"},"event_id":"4658","keywords":["Audit Success"],"opcode":"Info","process":{"pid":4,"thread":{"id":5120}},"provider_guid":"{54849625-5478-4994-a5ba-3e3b0328c30d}","provider_name":"Microsoft-Windows-Security-Auditing","record_id":"123456","task":"File System"}}`},
	{"winlogbeat 9", `{"@timestamp":"2023-07-19T12:22:16.527Z","@metadata":{"beat":"winlogbeat","type":"_doc","version":"9.0.1"},"agent":{"type":"winlogbeat","version":"9.0.1"},"ecs":{"version":"8.17.0"},"event":{"action":"File System","code":"4658","created":"2023-07-19T12:22:17.001Z","kind":"event","outcome":"success","provider":"Microsoft-Windows-Security-Auditing"},"host":{"name":"dc01.pandalab.com","os":{"family":"windows"}},"log":{"level":"information"},"message":"The handle to an object was closed.","winlog":{"api":"wineventlog","channel":"Security","computer_name":"DC01.pandalab.com","event_data":{"SubjectUserSid":"S-1-5-18","SubjectUserName":"DC01$","SubjectDomainName":"PANDALAB","SubjectLogonId":"0x3e7","ObjectServer":"Security","HandleId":"0xe88","ProcessId":"0xb4c","ProcessName":"C:\\Windows\\System32\\cmd.exe"},"event_id":"4658","keywords":["Audit Success"],"opcode":"Info","process":{"pid":4,"thread":{"id":5120}},"provider_guid":"{54849625-5478-4994-a5ba-3e3b0328c30d}","provider_name":"Microsoft-Windows-Security-Auditing","record_id":"123456","task":"File System"}}`},
	{"OTRF", `{"SourceName":"Microsoft-Windows-Security-Auditing","ProviderGuid":"{54849625-5478-4994-a5ba-3e3b0328c30d}","Level":"0","Keywords":"0x8020000000000000","Channel":"Security","Hostname":"DC01.pandalab.com","TimeCreated":"2023-07-19T12:22:16.527Z","@timestamp":"2023-07-19T12:22:16.527Z","EventID":4658,"Message":"The handle to an object was closed.","Task":"12800","EventRecordID":"123456","ExecutionProcessID":"4","ExecutionThreadID":"5120","SubjectUserSid":"S-1-5-18","SubjectUserName":"DC01$","SubjectDomainName":"PANDALAB","SubjectLogonId":"0x3e7","ObjectServer":"Security","HandleId":"0xe88","ProcessId":"0xb4c","ProcessName":"C:\\Windows\\System32\\cmd.exe"}`},
	{"nxlog", `{"EventTime":"2023-07-19 12:22:16.527","Hostname":"DC01.pandalab.com","Keywords":-9214364837600034816,"EventType":"AUDIT_SUCCESS","SeverityValue":2,"Severity":"INFO","EventID":4658,"SourceName":"Microsoft-Windows-Security-Auditing","ProviderGuid":"{54849625-5478-4994-a5ba-3e3b0328c30d}","Version":0,"Task":12800,"OpcodeValue":0,"RecordNumber":123456,"ExecutionProcessID":4,"ThreadID":5120,"Channel":"security","Message":"The handle to an object was closed.","Category":"File System","Opcode":"Info","SubjectUserSid":"S-1-5-18","SubjectUserName":"DC01$","SubjectDomainName":"PANDALAB","SubjectLogonId":"0x3e7","ObjectServer":"Security","HandleId":"0xe88","ProcessId":"0xb4c","ProcessName":"C:\\Windows\\System32\\cmd.exe","EventReceivedTime":"2023-07-19 12:22:17","SourceModuleName":"in","SourceModuleType":"im_msvistalog"}`},
}

// TestReadJSONShapes reads the same 4658 in every supported shipper shape
// and checks that the replayed event XML carries the same System fields
// and event data.
func TestReadJSONShapes(t *testing.T) {
	wantData := []event.Data{
		{Name: "SubjectUserSid", Value: "S-1-5-18"}, {Name: "SubjectUserName", Value: "DC01$"},
		{Name: "SubjectDomainName", Value: "PANDALAB"}, {Name: "SubjectLogonId", Value: "0x3e7"},
		{Name: "ObjectServer", Value: "Security"}, {Name: "HandleId", Value: "0xe88"},
		{Name: "ProcessId", Value: "0xb4c"}, {Name: "ProcessName", Value: `C:\Windows\System32\cmd.exe`},
	}
	wantTime := time.Date(2023, 7, 19, 12, 22, 16, 527_000_000, time.UTC)
	for _, tc := range shapeLines {
		t.Run(tc.shape, func(t *testing.T) {
			events, err := Read(strings.NewReader(tc.line+"\n"), FormatAuto)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 {
				t.Fatalf("%d events, want 1", len(events))
			}
			ev := event.Parse([]byte(events[0]))
			if ev.Problem != nil {
				t.Fatalf("replayed XML damaged: %+v\n%s", ev.Problem, events[0])
			}
			if ev.EventID != 4658 {
				t.Errorf("EventID %d", ev.EventID)
			}
			if !ev.HasRecordID || ev.RecordID != 123456 {
				t.Errorf("EventRecordID %d (present %v), want 123456", ev.RecordID, ev.HasRecordID)
			}
			if ev.Computer != "DC01.pandalab.com" {
				t.Errorf("Computer %q", ev.Computer)
			}
			if ev.Channel != "Security" {
				t.Errorf("Channel %q", ev.Channel)
			}
			if ev.Provider.Name != "Microsoft-Windows-Security-Auditing" || ev.Provider.GUID != "{54849625-5478-4994-a5ba-3e3b0328c30d}" {
				t.Errorf("Provider %+v", ev.Provider)
			}
			if ev.Keywords != 0x8020000000000000 || !ev.AuditSuccess() {
				t.Errorf("Keywords %#x (%q), want 0x8020000000000000", ev.Keywords, ev.KeywordsRaw)
			}
			if ev.Level != 0 || ev.Opcode != 0 {
				t.Errorf("Level %d Opcode %d, want 0 0 (a Security audit event)", ev.Level, ev.Opcode)
			}
			if !ev.TimeCreated.Equal(wantTime) {
				t.Errorf("TimeCreated %v, want %v", ev.TimeCreated, wantTime)
			}
			if !ev.Execution.HasProcessID || ev.Execution.ProcessID != 4 || ev.Execution.ThreadID != 5120 {
				t.Errorf("Execution %+v", ev.Execution)
			}
			if !slices.Equal(ev.EventData, wantData) {
				t.Errorf("EventData\n got %q\nwant %q", ev.EventData, wantData)
			}
			if ev.Rendering == nil || ev.Rendering.Message != "The handle to an object was closed." {
				t.Errorf("Rendering %+v", ev.Rendering)
			}
		})
	}
}

// TestReadJSONShapesFailure checks the audit failure keyword in every
// winlogbeat shape.
func TestReadJSONShapesFailure(t *testing.T) {
	for _, tc := range shapeLines[:4] {
		t.Run(tc.shape, func(t *testing.T) {
			line := strings.Replace(tc.line, `"keywords":["Audit Success"]`, `"keywords":["Audit Failure"]`, 1)
			events, err := Read(strings.NewReader(line), FormatJSONLines)
			if err != nil {
				t.Fatal(err)
			}
			ev := event.Parse([]byte(events[0]))
			if ev.Keywords != 0x8010000000000000 || !ev.AuditFailure() {
				t.Errorf("Keywords %#x, want 0x8010000000000000", ev.Keywords)
			}
		})
	}
}

// TestReadJSONShapeErrors checks that a line the reader cannot use is named
// with the field it lacks.
func TestReadJSONShapeErrors(t *testing.T) {
	good := shapeLines[0].line
	tests := []struct {
		name  string
		in    string
		inErr []string
	}{
		{"no event id at all", good + "\n" + `{"Hostname":"x","Channel":"Security"}`,
			[]string{"line 2", "EventID", "winlog.event_id"}},
		{"winlogbeat 8 without winlog.event_id", strings.NewReplacer(`"event_id":"4658",`, "", `"code":"4658",`, "").Replace(shapeLines[2].line),
			[]string{"line 1", "winlog.event_id"}},
		{"event id not a number", `{"winlog":{"event_id":"x4658","channel":"Security"}}`,
			[]string{"line 1", "winlog.event_id", `"x4658"`, "not a number"}},
		{"record id not a number", strings.Replace(shapeLines[2].line, `"record_id":"123456"`, `"record_id":"abc"`, 1),
			[]string{"line 1", "winlog.record_id", `"abc"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), FormatAuto)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.inErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want one mentioning %q", err, s)
				}
			}
		})
	}
}

// TestReadJSONWinlogbeatUnknownEvent checks that, for an event without a
// known schema, only winlogbeat's event_data members become event data,
// not the shipper's own fields.
func TestReadJSONWinlogbeatUnknownEvent(t *testing.T) {
	line := `{"@timestamp":"2024-01-02T03:04:05Z","message":"m","winlog":{"channel":"Application","computer_name":"h","event_id":"9999","provider_name":"App","record_id":"7","api":"wineventlog","keywords":["Classic"],"event_data":{"Zeta":"z","Alpha":"1"}},"host":{"name":"h"}}`
	events, err := Read(strings.NewReader(line), FormatJSONLines)
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Parse([]byte(events[0]))
	want := []event.Data{{Name: "Zeta", Value: "z"}, {Name: "Alpha", Value: "1"}}
	if !slices.Equal(ev.EventData, want) {
		t.Errorf("EventData %q, want %q", ev.EventData, want)
	}
	if ev.Channel != "Application" || ev.Provider.Name != "App" || ev.RecordID != 7 || ev.Keywords != 0x0080000000000000 {
		t.Errorf("System: %+v", ev)
	}
}
