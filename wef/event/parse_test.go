package event

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"wefgate/internal/samples"
)

// samplesRoot returns the shared sample directory, or "" when absent.
func samplesRoot() string { return samples.Find() }

// sampleDir returns a directory below the samples, skipping the test when
// it is absent.
func sampleDir(t testing.TB, parts ...string) string {
	t.Helper()
	return samples.Path(t, parts...)
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir(t, "wef"), name))
	if err != nil {
		t.Skipf("sample %s not available: %v", name, err)
	}
	return b
}

// splitEvents cuts an <Events> document into its <Event> elements.
func splitEvents(t *testing.T, doc string) []string {
	t.Helper()
	var out []string
	for {
		i := strings.Index(doc, "<Event ")
		if i < 0 {
			i = strings.Index(doc, "<Event>")
		}
		if i < 0 {
			return out
		}
		j := strings.Index(doc[i:], "</Event>")
		if j < 0 {
			t.Fatalf("unterminated <Event> at %d", i)
		}
		out = append(out, doc[i:i+j+len("</Event>")])
		doc = doc[i+j+len("</Event>"):]
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseSamples(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, ev *Event)
	}{
		{"event-4688.rendered.xml", func(t *testing.T, ev *Event) {
			wantNoProblem(t, ev)
			eq(t, "EventID", ev.EventID, 4688)
			eq(t, "Version", ev.Version, 2)
			eq(t, "Task", ev.Task, 13312)
			eq(t, "Keywords", ev.Keywords, 0x8020000000000000)
			eq(t, "KeywordsRaw", ev.KeywordsRaw, "0x8020000000000000")
			eq(t, "AuditSuccess", ev.AuditSuccess(), true)
			eq(t, "Provider", ev.Provider, Provider{Name: "Microsoft-Windows-Security-Auditing", GUID: "{54849625-5478-4994-a5ba-3e3b0328c30d}"})
			eq(t, "SystemTime", ev.SystemTime, "2022-12-14T16:06:51.0643605Z")
			eq(t, "TimeCreated", ev.TimeCreated, mustTime(t, "2022-12-14T16:06:51.0643605Z"))
			eq(t, "RecordID", ev.RecordID, 114689)
			eq(t, "HasRecordID", ev.HasRecordID, true)
			eq(t, "Execution", ev.Execution, Execution{ProcessID: 4, ThreadID: 196, HasProcessID: true})
			eq(t, "Channel", ev.Channel, "Security")
			eq(t, "Computer", ev.Computer, "win10.windomain.local")
			eq(t, "len(EventData)", len(ev.EventData), 15)
			eq(t, "EventData[0]", ev.EventData[0], Data{Name: "SubjectUserSid", Value: "S-1-5-18"})
			eqData(t, ev, "NewProcessName", `C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe`)
			eqData(t, ev, "CommandLine", "")
			eqData(t, ev, "MandatoryLabel", "S-1-16-16384")
			if ev.Rendering == nil {
				t.Fatal("no Rendering")
			}
			eq(t, "Culture", ev.Rendering.Culture, "en-US")
			eq(t, "Rendering.Task", ev.Rendering.Task, "Process Creation")
			eq(t, "Rendering.Keywords", ev.Rendering.Keywords, []string{"Audit Success"})
			if !strings.HasPrefix(ev.Rendering.Message, "A new process has been created.\n\nCreator Subject:\n\tSecurity ID:\t\tS-1-5-18\n") {
				t.Errorf("Message starts %q", ev.Rendering.Message[:60])
			}
		}},
		{"event-4624.rendered-crlf-escaped.xml", func(t *testing.T, ev *Event) {
			wantNoProblem(t, ev)
			eq(t, "EventID", ev.EventID, 4624)
			eq(t, "ActivityID", ev.ActivityID, "{b073a4bf-7611-0000-bca5-73b01176da01}")
			eq(t, "len(EventData)", len(ev.EventData), 28)
			eqData(t, ev, "LogonProcessName", "User32 ")
			eqData(t, ev, "ElevatedToken", "%%1842")
			eq(t, "Culture", ev.Rendering.Culture, "en-GB")
			if !strings.HasPrefix(ev.Rendering.Message, "An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-5-18\r\n") {
				t.Errorf("Message not decoded: %q", ev.Rendering.Message[:80])
			}
			if strings.Contains(ev.Rendering.Message, "&#") {
				t.Error("Message keeps character references")
			}
		}},
		{"event-5719-unnamed-data-binary.xml", func(t *testing.T, ev *Event) {
			wantNoProblem(t, ev)
			eq(t, "EventID", ev.EventID, 5719)
			eq(t, "Qualifiers", ev.Qualifiers, 0)
			eq(t, "HasQualifiers", ev.HasQualifiers, true)
			eq(t, "Level", ev.Level, 2)
			eq(t, "Keywords", ev.Keywords, 0x80000000000000)
			eq(t, "EventData", ev.EventData, []Data{{Value: "WINDOMAIN"}, {Value: "%%1311"}})
			eq(t, "Binary", ev.Binary, "5E0000C0")
			eq(t, "Channel", ev.Channel, "System")
			eq(t, "Rendering.Level", ev.Rendering.Level, "Error")
			eq(t, "Rendering.Channel", ev.Rendering.Channel, "")
			eq(t, "Rendering.Keywords", ev.Rendering.Keywords, []string{"Classic"})
		}},
		{"event-1100-userdata.xml", func(t *testing.T, ev *Event) {
			wantNoProblem(t, ev)
			eq(t, "EventID", ev.EventID, 1100)
			eq(t, "UserData", ev.UserData, `<ServiceShutdown xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'></ServiceShutdown>`)
			eq(t, "EventData", len(ev.EventData), 0)
			eq(t, "Rendering.Message", ev.Rendering.Message, "The event logging service has shut down.")
			eq(t, "Rendering.Provider", ev.Rendering.Provider, "Microsoft-Windows-Eventlog")
		}},
		{"event-111-subscription-bookmark.xml", func(t *testing.T, ev *Event) {
			wantNoProblem(t, ev)
			eq(t, "EventID", ev.EventID, 111)
			eq(t, "HasRecordID", ev.HasRecordID, false)
			eq(t, "Provider.Name", ev.Provider.Name, "Microsoft-Windows-EventForwarder")
			eq(t, "TimeCreated", ev.TimeCreated, mustTime(t, "2023-02-14T09:14:23.175Z"))
			eq(t, "Computer", ev.Computer, "win10.windomain.local")
			eq(t, "Rendering", ev.Rendering, (*Rendering)(nil))
		}},
		{"event-4798.truncated-renderinginfo.xml", func(t *testing.T, ev *Event) {
			if ev.Problem == nil || ev.Problem.Kind != ProblemRecovered {
				t.Fatalf("Problem = %+v, want recovered", ev.Problem)
			}
			if !strings.Contains(ev.Problem.Message, "RenderingInfo/Message") {
				t.Errorf("Problem.Message = %q, want the place of the cut", ev.Problem.Message)
			}
			eq(t, "EventID", ev.EventID, 4798)
			eq(t, "RecordID", ev.RecordID, 980236)
			eq(t, "Computer", ev.Computer, "dvas0004_xps")
			eq(t, "Execution", ev.Execution, Execution{ProcessID: 1440, ThreadID: 16952, HasProcessID: true})
			eq(t, "len(EventData)", len(ev.EventData), 9)
			eqData(t, ev, "CallerProcessName", `C:\\Windows\\System32\\svchost.exe`)
			eq(t, "Culture", ev.Rendering.Culture, "en-US")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw := readSample(t, tc.file)
			ev := Parse(raw)
			if ev.Raw != string(raw) {
				t.Error("Raw differs from input")
			}
			tc.check(t, ev)
		})
	}
}

