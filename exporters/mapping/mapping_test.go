package mapping

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"
	"wefgate/internal/samples"

	"wefgate/record"
	"wefgate/wef/event"
	"wefgate/wef/eventfile"
)

var received = time.Date(2026, 11, 21, 6, 0, 0, 123456789, time.UTC)

func testSource() record.Source {
	return record.Source{
		Identity:       "ws01.corp.example",
		MachineID:      "WS01.corp.example",
		Address:        "192.0.2.10",
		Subscription:   "handles",
		SubscriptionID: "0f9a3b52-4c3e-4b1c-9d8e-7a6b5c4d3e2f",
		Received:       received,
	}
}

// event4690 is a duplication as Windows renders it (Raw content format).
func event4690() *event.Event {
	return &event.Event{
		Provider:    event.Provider{Name: "Microsoft-Windows-Security-Auditing", GUID: "{54849625-5478-4994-A5BA-3E3B0328C30D}"},
		EventID:     4690,
		Task:        12807,
		Keywords:    0x8020000000000000,
		KeywordsRaw: "0x8020000000000000",
		SystemTime:  "2026-11-20T10:00:01.5166341Z",
		TimeCreated: time.Date(2026, 11, 20, 10, 0, 1, 516634100, time.UTC),
		RecordID:    9217074, HasRecordID: true,
		Execution: event.Execution{ProcessID: 4, ThreadID: 456, HasProcessID: true},
		Channel:   "Security",
		Computer:  "WS01.corp.example",
		EventData: []event.Data{
			{Name: "SubjectUserSid", Value: "S-1-5-21-1-2-3-1111"},
			{Name: "SubjectUserName", Value: "admmig"},
			{Name: "SubjectDomainName", Value: "OFFSEC"},
			{Name: "SubjectLogonId", Value: "0xe922e"},
			{Name: "SourceHandleId", Value: "0x274"},
			{Name: "SourceProcessId", Value: "0x1e20"},
			{Name: "TargetHandleId", Value: "0x11c0"},
			{Name: "TargetProcessId", Value: "0x4"},
		},
		Raw: "<Event>4690</Event>",
	}
}

// event4658 is a handle close with RenderingInfo (RenderedText format).
func event4658() *event.Event {
	return &event.Event{
		Provider:    event.Provider{Name: "Microsoft-Windows-Security-Auditing", GUID: "{54849625-5478-4994-A5BA-3E3B0328C30D}"},
		EventID:     4658,
		Task:        12802,
		Keywords:    0x8020000000000000,
		KeywordsRaw: "0x8020000000000000",
		SystemTime:  "2026-11-20T10:00:02.0000001Z",
		TimeCreated: time.Date(2026, 11, 20, 10, 0, 2, 100, time.UTC),
		RecordID:    9217075, HasRecordID: true,
		ActivityID: "{B0A3C5D1-0000-0000-0000-000000000000}",
		Execution:  event.Execution{ProcessID: 4, ThreadID: 456, HasProcessID: true},
		Channel:    "Security",
		Computer:   "ws01.corp.example",
		EventData: []event.Data{
			{Name: "SubjectUserSid", Value: "S-1-5-18"},
			{Name: "SubjectUserName", Value: "WS01$"},
			{Name: "SubjectDomainName", Value: "CORP"},
			{Name: "SubjectLogonId", Value: "0x3e7"},
			{Name: "ObjectServer", Value: "Security"},
			{Name: "HandleId", Value: "0x11c0"},
			{Name: "ProcessId", Value: "0x0000000000001E20"},
			{Name: "ProcessName", Value: `C:\Tools\mimikatz.exe`},
		},
		Rendering: &event.Rendering{
			Culture:  "en-US",
			Message:  "The handle to an object was closed.\r\n\r\nSubject :\r\n\tSecurity ID:\t\tS-1-5-18",
			Level:    "Information",
			Task:     "Kernel Object",
			Opcode:   "Info",
			Channel:  "Security",
			Provider: "Microsoft Windows security auditing.",
			Keywords: []string{"Audit Success"},
		},
		Raw: "<Event>4658</Event>",
	}
}

