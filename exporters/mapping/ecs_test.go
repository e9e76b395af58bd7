package mapping

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"wefgate/record"
	"wefgate/wef/event"
)

// event4660 is an object deletion (Raw content format), version 0.
func event4660() *event.Event {
	return &event.Event{
		Provider:    event.Provider{Name: "Microsoft-Windows-Security-Auditing", GUID: "{54849625-5478-4994-A5BA-3E3B0328C30D}"},
		EventID:     4660,
		Task:        12801,
		Keywords:    0x8020000000000000,
		KeywordsRaw: "0x8020000000000000",
		SystemTime:  "2026-11-20T10:00:03.25Z",
		TimeCreated: time.Date(2026, 11, 20, 10, 0, 3, 250000000, time.UTC),
		RecordID:    9217080, HasRecordID: true,
		Execution: event.Execution{ProcessID: 4, ThreadID: 7000, HasProcessID: true},
		Channel:   "Security",
		Computer:  "FS03.corp.example",
		EventData: []event.Data{
			{Name: "SubjectUserSid", Value: "S-1-5-21-1-2-3-500"},
			{Name: "SubjectUserName", Value: "Administrator"},
			{Name: "SubjectDomainName", Value: "CORP"},
			{Name: "SubjectLogonId", Value: "0x56b3a"},
			{Name: "ObjectServer", Value: "Security"},
			{Name: "HandleId", Value: "0x1d0"},
			{Name: "ProcessId", Value: "0x150"},
			{Name: "ProcessName", Value: `C:\Windows\System32\taskhostw.exe`},
			{Name: "TransactionId", Value: "{00000000-0000-0000-0000-000000000000}"},
		},
		Raw: "<Event>4660</Event>",
	}
}