// TestParseAllSampleEvents makes sure no sample event is left untested.
func TestParseAllSampleEvents(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sampleDir(t, "wef"), "event-*.xml"))
	if len(files) == 0 {
		t.Skip("no event samples")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ev := Parse(raw)
		if ev.EventID == 0 || ev.Computer == "" {
			t.Errorf("%s: EventID %d Computer %q", filepath.Base(f), ev.EventID, ev.Computer)
		}
		if ev.Problem != nil && !strings.Contains(f, "truncated") {
			t.Errorf("%s: unexpected problem %+v", filepath.Base(f), ev.Problem)
		}
	}
}

// TestParseEnvelopeWithControlChar reads the event out of the envelope that
// carries U+0005 inside the CDATA and checks the character is kept as text.
func TestParseEnvelopeWithControlChar(t *testing.T) {
	env := string(readSample(t, "events-single-with-0x05.xml"))
	start := strings.Index(env, "<![CDATA[")
	end := strings.Index(env, "]]>")
	if start < 0 || end < start {
		t.Fatal("no CDATA in sample")
	}
	raw := env[start+len("<![CDATA[") : end]
	ev := Parse([]byte(raw))
	wantNoProblem(t, ev)
	eq(t, "EventID", ev.EventID, 254)
	eq(t, "RelatedActivityID", ev.RelatedActivityID, "{c2115b6c-cdc7-0000-a47b-11c2c7cdd801}")
	eq(t, "UserID", ev.UserID, "S-1-5-20")
	eq(t, "Rendering.Keywords", ev.Rendering.Keywords, []string{"Client", "Server", "Activity Transfer"})
	fields := ev.Provider.Name + ev.Computer + ev.Channel + ev.Rendering.Message
	if !strings.Contains(raw, "\x05") || !strings.Contains(fields, "\x05") {
		t.Errorf("U+0005 not kept: provider %q", ev.Provider.Name)
	}
}