func TestMapHeader(t *testing.T) {
	tests := []struct {
		name         string
		ev           func() *event.Event
		wantTime     time.Time
		wantSeverity int
		wantText     string
		wantName     string
		wantHost     string
	}{
		{"4690 audit success", event4690, event4690().TimeCreated, 9, "INFO", "windows.security.4690", "WS01.corp.example"},
		{"4658 rendered", event4658, event4658().TimeCreated, 9, "INFO", "windows.security.4658", "ws01.corp.example"},
		{"audit failure wins over level", func() *event.Event {
			ev := event4690()
			ev.Keywords, ev.Level = 0x8010000000000000, 4
			return ev
		}, event4690().TimeCreated, 13, "WARN", "windows.security.4690", "WS01.corp.example"},
		{"no time, no computer: receive time and identity", func() *event.Event {
			ev := event4690()
			ev.TimeCreated, ev.Computer = time.Time{}, ""
			return ev
		}, received, 9, "INFO", "windows.security.4690", "ws01.corp.example"},
		{"other channel, level 2", func() *event.Event {
			return &event.Event{EventID: 7036, Level: 2, Channel: "Microsoft-Windows-Sysmon/Operational", Computer: "h"}
		}, received, 17, "ERROR", "windows.microsoft-windows-sysmon/operational.7036", "h"},
		{"spaces in channel, level 1", func() *event.Event {
			return &event.Event{EventID: 1, Level: 1, Channel: "Windows PowerShell", Computer: "h"}
		}, received, 21, "FATAL", "windows.windowspowershell.1", "h"},
		{"level 3", func() *event.Event { return &event.Event{EventID: 1, Level: 3, Channel: "System"} },
			received, 13, "WARN", "windows.system.1", "ws01.corp.example"},
		{"rendered warning beats raw level", func() *event.Event {
			return &event.Event{EventID: 1, Level: 4, Channel: "System", Rendering: &event.Rendering{Level: "Warning"}}
		}, received, 13, "WARN", "windows.system.1", "ws01.corp.example"},
		{"level 0 without keywords is unspecified", func() *event.Event { return &event.Event{EventID: 1, Channel: "Application"} },
			received, 0, "", "windows.application.1", "ws01.corp.example"},
		{"level 5 verbose is unspecified", func() *event.Event { return &event.Event{EventID: 1, Level: 5} },
			received, 0, "", "windows.unknown.1", "ws01.corp.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := Map(testSource(), tt.ev(), nil, Options{})
			if !rec.Timestamp.Equal(tt.wantTime) {
				t.Errorf("Timestamp = %v, want %v", rec.Timestamp, tt.wantTime)
			}
			if !rec.Observed.Equal(received) {
				t.Errorf("Observed = %v, want %v", rec.Observed, received)
			}
			if rec.SeverityNumber != tt.wantSeverity || rec.SeverityText != tt.wantText {
				t.Errorf("severity = %d %q, want %d %q", rec.SeverityNumber, rec.SeverityText, tt.wantSeverity, tt.wantText)
			}
			if rec.EventName != tt.wantName {
				t.Errorf("EventName = %q, want %q", rec.EventName, tt.wantName)
			}
			if rec.HostName != tt.wantHost {
				t.Errorf("HostName = %q, want %q", rec.HostName, tt.wantHost)
			}
		})
	}
}