// TestMapECSFieldByField compares the whole ecs record of a 4658, a 4690
// and a 4660 with what the references say winlogbeat and Elastic's
// Windows security ingest pipeline store for the same event:
//   - ECS field reference (8.11): event.kind "event", event.code a keyword
//     string, event.outcome success|failure, event.category/type arrays,
//     related.user an array, process.pid a long;
//   - winlogbeat "winlog" field reference: winlog.event_id and
//     winlog.record_id keywords (strings), winlog.event_data.<Name> as
//     sent, winlog.keywords the keyword names, winlog.opcode the opcode
//     name, winlog.task the task name, winlog.process.pid/thread.id the
//     Execution attributes, log.level the lower-cased level name;
//   - the system integration's Security pipeline and its fixtures
//     test-4658/4660/4690.json-expected.json: actions
//     handle-closed-object, duplicate-handle-attempt and object-deleted
//     with their category/type, winlog.logon.id = SubjectLogonId,
//     user.id/name/domain and related.user from the Subject, and for
//     4658/4660 ProcessId (hex → decimal) and ProcessName moved from
//     event_data to process.pid/executable/name; a 4690 gets no process.*.
func TestMapECSFieldByField(t *testing.T) {
	src := testSource()
	common := func(code string) map[string]any {
		return map[string]any{
			"ecs.version":           "8.11.0",
			"event.kind":            "event",
			"event.module":          "system",
			"event.dataset":         "system.security",
			"data_stream.type":      "logs",
			"data_stream.dataset":   "system.security",
			"event.code":            code,
			"event.provider":        "Microsoft-Windows-Security-Auditing",
			"event.outcome":         "success",
			"event.created":         "2026-11-21T06:00:00.123456789Z",
			"winlog.channel":        "Security",
			"winlog.event_id":       code,
			"winlog.provider_name":  "Microsoft-Windows-Security-Auditing",
			"winlog.provider_guid":  "{54849625-5478-4994-A5BA-3E3B0328C30D}",
			"winlog.opcode":         "Info",
			"winlog.keywords":       []any{"Audit Success"},
			"winlog.level":          "information",
			"winlog.outcome":        "success",
			"winlog.process.pid":    int64(4),
			"wef.host.identity":     "ws01.corp.example",
			"wef.machine_id":        "WS01.corp.example",
			"wef.subscription.name": "handles",
			"wef.subscription.id":   "0f9a3b52-4c3e-4b1c-9d8e-7a6b5c4d3e2f",
			"client.address":        "192.0.2.10",
		}
	}
	with := func(m map[string]any, more map[string]any) map[string]any {
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		ev       *event.Event
		host     string
		want     map[string]any
		wantGone []string
	}{
		{"4658", event4658(), "ws01.corp.example", with(common("4658"), map[string]any{
			"event.action":                        "handle-closed-object",
			"event.category":                      []any{"iam", "configuration"},
			"event.type":                          []any{"change"},
			"message":                             "The handle to an object was closed.\n\nSubject :\n\tSecurity ID:\t\tS-1-5-18",
			"winlog.computer_name":                "ws01.corp.example",
			"winlog.record_id":                    "9217075",
			"winlog.task":                         "Kernel Object",
			"winlog.process.thread.id":            int64(456),
			"winlog.time_created":                 "2026-11-20T10:00:02.0000001Z",
			"winlog.activity_id":                  "{B0A3C5D1-0000-0000-0000-000000000000}",
			"winlog.event_data.SubjectUserSid":    "S-1-5-18",
			"winlog.event_data.SubjectUserName":   "WS01$",
			"winlog.event_data.SubjectDomainName": "CORP",
			"winlog.event_data.SubjectLogonId":    "0x3e7",
			"winlog.event_data.ObjectServer":      "Security",
			"winlog.event_data.HandleId":          "0x11c0",
			"winlog.logon.id":                     "0x3e7",
			"process.pid":                         int64(0x1e20),
			"process.executable":                  `C:\Tools\mimikatz.exe`,
			"process.name":                        "mimikatz.exe",
			"user.id":                             "S-1-5-18",
			"user.name":                           "WS01$",
			"user.domain":                         "CORP",
			"related.user":                        []any{"WS01$"},
		}), []string{"winlog.event_data.ProcessId", "winlog.event_data.ProcessName"}},
		{"4690", event4690(), "WS01.corp.example", with(common("4690"), map[string]any{
			"event.action":                        "duplicate-handle-attempt",
			"event.category":                      []any{"process"},
			"event.type":                          []any{"access"},
			"winlog.computer_name":                "WS01.corp.example",
			"winlog.record_id":                    "9217074",
			"winlog.task":                         "Handle Manipulation",
			"winlog.process.thread.id":            int64(456),
			"winlog.time_created":                 "2026-11-20T10:00:01.5166341Z",
			"winlog.event_data.SubjectUserSid":    "S-1-5-21-1-2-3-1111",
			"winlog.event_data.SubjectUserName":   "admmig",
			"winlog.event_data.SubjectDomainName": "OFFSEC",
			"winlog.event_data.SubjectLogonId":    "0xe922e",
			"winlog.event_data.SourceHandleId":    "0x274",
			"winlog.event_data.SourceProcessId":   "0x1e20",
			"winlog.event_data.TargetHandleId":    "0x11c0",
			"winlog.event_data.TargetProcessId":   "0x4",
			"winlog.logon.id":                     "0xe922e",
			"user.id":                             "S-1-5-21-1-2-3-1111",
			"user.name":                           "admmig",
			"user.domain":                         "OFFSEC",
			"related.user":                        []any{"admmig"},
		}), []string{"process.pid", "process.executable", "process.name", "message"}},
		{"4660", event4660(), "FS03.corp.example", with(common("4660"), map[string]any{
			"event.action":                        "object-deleted",
			"event.category":                      []any{"file", "registry"},
			"event.type":                          []any{"deletion"},
			"winlog.computer_name":                "FS03.corp.example",
			"winlog.record_id":                    "9217080",
			"winlog.task":                         "Registry",
			"winlog.process.thread.id":            int64(7000),
			"winlog.time_created":                 "2026-11-20T10:00:03.25Z",
			"winlog.event_data.SubjectUserSid":    "S-1-5-21-1-2-3-500",
			"winlog.event_data.SubjectUserName":   "Administrator",
			"winlog.event_data.SubjectDomainName": "CORP",
			"winlog.event_data.SubjectLogonId":    "0x56b3a",
			"winlog.event_data.ObjectServer":      "Security",
			"winlog.event_data.HandleId":          "0x1d0",
			"winlog.event_data.TransactionId":     "{00000000-0000-0000-0000-000000000000}",
			"winlog.logon.id":                     "0x56b3a",
			"process.pid":                         int64(336),
			"process.executable":                  `C:\Windows\System32\taskhostw.exe`,
			"process.name":                        "taskhostw.exe",
			"user.id":                             "S-1-5-21-1-2-3-500",
			"user.name":                           "Administrator",
			"user.domain":                         "CORP",
			"related.user":                        []any{"Administrator"},
		}), []string{"winlog.event_data.ProcessId", "winlog.event_data.ProcessName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := Map(src, tt.ev, nil, Options{Schema: SchemaECS})
			tt.want["event.id"] = RecordUID(tt.ev)
			got := map[string]any{}
			for _, kv := range rec.Attributes {
				if _, dup := got[kv.Key]; dup {
					t.Errorf("attribute %s set twice", kv.Key)
				}
				got[kv.Key] = kv.Value
			}
			for _, k := range sortedKeys(tt.want) {
				if !reflect.DeepEqual(got[k], tt.want[k]) {
					t.Errorf("%s = %#v, want %#v", k, got[k], tt.want[k])
				}
			}
			for _, k := range sortedKeys(got) {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected attribute %s = %#v", k, got[k])
				}
			}
			for _, k := range tt.wantGone {
				if _, ok := got[k]; ok {
					t.Errorf("%s present; Elastic does not set it for %s", k, tt.name)
				}
			}
			if rec.HostName != tt.host || rec.SeverityText != "information" || rec.SeverityNumber != 9 {
				t.Errorf("host %q severity %d %q", rec.HostName, rec.SeverityNumber, rec.SeverityText)
			}
			if len(rec.Body) != 0 {
				t.Errorf("ecs record has a body: %v", rec.Body)
			}
			if rec.EventName != "windows.security."+tt.name {
				t.Errorf("EventName %q", rec.EventName)
			}
		})
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestMapECSEnrichment checks that enrichment attributes keep their own
// namespace: in ecs they move below winlog.handle with ECS spellings, and
// in both schemas a key the mapping set is never overwritten.
func TestMapECSEnrichment(t *testing.T) {
	extra := []record.KV{
		{Key: "winlog.handle.object.name", Value: `\Device\HarddiskVolume4\Windows\System32\lsass.exe`},
		{Key: "process.executable.path", Value: `C:\Tools\mimikatz.exe`},
		{Key: "process.executable.name", Value: "mimikatz.exe"},
		{Key: "process.parent.executable.path", Value: `C:\Windows\explorer.exe`},
		{Key: "process.parent.pid", Value: int64(100)},
		{Key: "file.path", Value: `C:\x`},
		{Key: "event.code", Value: "0"},
	}
	ecs := Map(testSource(), event4690(), extra, Options{Schema: SchemaECS})
	for k, want := range map[string]any{
		"winlog.handle.object.name":               `\Device\HarddiskVolume4\Windows\System32\lsass.exe`,
		"winlog.handle.process.executable":        `C:\Tools\mimikatz.exe`,
		"winlog.handle.process.name":              "mimikatz.exe",
		"winlog.handle.process.parent.executable": `C:\Windows\explorer.exe`,
		"winlog.handle.process.parent.pid":        int64(100),
		"winlog.handle.file.path":                 `C:\x`,
		"winlog.handle.event.code":                "0",
		"event.code":                              "4690",
	} {
		if v, ok := ecs.Attribute(k); !ok || v != want {
			t.Errorf("ecs %s = %#v, want %#v", k, v, want)
		}
	}
	for _, kv := range ecs.Attributes {
		if strings.HasPrefix(kv.Key, "process.") || strings.HasPrefix(kv.Key, "file.") {
			t.Errorf("ecs 4690 carries %s from enrichment", kv.Key)
		}
	}
	otel := Map(testSource(), event4658(), []record.KV{{Key: AttrProcessPath, Value: "other"}, {Key: "x", Value: "y"}}, Options{})
	if v, _ := otel.Attribute(AttrProcessPath); v != `C:\Tools\mimikatz.exe` {
		t.Errorf("otel: enrichment overwrote process.executable.path: %v", v)
	}
	if v, _ := otel.Attribute("x"); v != "y" {
		t.Errorf("otel: enrichment attribute x dropped: %v", v)
	}
}

// TestMapECSHelperEvents checks the helper events Elastic maps
// differently: 4688 (process.* from NewProcess*, parent from ProcessId
// and ParentProcessName, user.effective from Target*), 4689 (process.*
// moved) and 4656/4663/4661 (event_data intact, event.action the task
// name, no user.* or process.*).
func TestMapECSHelperEvents(t *testing.T) {
	base := func(id uint32, task uint16, data ...string) *event.Event {
		ev := event4690()
		ev.EventID, ev.Task, ev.Version = id, task, 1
		ev.EventData = nil
		for i := 0; i+1 < len(data); i += 2 {
			ev.EventData = append(ev.EventData, event.Data{Name: data[i], Value: data[i+1]})
		}
		return ev
	}
	tests := []struct {
		name   string
		ev     *event.Event
		want   map[string]any
		absent []string
	}{
		{"4688", base(4688, 13312, "SubjectUserName", "admmig", "SubjectLogonId", "0x3e7", "NewProcessId", "0x1e20",
			"NewProcessName", `C:\Tools\mimikatz.exe`, "ProcessId", "0x10", "CommandLine", `"C:\Tools\mimikatz.exe" "sekurlsa::logonpasswords" exit`,
			"TargetUserName", "-", "ParentProcessName", `C:\Windows\System32\cmd.exe`), map[string]any{
			"event.action":                "created-process",
			"process.pid":                 int64(0x1e20),
			"process.executable":          `C:\Tools\mimikatz.exe`,
			"process.name":                "mimikatz.exe",
			"process.parent.pid":          int64(16),
			"process.parent.executable":   `C:\Windows\System32\cmd.exe`,
			"process.parent.name":         "cmd.exe",
			"process.command_line":        `"C:\Tools\mimikatz.exe" "sekurlsa::logonpasswords" exit`,
			"process.args":                []any{`"C:\Tools\mimikatz.exe"`, `"sekurlsa::logonpasswords"`, "exit"},
			"winlog.event_data.ProcessId": "0x10",
			"winlog.task":                 "Process Creation",
			"winlog.version":              int64(1),
			"user.name":                   "admmig",
			"related.user":                []any{"admmig"},
		}, []string{"winlog.event_data.NewProcessId", "winlog.event_data.NewProcessName", "winlog.event_data.ParentProcessName", "user.effective.name"}},
		{"4689", base(4689, 13313, "SubjectUserName", "admmig", "Status", "0x0", "ProcessId", "0x1e20", "ProcessName", `C:\Tools\mimikatz.exe`), map[string]any{
			"event.action":             "exited-process",
			"process.pid":              int64(0x1e20),
			"process.executable":       `C:\Tools\mimikatz.exe`,
			"winlog.event_data.Status": "0x0",
		}, []string{"winlog.event_data.ProcessId", "winlog.event_data.ProcessName"}},
		{"4656", base(4656, 12802, "SubjectUserName", "admmig", "SubjectLogonId", "0xe922e", "ObjectType", "Process", "ObjectName", `\Device\HarddiskVolume4\Windows\System32\lsass.exe`,
			"AccessMask", "0x1010", "ProcessId", "0x1e20", "ProcessName", `C:\Tools\mimikatz.exe`, "TransactionId", ""), map[string]any{
			"event.action":                  "Kernel Object",
			"winlog.event_data.ObjectName":  `\Device\HarddiskVolume4\Windows\System32\lsass.exe`,
			"winlog.event_data.AccessMask":  "0x1010",
			"winlog.event_data.ProcessId":   "0x1e20",
			"winlog.event_data.ProcessName": `C:\Tools\mimikatz.exe`,
			"winlog.logon.id":               "0xe922e",
		}, []string{"process.pid", "user.name", "related.user", "event.category", "winlog.event_data.TransactionId"}},
		{"4661 other task number", base(4661, 14080, "ObjectType", "SAM_USER"), map[string]any{
			"event.action": "Directory Service Access",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := Map(testSource(), tt.ev, nil, Options{Schema: SchemaECS, IncludeOriginal: true})
			for k, want := range tt.want {
				if v, _ := rec.Attribute(k); !reflect.DeepEqual(v, want) {
					t.Errorf("%s = %#v, want %#v", k, v, want)
				}
			}
			for _, k := range tt.absent {
				if v, ok := rec.Attribute(k); ok {
					t.Errorf("%s = %#v, want absent", k, v)
				}
			}
			if v, _ := rec.Attribute(ECSEventOriginal); v != tt.ev.Raw {
				t.Errorf("event.original = %v", v)
			}
		})
	}
}

func TestCommandLineArgs(t *testing.T) {
	for in, want := range map[string][]string{
		`a b`:               {"a", "b"},
		`"C:\a b\x.exe" -y`: {`"C:\a b\x.exe"`, "-y"},
		`x`:                 {"x"},
		`cmd  /c`:           {"cmd", "", "/c"},
	} {
		if got := commandLineArgs(in); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestSchemaConfig(t *testing.T) {
	for _, tt := range []struct {
		in      Schema
		want    Schema
		wantErr bool
	}{{"", SchemaOTel, false}, {"otel", SchemaOTel, false}, {"ecs", SchemaECS, false}, {"ECS", "", true}} {
		c := Config{Schema: tt.in}
		err := c.Validate()
		if (err != nil) != tt.wantErr || (err == nil && c.Schema != tt.want) {
			t.Errorf("%q: %v %q", tt.in, err, c.Schema)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "schema:") {
			t.Errorf("error %q does not name the key", err)
		}
	}
	if d := DefaultConfig(); d.Schema != SchemaOTel {
		t.Errorf("default %q", d.Schema)
	}
}

func BenchmarkMapECS(b *testing.B) {
	src := testSource()
	events := []*event.Event{event4690(), event4658()}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Map(src, events[i&1], nil, Options{Schema: SchemaECS})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestMapSummary(t *testing.T) {
	rec := record.Record{
		SeverityText: "INFO", EventName: "wefgate.handles.noise_summary", HostName: "fs01",
		Body: map[string]any{"message": "handle-manipulation audit by-products dropped", "duplicates": int64(3)},
		Attributes: []record.KV{
			{Key: "host.name", Value: "fs01"},
			{Key: "process.executable.path", Value: `C:\Windows\System32\drvinst.exe`},
			{Key: "winlog.handle.object.type", Value: "Key"},
			{Key: "winlog.handle.noise.duplicates", Value: int64(3)},
		},
	}
	if got := MapSummary(rec, Options{}); !reflect.DeepEqual(got, rec) {
		t.Errorf("otel summary changed: %+v", got)
	}
	got := MapSummary(rec, Options{Schema: SchemaECS})
	want := map[string]any{
		"ecs.version": ECSVersion, "event.kind": "metric", "event.module": "wefgate",
		"event.dataset": "wefgate.handles_noise", "data_stream.dataset": "wefgate.handles_noise", "data_stream.type": "logs",
		"message": "handle-manipulation audit by-products dropped", "host.name": "fs01",
		"winlog.handle.process.executable": `C:\Windows\System32\drvinst.exe`,
		"winlog.handle.object.type":        "Key", "winlog.handle.noise.duplicates": int64(3),
	}
	if len(got.Attributes) != len(want) {
		t.Errorf("attributes %v", got.Attributes)
	}
	for k, w := range want {
		if v, _ := got.Attribute(k); v != w {
			t.Errorf("%s = %#v, want %#v", k, v, w)
		}
	}
	if len(got.Body) != 0 || got.SeverityText != "information" || got.EventName != rec.EventName {
		t.Errorf("body %v severity %q name %q", got.Body, got.SeverityText, got.EventName)
	}
}