// Data names that handle-events.md §1.1/§1.2 documents.
var (
	names4658 = []string{"SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "ObjectServer", "HandleId", "ProcessId", "ProcessName"}
	names4690 = []string{"SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "SourceHandleId", "SourceProcessId", "TargetHandleId", "TargetProcessId"}
)

func TestParseHandleEventSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sampleDir(t, "handle-events", "xml"), "*.xml"))
	if len(files) == 0 {
		t.Skip("no handle-event samples")
	}
	counts := map[uint32]int{}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range splitEvents(t, string(doc)) {
			ev := Parse([]byte(raw))
			where := filepath.Base(f) + "#" + strconv.Itoa(i)
			if ev.Problem != nil {
				t.Errorf("%s: problem %+v", where, ev.Problem)
			}
			if ev.EventID == 0 || ev.RecordID == 0 || !ev.HasRecordID || ev.Computer == "" {
				t.Errorf("%s: EventID %d RecordID %d Computer %q", where, ev.EventID, ev.RecordID, ev.Computer)
			}
			if ev.TimeCreated.IsZero() || ev.TimeCreated.Year() < 2015 {
				t.Errorf("%s: TimeCreated %v from %q", where, ev.TimeCreated, ev.SystemTime)
			}
			if ev.HasQualifiers {
				t.Errorf("%s: Qualifiers=\"\" gave HasQualifiers", where)
			}
			var want []string
			switch ev.EventID {
			case 4658:
				want = names4658
			case 4690:
				want = names4690
			}
			for _, name := range want {
				if v, ok := ev.DataValue(name); !ok || v == "" {
					t.Errorf("%s: %d lacks %s", where, ev.EventID, name)
				}
			}
			counts[ev.EventID]++
		}
	}
	if counts[4658] == 0 || counts[4690] == 0 {
		t.Errorf("expected 4658 and 4690 among the samples, got %v", counts)
	}
}

func TestParsePythonEvtxTime(t *testing.T) {
	raw := `<Event><System><EventID Qualifiers="">4690</EventID><TimeCreated SystemTime="2021-03-26 16:36:00.829020"></TimeCreated><Computer>x</Computer></System></Event>`
	ev := Parse([]byte(raw))
	wantNoProblem(t, ev)
	eq(t, "TimeCreated", ev.TimeCreated, time.Date(2021, 3, 26, 16, 36, 0, 829020000, time.UTC))
	eq(t, "HasQualifiers", ev.HasQualifiers, false)
}

// event4690 is a synthetic 4690 as a Windows forwarder sends it (about 900
// bytes with RenderedText off).
const event4690 = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4690</EventID><Version>0</Version><Level>0</Level><Task>12807</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2025-06-02T08:15:42.5180427Z'/><EventRecordID>73912644</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='7320'/><Channel>Security</Channel><Computer>ws-fin-0042.corp.example.com</Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-21-3623811015-3361044348-30300820-1013</Data><Data Name='SubjectUserName'>j.doe</Data><Data Name='SubjectDomainName'>CORP</Data><Data Name='SubjectLogonId'>0x1c6e4a2</Data><Data Name='SourceHandleId'>0x6f4</Data><Data Name='SourceProcessId'>0x1e20</Data><Data Name='TargetHandleId'>0x2c8c</Data><Data Name='TargetProcessId'>0x4</Data></EventData></Event>`