func TestMapBody(t *testing.T) {
	tests := []struct {
		name string
		ev   *event.Event
		want map[string]any
	}{
		{
			name: "4690 raw",
			ev:   event4690(),
			want: map[string]any{
				"event_id":    map[string]any{"id": int64(4690), "qualifiers": int64(0)},
				"provider":    map[string]any{"name": "Microsoft-Windows-Security-Auditing", "guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}", "event_source": ""},
				"system_time": "2026-11-20T10:00:01.5166341Z",
				"computer":    "WS01.corp.example",
				"channel":     "Security",
				"record_id":   int64(9217074),
				"task":        "12807",
				"opcode":      "0",
				"level":       "0",
				"keywords":    []any{"0x8020000000000000"},
				"version":     int64(0),
				"execution":   map[string]any{"process_id": int64(4), "thread_id": int64(456)},
				"event_data": map[string]any{
					"SubjectUserSid": "S-1-5-21-1-2-3-1111", "SubjectUserName": "admmig", "SubjectDomainName": "OFFSEC",
					"SubjectLogonId": "0xe922e", "SourceHandleId": "0x274", "SourceProcessId": "0x1e20",
					"TargetHandleId": "0x11c0", "TargetProcessId": "0x4",
				},
			},
		},
		{
			name: "4658 rendered",
			ev:   event4658(),
			want: map[string]any{
				"event_id":    map[string]any{"id": int64(4658), "qualifiers": int64(0)},
				"provider":    map[string]any{"name": "Microsoft-Windows-Security-Auditing", "guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}", "event_source": ""},
				"system_time": "2026-11-20T10:00:02.0000001Z",
				"computer":    "ws01.corp.example",
				"channel":     "Security",
				"record_id":   int64(9217075),
				"task":        "Kernel Object",
				"opcode":      "Info",
				"level":       "Information",
				"keywords":    []any{"Audit Success"},
				"version":     int64(0),
				"execution":   map[string]any{"process_id": int64(4), "thread_id": int64(456)},
				"correlation": map[string]any{"activity_id": "{B0A3C5D1-0000-0000-0000-000000000000}"},
				"event_data": map[string]any{
					"SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS01$", "SubjectDomainName": "CORP",
					"SubjectLogonId": "0x3e7", "ObjectServer": "Security", "HandleId": "0x11c0",
					"ProcessId": "0x0000000000001E20", "ProcessName": `C:\Tools\mimikatz.exe`,
				},
				"message": "The handle to an object was closed.",
				"rendering_info": map[string]any{
					"culture":  "en-US",
					"message":  "The handle to an object was closed.\r\n\r\nSubject :\r\n\tSecurity ID:\t\tS-1-5-18",
					"level":    "Information",
					"task":     "Kernel Object",
					"opcode":   "Info",
					"channel":  "Security",
					"provider": "Microsoft Windows security auditing.",
					"keywords": []any{"Audit Success"},
				},
			},
		},
		{
			name: "unnamed and repeated data, binary, user data, security, qualifiers",
			ev: &event.Event{
				EventID: 7036, Qualifiers: 16384, HasQualifiers: true, Version: 2, Level: 4, Task: 0, Opcode: 0,
				Keywords: 0x8080000000000000, SystemTime: "2026-11-20T10:00:00Z",
				Provider: event.Provider{Name: "Service Control Manager", EventSourceName: "Service Control Manager"},
				Channel:  "System", Computer: "srv", UserID: "S-1-5-18",
				ActivityID: "{A}", RelatedActivityID: "{B}",
				EventData: []event.Data{{Value: "Spooler"}, {Value: "running"}, {Name: "X", Value: "1"}, {Name: "X", Value: "2"}},
				Binary:    "0A0B",
				UserData:  `<Foo xmlns="urn:x"><A>1</A></Foo>`,
				Rendering: &event.Rendering{Message: "The Spooler service entered the running state.\r\nMore."},
			},
			want: map[string]any{
				"event_id":    map[string]any{"id": int64(7036), "qualifiers": int64(16384)},
				"provider":    map[string]any{"name": "Service Control Manager", "guid": "", "event_source": "Service Control Manager"},
				"system_time": "2026-11-20T10:00:00Z",
				"computer":    "srv",
				"channel":     "System",
				"record_id":   int64(0),
				"task":        "0",
				"opcode":      "0",
				"level":       "4",
				"keywords":    []any{"0x8080000000000000"},
				"version":     int64(2),
				"execution":   map[string]any{"process_id": int64(0), "thread_id": int64(0)},
				"security":    map[string]any{"user_id": "S-1-5-18"},
				"correlation": map[string]any{"activity_id": "{A}", "related_activity_id": "{B}"},
				"event_data":  map[string]any{"param1": "Spooler", "param2": "running", "X": "1", "X_4": "2", "binary": "0A0B"},
				"user_data":   `<Foo xmlns="urn:x"><A>1</A></Foo>`,
				"message":     "The Spooler service entered the running state.\r\nMore.",
				"rendering_info": map[string]any{
					"culture": "", "message": "The Spooler service entered the running state.\r\nMore.",
					"level": "", "task": "", "opcode": "", "channel": "", "provider": "", "keywords": []any{},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Map(testSource(), tt.ev, nil, Options{}).Body
			for k, want := range tt.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("body[%q] = %#v, want %#v", k, got[k], want)
				}
			}
			for k := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected body key %q = %#v", k, got[k])
				}
			}
		})
	}
}