func TestParseSynthetic(t *testing.T) {
	const sys = `<System><Provider Name='P'/><EventID>1</EventID><Computer>c</Computer></System>`
	tests := []struct {
		name string
		raw  string
		want []Data
	}{
		{"entities", sys + `<EventData><Data Name='A'>a&amp;b &lt;x&gt; &apos;&quot; &#x41;&#65;&#13;&#10;&#9;|</Data></EventData>`,
			[]Data{{"A", "a&b <x> '\" AA\r\n\t|"}}},
		{"unknown entity kept", sys + `<EventData><Data Name='A'>&nbsp;&amp &#xZZ; &#; &#0; &#xD800;</Data></EventData>`,
			[]Data{{"A", "&nbsp;&amp &#xZZ; &#; \uFFFD \uFFFD"}}},
		{"empty data", sys + `<EventData><Data Name="X"></Data><Data Name="Y"/><Data/></EventData>`,
			[]Data{{"X", ""}, {"Y", ""}, {"", ""}}},
		{"cdata and comment", sys + `<EventData><Data Name='A'>x&amp;<![CDATA[<&amp;>]]><!-- c -->y</Data></EventData>`,
			[]Data{{"A", "x&<&amp;>y"}}},
		{"line ends normalised", sys + "<EventData><Data Name='A'>1\r\n2\r3\n</Data></EventData>",
			[]Data{{"A", "1\n2\n3\n"}}},
		{"attribute whitespace and refs", sys + "<EventData><Data Name='a\tb&#10;c'>v</Data></EventData>",
			[]Data{{"a b\nc", "v"}}},
		{"invalid characters kept", sys + "<EventData><Data Name='A'>\x05\uFFFD\x00z\xff</Data></EventData>",
			[]Data{{"A", "\x05\uFFFD\x00z\xff"}}},
		{"NUL kept in decoded text", sys + "<EventData><Data Name='A'>\x00&amp;\x00</Data><Data Name='B\x00&amp;'>\r\x00<![CDATA[\x00\r]]></Data></EventData>",
			[]Data{{"A", "\x00&\x00"}, {"B\x00&", "\n\x00\x00\n"}}},
		{"prefixed names", `<e:Event xmlns:e='urn:x'><e:System><e:EventID>1</e:EventID></e:System><e:EventData><e:Data e:Name="A">v</e:Data></e:EventData></e:Event>`,
			[]Data{{"A", "v"}}},
		{"unknown elements skipped", sys + `<Extra><Data Name='no'>x</Data></Extra><EventData><Data Name='A'>v<b>ignored</b>w</Data><Other/></EventData>`,
			[]Data{{"A", "vw"}}},
		{"user data not read as event data", sys + `<UserData><Data Name='no'>x</Data></UserData>`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if !strings.HasPrefix(raw, "<e:") {
				raw = "<Event>" + raw + "</Event>"
			}
			ev := Parse([]byte(raw))
			wantNoProblem(t, ev)
			eq(t, "EventID", ev.EventID, 1)
			eq(t, "EventData", ev.EventData, tc.want)
		})
	}
}