func TestMapAttributes(t *testing.T) {
	uid4690 := RecordUID(event4690())
	uid4658 := RecordUID(event4658())
	meta := []record.KV{
		{Key: "wef.host.identity", Value: "ws01.corp.example"},
		{Key: "wef.machine_id", Value: "WS01.corp.example"},
		{Key: "wef.subscription.name", Value: "handles"},
		{Key: "wef.subscription.id", Value: "0f9a3b52-4c3e-4b1c-9d8e-7a6b5c4d3e2f"},
		{Key: "client.address", Value: "192.0.2.10"},
	}
	tests := []struct {
		name  string
		ev    *event.Event
		extra []record.KV
		opts  Options
		want  []record.KV
	}{
		{
			name: "4690",
			ev:   event4690(),
			want: append([]record.KV{
				{Key: "log.record.uid", Value: uid4690},
				{Key: "event.code", Value: "4690"},
				{Key: "event.provider", Value: "Microsoft-Windows-Security-Auditing"},
				{Key: "event.outcome", Value: "success"},
				{Key: "event.action", Value: "duplicate-handle-attempt"},
				{Key: "event.category", Value: []any{"process"}},
				{Key: "event.type", Value: []any{"access"}},
				{Key: "process.pid", Value: int64(7712)},
				{Key: "user.id", Value: "S-1-5-21-1-2-3-1111"},
				{Key: "user.name", Value: "admmig"},
				{Key: "user.domain", Value: "OFFSEC"},
			}, meta...),
		},
		{
			name: "4658 with original, problem and extra",
			ev: func() *event.Event {
				ev := event4658()
				ev.Problem = &event.Problem{Kind: event.ProblemRecovered, Message: "truncated in RenderingInfo"}
				return ev
			}(),
			extra: []record.KV{{Key: "handle.object.name", Value: `\Device\X`}},
			opts:  Options{IncludeOriginal: true},
			want: append(append([]record.KV{
				{Key: "log.record.uid", Value: uid4658},
				{Key: "event.code", Value: "4658"},
				{Key: "event.provider", Value: "Microsoft-Windows-Security-Auditing"},
				{Key: "event.outcome", Value: "success"},
				{Key: "event.action", Value: "handle-closed-object"},
				{Key: "event.category", Value: []any{"iam", "configuration"}},
				{Key: "event.type", Value: []any{"change"}},
				{Key: "process.pid", Value: int64(7712)},
				{Key: "process.executable.path", Value: `C:\Tools\mimikatz.exe`},
				{Key: "user.id", Value: "S-1-5-18"},
				{Key: "user.name", Value: "WS01$"},
				{Key: "user.domain", Value: "CORP"},
			}, meta...),
				record.KV{Key: "log.record.original", Value: "<Event>4658</Event>"},
				record.KV{Key: "wef.parse_problem", Value: "recovered: truncated in RenderingInfo"},
				record.KV{Key: "handle.object.name", Value: `\Device\X`},
			),
		},
		{
			name: "unmapped security event takes action from rendered task; failure; placeholders dropped",
			ev: &event.Event{
				EventID: 4656, Channel: "Security", Computer: "h", RecordID: 1, HasRecordID: true,
				Keywords:  0x8010000000000000,
				EventData: []event.Data{{Name: "SubjectUserSid", Value: "S-1-0-0"}, {Name: "SubjectUserName", Value: "-"}, {Name: "ProcessId", Value: "bogus"}},
				Rendering: &event.Rendering{Task: "File System"},
			},
			want: append([]record.KV{
				{Key: "log.record.uid", Value: RecordUID(&event.Event{Channel: "Security", Computer: "h", RecordID: 1, HasRecordID: true})},
				{Key: "event.code", Value: "4656"},
				{Key: "event.outcome", Value: "failure"},
				{Key: "event.action", Value: "file-system"},
				{Key: "user.id", Value: "S-1-0-0"},
			}, meta...),
		},
		{
			name: "4688 uses NewProcessId, not the parent",
			ev: &event.Event{
				EventID: 4688, Channel: "Security", Computer: "h", RecordID: 2, HasRecordID: true,
				EventData: []event.Data{{Name: "NewProcessId", Value: "0x10"}, {Name: "ProcessId", Value: "0x20"}, {Name: "ProcessName", Value: "parent.exe"}},
			},
			want: append([]record.KV{
				{Key: "log.record.uid", Value: RecordUID(&event.Event{Channel: "Security", Computer: "h", RecordID: 2, HasRecordID: true})},
				{Key: "event.code", Value: "4688"},
				{Key: "event.action", Value: "created-process"},
				{Key: "event.category", Value: []any{"process"}},
				{Key: "event.type", Value: []any{"start"}},
				{Key: "process.pid", Value: int64(16)},
			}, meta...),
		},
		{
			name: "non-security channel gets no subject fields and no Elastic class",
			ev: &event.Event{
				EventID: 4658, Channel: "Application", Computer: "h", RecordID: 3, HasRecordID: true,
				EventData: []event.Data{{Name: "SubjectUserName", Value: "x"}, {Name: "ProcessId", Value: "1"}},
			},
			want: append([]record.KV{
				{Key: "log.record.uid", Value: RecordUID(&event.Event{Channel: "Application", Computer: "h", RecordID: 3, HasRecordID: true})},
				{Key: "event.code", Value: "4658"},
			}, meta...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Map(testSource(), tt.ev, tt.extra, tt.opts).Attributes
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("attributes mismatch\n got: %#v\nwant: %#v", got, tt.want)
			}
		})
	}
}