func TestParseDamaged(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		kind     ProblemKind
		inMsg    string
		eventID  uint32
		dataLen  int
		computer string
	}{
		{"empty", "", ProblemUnparsable, "no <Event>", 0, 0, ""},
		{"not an event", "<Envelope><Body/></Envelope>", ProblemUnparsable, "no <Event>", 0, 0, ""},
		{"text only", "hello", ProblemUnparsable, "no <Event>", 0, 0, ""},
		{"no event id", "<Event><System><Computer>c</Computer></System></Event>", ProblemUnparsable, "EventID", 0, 0, "c"},
		{"event id not a number", "<Event><System><EventID>4a</EventID></System></Event>", ProblemUnparsable, "EventID", 0, 0, ""},
		{"cut in event id", "<Event><System><EventID>46", ProblemUnparsable, "Event/System/EventID", 0, 0, ""},
		{"cut in system", "<Event><System><EventID>4690</EventID><Computer>c</Computer><Chan", ProblemPartial, "truncated inside Event/System/Chan at byte 65", 4690, 0, "c"},
		{"cut in attribute", "<Event><System><EventID>4690</EventID><Execution ProcessID='12", ProblemPartial, "Event/System/Execution", 4690, 0, ""},
		{"cut in event data", "<Event><System><EventID>4690</EventID></System><EventData><Data Name='A'>1</Data><Data Name='B'>2", ProblemPartial, "Event/EventData/Data", 4690, 1, ""},
		{"cut in end tag", "<Event><System><EventID>4690</EventID></System><EventData><Data Name='A'>1</Data></EventDa", ProblemPartial, "Event/EventData", 4690, 1, ""},
		{"cut in rendering", "<Event><System><EventID>4690</EventID></System><EventData></EventData><RenderingInfo Culture='en-US'><Message>abc", ProblemRecovered, "RenderingInfo/Message", 4690, 0, ""},
		{"cut in CDATA", "<Event><System><EventID>4690</EventID></System><EventData><Data><![CDATA[abc", ProblemPartial, "Event/EventData/Data", 4690, 0, ""},
		{"unclosed element", "<Event><System><EventID>4690</EventID><Computer>c</System></Event>", ProblemRecovered, "<Computer> not closed", 4690, 0, "c"},
		{"stray end tag", "<Event><System><EventID>4690</EventID></Bogus></System></Event>", ProblemRecovered, "unexpected end tag </Bogus>", 4690, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := Parse([]byte(tc.raw))
			if ev.Problem == nil {
				t.Fatalf("no Problem")
			}
			if ev.Problem.Kind != tc.kind || !strings.Contains(ev.Problem.Message, tc.inMsg) {
				t.Errorf("Problem = %+v, want kind %s with %q", ev.Problem, tc.kind, tc.inMsg)
			}
			eq(t, "EventID", ev.EventID, tc.eventID)
			eq(t, "len(EventData)", len(ev.EventData), tc.dataLen)
			eq(t, "Computer", ev.Computer, tc.computer)
			eq(t, "Raw", ev.Raw, tc.raw)
		})
	}
}

// TestParseHostileShapes feeds inputs that would take quadratic time if
// any part of the parser rescanned what it had seen; linear work keeps each
// well under a second.
func TestParseHostileShapes(t *testing.T) {
	const n = 200_000
	sys := "<Event><System><EventID>1</EventID></System>"
	tests := []struct {
		name string
		raw  string
		kind ProblemKind
	}{
		{"deep nesting", sys + strings.Repeat("<a>", n) + strings.Repeat("</b>", n), ProblemPartial},
		{"ampersands", sys + "<EventData><Data>" + strings.Repeat("&", n) + strings.Repeat("&#x41", n) + "</Data></EventData></Event>", ""},
		{"many items", sys + "<EventData>" + strings.Repeat("<Data Name='n'>v</Data>", n) + "</EventData></Event>", ""},
		{"many pieces", sys + "<EventData><Data>" + strings.Repeat("a<!---->&amp;", n) + "</Data></EventData></Event>", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := Parse([]byte(tc.raw))
			var got ProblemKind
			if ev.Problem != nil {
				got = ev.Problem.Kind
			}
			if got != tc.kind {
				t.Errorf("problem %+v, want kind %q", ev.Problem, tc.kind)
			}
		})
	}
}