func TestMapOmitsEmptySourceFields(t *testing.T) {
	rec := Map(record.Source{Received: received}, event4690(), nil, Options{IncludeOriginal: true})
	for _, key := range []string{AttrHostIdentity, AttrMachineID, AttrSubscription, AttrSubscriptionID, AttrClientAddress} {
		if v, ok := rec.Attribute(key); ok {
			t.Errorf("attribute %s = %v, want absent", key, v)
		}
	}
	if v, _ := rec.Attribute(AttrRecordOriginal); v != "<Event>4690</Event>" {
		t.Errorf("log.record.original = %v", v)
	}
}

var uuidV5 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRecordUID(t *testing.T) {
	base := event4690()
	tests := []struct {
		name   string
		mutate func(*event.Event)
		same   bool
	}{
		{"identical re-delivery", func(*event.Event) {}, true},
		{"computer case differs", func(e *event.Event) { e.Computer = "ws01.CORP.EXAMPLE" }, true},
		{"payload differs, same record", func(e *event.Event) { e.EventData = nil; e.Raw = "other" }, true},
		{"record id differs", func(e *event.Event) { e.RecordID++ }, false},
		{"channel differs", func(e *event.Event) { e.Channel = "System" }, false},
		{"computer differs", func(e *event.Event) { e.Computer = "ws02.corp.example" }, false},
		{"no record id: named by XML", func(e *event.Event) { e.HasRecordID = false }, false},
	}
	want := RecordUID(base)
	if !uuidV5.MatchString(want) {
		t.Fatalf("RecordUID = %q, not a version 5 UUID", want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := event4690()
			tt.mutate(ev)
			got := RecordUID(ev)
			if !uuidV5.MatchString(got) {
				t.Errorf("RecordUID = %q, not a version 5 UUID", got)
			}
			if (got == want) != tt.same {
				t.Errorf("RecordUID = %q, base %q, want same=%v", got, want, tt.same)
			}
		})
	}
	t.Run("no record id is stable per XML", func(t *testing.T) {
		a, b := event4690(), event4690()
		a.HasRecordID, b.HasRecordID = false, false
		if RecordUID(a) != RecordUID(b) {
			t.Error("same XML without record id gave different uids")
		}
		b.Raw += " "
		if RecordUID(a) == RecordUID(b) {
			t.Error("different XML without record id gave the same uid")
		}
	})
}

func TestParseWindowsInt(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"0x1e20", 7712, true},
		{"0x0000000000001E20", 7712, true},
		{"0X4", 4, true},
		{"  0x4 ", 4, true},
		{"516", 516, true},
		{"0x", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"0xfffffffffffffffff", 0, false},
		{"0xffffffffffffffff", 0, false},
		{"0x7fffffffffffffff", 1<<63 - 1, true},
		{"12a", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseWindowsInt(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseWindowsInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func BenchmarkMap(b *testing.B) {
	src := testSource()
	events := []*event.Event{event4690(), event4658()}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = Map(src, events[i&1], nil, Options{})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// TestMapRealHandleEvents maps every event of the shared handle-event
// samples and checks the fields derived from EventData against the data
// itself.
func TestMapRealHandleEvents(t *testing.T) {
	dir := samples.Path(t, "handle-events")
	files, _ := filepath.Glob(filepath.Join(dir, "xml", "*.xml"))
	jsonFiles, _ := filepath.Glob(filepath.Join(dir, "json", "*.jsonl"))
	files = append(files, jsonFiles...)
	if len(files) == 0 {
		t.Skip("handle-event samples not present")
	}
	counts := map[uint32]int{}
	for _, file := range files {
		xmls, err := eventfile.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for i, x := range xmls {
			ev := event.Parse([]byte(x))
			name := fmt.Sprintf("%s#%d", filepath.Base(file), i)
			if ev.Problem != nil {
				t.Errorf("%s: parse problem %+v", name, ev.Problem)
				continue
			}
			counts[ev.EventID]++
			rec := Map(testSource(), ev, nil, Options{})
			checkRealEvent(t, name, ev, rec)
		}
	}
	// The README lists 69 4658s and 31 4690s in these files.
	if counts[4658] != 69 || counts[4690] != 31 {
		t.Errorf("mapped %d 4658 and %d 4690 events, want 69 and 31", counts[4658], counts[4690])
	}
}

func checkRealEvent(t *testing.T, name string, ev *event.Event, rec record.Record) {
	t.Helper()
	attr := func(key string) any { v, _ := rec.Attribute(key); return v }
	if want := fmt.Sprintf("windows.security.%d", ev.EventID); rec.EventName != want {
		t.Errorf("%s: EventName %q, want %q", name, rec.EventName, want)
	}
	if rec.HostName != ev.Computer || rec.HostName == "" {
		t.Errorf("%s: HostName %q, Computer %q", name, rec.HostName, ev.Computer)
	}
	if rec.Timestamp.IsZero() {
		t.Errorf("%s: zero timestamp", name)
	}
	if !uuidV5.MatchString(fmt.Sprint(attr(AttrRecordUID))) {
		t.Errorf("%s: uid %v", name, attr(AttrRecordUID))
	}
	if attr(AttrEventCode) != strconv.FormatUint(uint64(ev.EventID), 10) {
		t.Errorf("%s: event.code %v", name, attr(AttrEventCode))
	}
	switch {
	case ev.AuditFailure():
		if rec.SeverityNumber != 13 || attr(AttrEventOutcome) != "failure" {
			t.Errorf("%s: failure event mapped to severity %d outcome %v", name, rec.SeverityNumber, attr(AttrEventOutcome))
		}
	case ev.AuditSuccess():
		if rec.SeverityNumber != 9 || attr(AttrEventOutcome) != "success" {
			t.Errorf("%s: success event mapped to severity %d outcome %v", name, rec.SeverityNumber, attr(AttrEventOutcome))
		}
	default:
		// Some JSON shippers dropped Keywords; nothing tells the outcome.
		if rec.SeverityNumber != 0 || attr(AttrEventOutcome) != nil {
			t.Errorf("%s: event without audit keyword mapped to severity %d outcome %v", name, rec.SeverityNumber, attr(AttrEventOutcome))
		}
	}
	pidField := map[uint32]string{4658: "ProcessId", 4690: "SourceProcessId", 4656: "ProcessId", 4663: "ProcessId", 4688: "NewProcessId"}[ev.EventID]
	if pidField != "" {
		raw, _ := ev.DataValue(pidField)
		want, ok := ParseWindowsInt(raw)
		if !ok || attr(AttrProcessPID) != want {
			t.Errorf("%s: process.pid %v, %s %q", name, attr(AttrProcessPID), pidField, raw)
		}
	}
	if sid, _ := ev.DataValue("SubjectUserSid"); sid != "" && attr(AttrUserID) != sid {
		t.Errorf("%s: user.id %v, SubjectUserSid %q", name, attr(AttrUserID), sid)
	}
	switch ev.EventID {
	case 4658:
		if attr(AttrEventAction) != "handle-closed-object" {
			t.Errorf("%s: event.action %v", name, attr(AttrEventAction))
		}
	case 4690:
		if attr(AttrEventAction) != "duplicate-handle-attempt" {
			t.Errorf("%s: event.action %v", name, attr(AttrEventAction))
		}
	}
	data := rec.Body["event_data"].(map[string]any)
	for _, d := range ev.EventData {
		if d.Name != "" && data[d.Name] != d.Value {
			t.Errorf("%s: body.event_data[%s] = %v, want %q", name, d.Name, data[d.Name], d.Value)
		}
	}
	if rec.Body["record_id"] != int64(ev.RecordID) || rec.Body["computer"] != ev.Computer {
		t.Errorf("%s: body record_id/computer = %v/%v", name, rec.Body["record_id"], rec.Body["computer"])
	}
}

// TestMapRealDuplication pins one known event: the first record of the
// mimikatz lsass sample, a 4690 by OFFSEC\admmig from pid 0x1e20.
func TestMapRealDuplication(t *testing.T) {
	file := samples.Path(t, "handle-events", "xml", "mdecrevoisier_mimikatz_sekurlsa_lsass_4656_4663_4690_4658.xml")
	if _, err := os.Stat(file); err != nil {
		t.Skip("sample not present")
	}
	xmls, err := eventfile.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rec := Map(testSource(), event.Parse([]byte(xmls[0])), nil, Options{})
	want := map[string]any{
		AttrEventCode:    "4690",
		AttrEventAction:  "duplicate-handle-attempt",
		AttrProcessPID:   int64(7712),
		AttrUserName:     "admmig",
		AttrUserDomain:   "OFFSEC",
		AttrEventOutcome: "success",
	}
	for k, w := range want {
		if v, _ := rec.Attribute(k); v != w {
			t.Errorf("%s = %#v, want %#v", k, v, w)
		}
	}
	if rec.HostName != "jump01.offsec.lan" || rec.Body["record_id"] != int64(9217074) {
		t.Errorf("host %q record %v", rec.HostName, rec.Body["record_id"])
	}
}

// FuzzMap feeds arbitrary event XML (network input) through the parser and
// Map: Map must never panic and must always produce a well-formed record.
func FuzzMap(f *testing.F) {
	f.Add([]byte(`<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-a5ba-3e3b0328c30d}"/><EventID>4690</EventID><Version>0</Version><Level>0</Level><Task>12807</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime="2026-11-20T10:00:01.5166341Z"/><EventRecordID>9217074</EventRecordID><Correlation/><Execution ProcessID="4" ThreadID="456"/><Channel>Security</Channel><Computer>jump01.offsec.lan</Computer><Security/></System><EventData><Data Name="SubjectUserSid">S-1-5-18</Data><Data Name="SourceProcessId">0x1e20</Data></EventData></Event>`))
	f.Add([]byte(`<Event><System><EventID Qualifiers="16384">7036</EventID><Channel>System</Channel><Computer>h</Computer></System><EventData><Data>Spooler</Data><Data>running</Data><Binary>0A</Binary></EventData><RenderingInfo Culture="en-US"><Message>m&#13;&#10;x</Message><Level>Information</Level><Keywords><Keyword>Classic</Keyword></Keywords></RenderingInfo></Event>`))
	f.Add([]byte(`<Event><System><EventID>4658</EventID><Channel>Security</Channel></System><EventData><Data Name="ProcessId">0xffffffffffffffffff</Data>`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, xml []byte) {
		ev := event.Parse(xml)
		rec := Map(testSource(), ev, []record.KV{{Key: "x", Value: int64(1)}}, Options{IncludeOriginal: true})
		if !uuidV5.MatchString(fmt.Sprint(rec.Attributes[0].Value)) || rec.Attributes[0].Key != AttrRecordUID {
			t.Fatalf("first attribute %+v", rec.Attributes[0])
		}
		if last := rec.Attributes[len(rec.Attributes)-1]; last.Key != "x" {
			t.Fatalf("extra not last: %+v", last)
		}
		if !regexp.MustCompile(`^windows\.[^ ]+\.[0-9]+$`).MatchString(rec.EventName) {
			t.Fatalf("EventName %q", rec.EventName)
		}
		if rec.Timestamp.IsZero() || rec.HostName == "" {
			t.Fatalf("timestamp %v host %q", rec.Timestamp, rec.HostName)
		}
		for _, key := range []string{"event_id", "provider", "computer", "channel", "record_id", "keywords", "event_data"} {
			if _, ok := rec.Body[key]; !ok {
				t.Fatalf("body lacks %s", key)
			}
		}
		ecs := Map(testSource(), ev, []record.KV{{Key: "x", Value: int64(1)}}, Options{IncludeOriginal: true, Schema: SchemaECS})
		seen := map[string]bool{}
		for _, kv := range ecs.Attributes {
			if seen[kv.Key] {
				t.Fatalf("ecs attribute %s twice", kv.Key)
			}
			seen[kv.Key] = true
		}
		if v, _ := ecs.Attribute(ECSEventID); v != rec.Attributes[0].Value || !seen["winlog.handle.x"] || !seen["event.kind"] {
			t.Fatalf("ecs record: event.id %v, attributes %v", v, ecs.Attributes)
		}
	})
}

// TestMapEventsIsMap checks that mapping a delivery at once, sharing what
// its records have in common, gives each event the record Map gives it,
// in both schemas, also when events of different providers and keywords
// alternate.
func TestMapEventsIsMap(t *testing.T) {
	other := event4690()
	other.Provider.Name, other.Provider.GUID = "Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"
	other.KeywordsRaw, other.Keywords = "0x8000000000000000", 0x8000000000000000
	noRaw := event4658()
	noRaw.KeywordsRaw = ""
	evs := []*event.Event{event4690(), event4658(), other, event4660(), noRaw, event4690()}
	for _, opts := range []Options{{}, {Schema: SchemaECS}, {IncludeOriginal: true}, {Schema: SchemaECS, IncludeOriginal: true}} {
		got := make([]record.Record, len(evs))
		MapEvents(testSource(), evs, opts, got)
		for i, ev := range evs {
			if want := Map(testSource(), ev, nil, opts); !reflect.DeepEqual(got[i], want) {
				t.Errorf("%+v, event %d: MapEvents gave\n%+v\nMap gives\n%+v", opts, i, got[i], want)
			}
		}
	}
}

// BenchmarkMapEvents maps 50-event deliveries with MapEvents; records/s
// compares with BenchmarkMap's.
func BenchmarkMapEvents(b *testing.B) {
	src := testSource()
	evs := make([]*event.Event, 50)
	for i := range evs {
		evs[i] = []*event.Event{event4690(), event4658()}[i&1]
	}
	out := make([]record.Record, len(evs))
	b.ReportAllocs()
	for b.Loop() {
		MapEvents(src, evs, Options{}, out)
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(testing.AllocsPerRun(10, func() { MapEvents(src, evs, Options{}, out) }))/float64(len(evs)), "allocs/record")
}