// TestParseEveryCut truncates real-shaped events at every byte and checks
// that the kind of Problem matches where the cut falls.
func TestParseEveryCut(t *testing.T) {
	inputs := map[string]string{"synthetic-4690": event4690}
	if root := samplesRoot(); root != "" {
		dir := filepath.Join(root, "wef")
		for _, name := range []string{"event-4688.rendered.xml", "event-4624.rendered-crlf-escaped.xml", "event-1100-userdata.xml", "event-5719-unnamed-data-binary.xml"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				inputs[name] = string(b)
			}
		}
	}
	for name, full := range inputs {
		t.Run(name, func(t *testing.T) {
			haveID := strings.Index(full, "</EventID>") + len("</EventID>")
			content := strings.Index(full, "</EventData>") + len("</EventData>")
			if !strings.Contains(full, "</EventData>") {
				content = strings.Index(full, "</UserData>") + len("</UserData>")
			}
			done := strings.Index(full, "</Event>") + len("</Event>")
			for cut := 0; cut <= len(full); cut++ {
				raw := []byte(full[:cut])
				ev := Parse(raw)
				if ev.Raw != full[:cut] {
					t.Fatalf("cut %d: Raw differs", cut)
				}
				var want ProblemKind
				switch {
				case cut < haveID:
					want = ProblemUnparsable
				case cut < content:
					want = ProblemPartial
				case cut < done:
					want = ProblemRecovered
				}
				got := ProblemKind("")
				if ev.Problem != nil {
					got = ev.Problem.Kind
				}
				if got != want {
					t.Fatalf("cut %d (%q): problem %+v, want %q", cut, tail(full[:cut]), ev.Problem, want)
				}
				if cut >= haveID && ev.EventID == 0 {
					t.Fatalf("cut %d: EventID lost", cut)
				}
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 30 {
		return "…" + s[len(s)-30:]
	}
	return s
}

func TestParseDoesNotModifyInput(t *testing.T) {
	raw := []byte("<Event><System><Provider Name='a\tb\nc'/><EventID>1</EventID></System></Event>")
	orig := slices.Clone(raw)
	// Room past len invites a NUL terminator write into the caller's array.
	buf := append(raw[:len(raw):len(raw)], 'X')[:len(raw)]
	ev := Parse(buf)
	if string(buf[:len(raw)+1]) != string(orig)+"X" {
		t.Errorf("input modified: %q", buf[:len(raw)+1])
	}
	eq(t, "Provider.Name", ev.Provider.Name, "a b c")
}

// TestParseRawUnchanged checks that what the lexer rewrites while it runs
// (whitespace in attribute values, hidden NUL bytes) is back in place in
// Raw and in values cut from it.
func TestParseRawUnchanged(t *testing.T) {
	raw := "<Event><System><Provider Name='a\tb'/><EventID>1</EventID></System><UserData><X a='1\n2\r\n3'>\x00</X></UserData></Event>"
	ev := Parse([]byte(raw))
	wantNoProblem(t, ev)
	eq(t, "Raw", ev.Raw, raw)
	eq(t, "Provider.Name", ev.Provider.Name, "a b")
	eq(t, "UserData", ev.UserData, "<X a='1\n2\r\n3'>\x00</X>")
}

func TestParseSystemTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2022-12-14T16:06:51.0643605Z", time.Date(2022, 12, 14, 16, 6, 51, 64360500, time.UTC), true},
		{"2021-03-26 16:36:00.829020", time.Date(2021, 3, 26, 16, 36, 0, 829020000, time.UTC), true},
		{"2023-02-14T09:14:23.175Z", time.Date(2023, 2, 14, 9, 14, 23, 175000000, time.UTC), true},
		{"2023-02-14T09:14:23Z", time.Date(2023, 2, 14, 9, 14, 23, 0, time.UTC), true},
		{"2023-02-14T09:14:23.123456789123Z", time.Date(2023, 2, 14, 9, 14, 23, 123456789, time.UTC), true},
		{"2023-02-14T09:14:23+02:00", time.Date(2023, 2, 14, 7, 14, 23, 0, time.UTC), true},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"2023-02-29T00:00:00Z", time.Time{}, false},
		{"2023-13-01T00:00:00Z", time.Time{}, false},
		{"2023-02-14T24:00:00Z", time.Time{}, false},
		{"2023-02-14T09:14:23.Z", time.Time{}, false},
		{"2023-02-14T09:14:23 UTC", time.Time{}, false},
		{"2023-02-14", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tc := range tests {
		got, ok := parseSystemTime(tc.in)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseSystemTime(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecoded(t *testing.T) {
	tests := []struct {
		in   string
		attr bool
		want string
	}{
		{"plain", false, "plain"},
		{"a&amp;b", false, "a&b"},
		{"&#x10FFFF;&#1114111;", false, "\U0010FFFF\U0010FFFF"},
		{"&#x110000;", false, "\uFFFD"},
		{"&#00000065;", false, "&#00000065;"},
		{"&#X41;", false, "&#X41;"},
		{"&&&;", false, "&&&;"},
		{"a\tb\r\nc", false, "a\tb\nc"},
		{"a\tb\r\nc\nd", true, "a b c d"},
		{"&#9;&#10;", true, "\t\n"},
	}
	for _, tc := range tests {
		if got := decoded(tc.in, tc.attr); got != tc.want {
			t.Errorf("decoded(%q, %v) = %q, want %q", tc.in, tc.attr, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(event4690))
	f.Add([]byte("<Event><System><EventID>1</EventID></System><EventData><Data Name='a'>&amp;&#x41;<![CDATA[x]]></Data></EventData><RenderingInfo Culture='en'><Message>m</Message><Keywords><Keyword>k</Keyword></Keywords></RenderingInfo></Event>"))
	f.Add([]byte("<Event><System><EventID>1</EventID></System><UserData><X a='1'/></UserData></Event>"))
	f.Add([]byte("<?xml version='1.0'?><!DOCTYPE x><Events><!-- c --><Event><System><EventID>1</EventID></System></Event></Events>"))
	f.Add([]byte("<Event><System><EventID>1</EventID></Bad></System>\x00</Event>"))
	if root := samplesRoot(); root != "" {
		dir := filepath.Join(root, "wef")
		files, _ := filepath.Glob(filepath.Join(dir, "event-*.xml"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := slices.Clone(raw)
		ev := Parse(raw)
		if ev.Raw != string(in) {
			t.Fatalf("Raw differs from input")
		}
		if string(raw) != string(in) {
			t.Fatalf("input modified")
		}
		// The Event must not refer to the caller's bytes.
		for i := range raw {
			raw[i] = 'X'
		}
		if again := Parse(in); !reflect.DeepEqual(ev, again) {
			t.Fatalf("parse differs after the input was overwritten:\n%+v\n%+v", ev, again)
		}
		if ev.Problem == nil && ev.EventID == 0 && !strings.Contains(string(raw), "EventID") {
			t.Fatalf("no problem reported for an event without EventID")
		}
		if ev.Problem != nil && ev.Problem.Message == "" {
			t.Fatalf("problem without message")
		}
	})
}

// renderedEvent returns a synthetic RenderedText event whose Message, like
// the ones Windows sends, carries its line breaks as character references.
func renderedEvent() string {
	var msg strings.Builder
	msg.WriteString("An attempt was made to duplicate a handle to an object.&#13;&#10;&#13;&#10;Subject:&#13;&#10;")
	for _, line := range []string{"Security ID:&#9;&#9;S-1-5-21-3623811015-3361044348-30300820-1013", "Account Name:&#9;&#9;j.doe", "Account Domain:&#9;&#9;CORP", "Logon ID:&#9;&#9;0x1C6E4A2"} {
		msg.WriteString("&#9;" + line + "&#13;&#10;")
	}
	msg.WriteString("&#13;&#10;Source Handle Information:&#13;&#10;&#9;Source Handle ID:&#9;0x6f4&#13;&#10;&#9;Source Process ID:&#9;0x1e20&#13;&#10;&#13;&#10;New Handle Information:&#13;&#10;&#9;Target Handle ID:&#9;0x2c8c&#13;&#10;&#9;Target Process ID:&#9;0x4")
	rendering := "<RenderingInfo Culture='en-US'><Message>" + msg.String() + "</Message><Level>Information</Level><Task>Handle Manipulation</Task><Opcode>Info</Opcode><Channel>Security</Channel><Provider>Microsoft Windows security auditing.</Provider><Keywords><Keyword>Audit Success</Keyword></Keywords></RenderingInfo>"
	return strings.Replace(event4690, "</Event>", rendering+"</Event>", 1)
}

func TestRenderedEvent(t *testing.T) {
	ev := Parse([]byte(renderedEvent()))
	wantNoProblem(t, ev)
	if !strings.HasSuffix(ev.Rendering.Message, "\r\n\tTarget Process ID:\t0x4") {
		t.Errorf("Message %q", ev.Rendering.Message)
	}
	eq(t, "Rendering.Task", ev.Rendering.Task, "Handle Manipulation")
}

// BenchmarkParse parses a ~900-byte 4690 as sent with ContentFormat=Raw (the
// hot path) and the same event with RenderingInfo.
func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"4690-raw", event4690},
		{"4690-rendered", renderedEvent()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.raw)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if ev := Parse(raw); ev.EventID != 4690 || ev.Problem != nil {
					b.Fatal("bad parse")
				}
			}
		})
	}
}

func wantNoProblem(t *testing.T, ev *Event) {
	t.Helper()
	if ev.Problem != nil {
		t.Fatalf("unexpected problem: %+v", ev.Problem)
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !equal(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case []Data:
		return slices.Equal(x, b.([]Data))
	case []string:
		return slices.Equal(x, b.([]string))
	case time.Time:
		return x.Equal(b.(time.Time))
	}
	return a == b
}

func eqData(t *testing.T, ev *Event, name, want string) {
	t.Helper()
	got, ok := ev.DataValue(name)
	if !ok || got != want {
		t.Errorf("Data %s = %q (present %v), want %q", name, got, ok, want)
	}
}
