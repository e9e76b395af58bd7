package eventfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"wefgate/internal/samples"

	"golang.org/x/text/encoding/unicode"

	"wefgate/wef/event"
)

// samplesDir returns a directory below the shared samples, skipping the
// test when it is absent.
func samplesDir(t testing.TB, parts ...string) string {
	t.Helper()
	return samples.Path(t, parts...)
}

const (
	evA = `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>1</EventID><Computer>a</Computer></System><EventData><Data Name='x'>1&amp;2</Data></EventData></Event>`
	evB = "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><EventID>2</EventID>\n<Computer>b</Computer><Execution ProcessID=\"4\"\tThreadID=\"8\"/></System><EventData><Data Name=\"y\"/></EventData></Event>"
)

func TestReadXML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"events document", "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- exported -->\n<Events>\n" + evA + "\n<!-- <Event>not this</Event> -->\n" + evB + "\n</Events>\n", []string{evA, evB}},
		{"single event", "<?xml version='1.0'?>\r\n" + evA + "\r\n", []string{evA}},
		{"concatenation", evA + evB + "\n" + evA, []string{evA, evB, evA}},
		{"void event", "<Events><Event/></Events>", []string{"<Event/>"}},
		{"prefixed", "<e:Events xmlns:e='urn:x'><e:Event><e:System/></e:Event></e:Events>", []string{"<e:Event><e:System/></e:Event>"}},
		{"nested Event names stay inside", "<Event><UserData><Event>x</Event></UserData></Event>", []string{"<Event><UserData><Event>x</Event></UserData></Event>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tc.in), FormatAuto)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		format Format
		inErr  string
	}{
		{"empty", "  \n", FormatAuto, "empty"},
		{"not events", "hello", FormatAuto, "unknown event file format"},
		{"no event element", "<Envelope/>", FormatAuto, "no <Event>"},
		{"unterminated", "<Events>" + evA + "<Event><System>", FormatAuto, "unterminated <Event> starting at byte"},
		{"bad json", "{\"EventID\": 4658,", FormatAuto, "line 1"},
		{"json without EventID", "{\"Hostname\": \"x\"}\n", FormatJSONLines, "EventID"},
		{"json array", "[1]\n", FormatJSONLines, "not an object"},
		{"bad format", evA, Format(9), "unknown event file format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in), tc.format)
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.inErr)
			}
		})
	}
}

func TestReadUTF16(t *testing.T) {
	doc := "<?xml version='1.0' encoding='utf-16'?><Events>" + evA + "</Events>"
	enc := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder()
	b, err := enc.Bytes([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(b), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{evA}) {
		t.Errorf("got %q", got)
	}
}

func TestReadXMLSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(samplesDir(t, "handle-events", "xml"), "*.xml"))
	if len(files) == 0 {
		t.Skip("no XML samples")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		events, err := ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if want := strings.Count(string(raw), "<Event xmlns"); len(events) != want {
			t.Errorf("%s: %d events, want %d", filepath.Base(f), len(events), want)
		}
		for i, x := range events {
			ev := event.Parse([]byte(x))
			if ev.Problem != nil || ev.EventID == 0 || !ev.HasRecordID {
				t.Errorf("%s #%d: EventID %d problem %+v", filepath.Base(f), i, ev.EventID, ev.Problem)
			}
		}
	}
}

// TestReadJSONLinesSamples converts every sample JSON event and checks the
// XML against the JSON, read independently with encoding/json.
func TestReadJSONLinesSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(samplesDir(t, "handle-events", "json"), "*.jsonl"))
	if len(files) == 0 {
		t.Skip("no JSON samples")
	}
	for _, f := range files {
		events, err := ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		records := readJSONMaps(t, f)
		if len(events) != len(records) {
			t.Fatalf("%s: %d events from %d lines", filepath.Base(f), len(events), len(records))
		}
		for i, x := range events {
			where := filepath.Base(f) + ":" + strconv.Itoa(i+1)
			checkAgainstJSON(t, where, x, records[i])
		}
	}
}

func readJSONMaps(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func checkAgainstJSON(t *testing.T, where, x string, m map[string]any) {
	t.Helper()
	if strings.ContainsAny(x, "\r\n") {
		t.Errorf("%s: XML spans lines", where)
	}
	ev := event.Parse([]byte(x))
	if ev.Problem != nil {
		t.Fatalf("%s: problem %+v in %s", where, ev.Problem, x)
	}
	if got, want := strconv.FormatUint(uint64(ev.EventID), 10), jsonString(m["EventID"]); got != want {
		t.Errorf("%s: EventID %s, want %s", where, got, want)
	}
	if rn, ok := m["RecordNumber"]; ok {
		if got := strconv.FormatUint(ev.RecordID, 10); !ev.HasRecordID || got != jsonString(rn) {
			t.Errorf("%s: RecordID %s, want %s", where, got, jsonString(rn))
		}
	} else if ev.HasRecordID {
		t.Errorf("%s: RecordID %d invented", where, ev.RecordID)
	}
	if ev.Computer != m["Hostname"] {
		t.Errorf("%s: Computer %q, want %q", where, ev.Computer, m["Hostname"])
	}
	if ev.Channel != "Security" {
		t.Errorf("%s: Channel %q", where, ev.Channel)
	}
	if ev.TimeCreated.IsZero() {
		t.Errorf("%s: no TimeCreated", where)
	}
	_, hasKeywords := m["Keywords"]
	if _, ok := m["EventType"]; ok {
		hasKeywords = true
	}
	if hasKeywords && ev.Keywords != event.KeywordAuditSuccess|0x8000000000000000 {
		t.Errorf("%s: Keywords %#x", where, ev.Keywords)
	}
	var want []event.Data
	for _, f := range schemaFields(ev.EventID) {
		if v, ok := m[f.name]; ok {
			want = append(want, event.Data{Name: f.name, Value: jsonString(v)})
		}
	}
	if len(want) == 0 || !slices.Equal(ev.EventData, want) {
		t.Errorf("%s: EventData\n got %q\nwant %q", where, ev.EventData, want)
	}
	if msg, ok := m["Message"].(string); ok && (ev.Rendering == nil || ev.Rendering.Message != msg) {
		t.Errorf("%s: Message not carried over", where)
	}
}

func jsonString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

func TestReadJSONUnknownEvent(t *testing.T) {
	line := `{"EventID":"9999","Hostname":"h","Channel":"Application","SourceName":"App","Zeta":"z","Alpha":1,"tags":["x"],"Nested":{"a":1},"Empty":null,"EventData":{"Inner":"i"}}`
	events, err := Read(strings.NewReader(line+"\n\n"), FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Parse([]byte(events[0]))
	if ev.Problem != nil {
		t.Fatal(ev.Problem)
	}
	want := []event.Data{{Name: "Zeta", Value: "z"}, {Name: "Alpha", Value: "1"}, {Name: "Empty"}, {Name: "Inner", Value: "i"}}
	if !slices.Equal(ev.EventData, want) {
		t.Errorf("EventData %q, want %q", ev.EventData, want)
	}
	if ev.Channel != "Application" || ev.Provider.Name != "App" || ev.EventID != 9999 {
		t.Errorf("System: %+v", ev)
	}
}

func TestJSONVersionAndKeywords(t *testing.T) {
	line := `{"EventID":4688,"Hostname":"h","Keywords":-9214364837600034816,"EventTime":"2020-09-22 04:11:49","SubjectUserSid":"S-1-5-18","NewProcessId":"0x10","CommandLine":"a\r\nb"}`
	events, err := Read(strings.NewReader(line), FormatJSONLines)
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Parse([]byte(events[0]))
	if ev.Version != 1 {
		t.Errorf("Version %d, want 1 (CommandLine appeared in version 1)", ev.Version)
	}
	if ev.KeywordsRaw != "0x8020000000000000" || !ev.AuditSuccess() {
		t.Errorf("Keywords %q", ev.KeywordsRaw)
	}
	if want := time.Date(2020, 9, 22, 4, 11, 49, 0, time.UTC); !ev.TimeCreated.Equal(want) {
		t.Errorf("TimeCreated %v", ev.TimeCreated)
	}
	if v, _ := ev.DataValue("CommandLine"); v != "a\r\nb" {
		t.Errorf("CommandLine %q", v)
	}
}

func TestEventXMLRoundTrip(t *testing.T) {
	in := &event.Event{
		Provider:          event.Provider{Name: "P'rov\"ider", GUID: "{g}", EventSourceName: "S&S"},
		EventID:           5719,
		Qualifiers:        16384,
		HasQualifiers:     true,
		Version:           3,
		Level:             2,
		Task:              7,
		Opcode:            1,
		Keywords:          0x80000000000000,
		TimeCreated:       time.Date(2024, 3, 14, 13, 54, 19, 362866200, time.UTC),
		RecordID:          42,
		HasRecordID:       true,
		ActivityID:        "{a}",
		RelatedActivityID: "{r}",
		Execution:         event.Execution{ProcessID: 4, ThreadID: 9, HasProcessID: true},
		Channel:           "System",
		Computer:          "hôst.example",
		UserID:            "S-1-5-18",
		EventData:         []event.Data{{Value: "a<b>&c"}, {Name: "N", Value: "line1\r\nline2\ttab \x05 ]]> \uFFFD"}, {Name: "E"}},
		Binary:            "5E0000C0",
		Rendering:         &event.Rendering{Culture: "en-US", Message: "m\r\n", Level: "Error", Keywords: []string{"Classic", "x&y"}},
	}
	x := EventXML(in)
	if strings.ContainsAny(x, "\r\n\t\x05") {
		t.Errorf("control characters left raw: %q", x)
	}
	out := event.Parse([]byte(x))
	if out.Problem != nil {
		t.Fatalf("problem %+v in %s", out.Problem, x)
	}
	if out.SystemTime != "2024-03-14T13:54:19.3628662Z" {
		t.Errorf("SystemTime %q", out.SystemTime)
	}
	out.Raw, out.SystemTime, out.KeywordsRaw = "", "", ""
	if !out.TimeCreated.Equal(in.TimeCreated) {
		t.Errorf("TimeCreated %v", out.TimeCreated)
	}
	out.TimeCreated = in.TimeCreated
	if !slices.Equal(out.EventData, in.EventData) {
		t.Errorf("EventData %q", out.EventData)
	}
	if out.Rendering.Message != in.Rendering.Message || !slices.Equal(out.Rendering.Keywords, in.Rendering.Keywords) {
		t.Errorf("Rendering %+v", out.Rendering)
	}
	out.EventData, in.EventData = nil, nil
	out.Rendering, in.Rendering = nil, nil
	if !reflect.DeepEqual(*out, *in) {
		t.Errorf("round trip\n got %+v\nwant %+v", *out, *in)
	}
}

func TestGenerate(t *testing.T) {
	const n = 3000
	events := Generate(n, "ws-0042.corp.example.com", 7)
	if len(events) != n {
		t.Fatalf("%d events", len(events))
	}
	if again := Generate(n, "ws-0042.corp.example.com", 7); !slices.Equal(events, again) {
		t.Error("same seed gave different events")
	}
	if other := Generate(50, "ws-0042.corp.example.com", 8); slices.Equal(events[:50], other) {
		t.Error("different seeds gave the same events")
	}
	if len(Generate(0, "h", 1)) != 0 || len(Generate(-1, "h", 1)) != 0 {
		t.Error("n <= 0 gave events")
	}

	type key struct{ pid, handle string }
	open := map[key]bool{}
	exited := map[string]bool{}
	counts := map[uint32]int{}
	var prev uint64
	var prevTime time.Time
	for i, x := range events {
		ev := event.Parse([]byte(x))
		if ev.Problem != nil {
			t.Fatalf("#%d: problem %+v", i, ev.Problem)
		}
		if i > 0 && ev.RecordID != prev+1 {
			t.Fatalf("#%d: RecordID %d after %d", i, ev.RecordID, prev)
		}
		if ev.TimeCreated.Before(prevTime) || ev.Computer != "ws-0042.corp.example.com" {
			t.Fatalf("#%d: time %v computer %q", i, ev.TimeCreated, ev.Computer)
		}
		prev, prevTime = ev.RecordID, ev.TimeCreated
		counts[ev.EventID]++
		d := func(name string) string {
			v, ok := ev.DataValue(name)
			if !ok {
				t.Fatalf("#%d %d: no %s", i, ev.EventID, name)
			}
			return v
		}
		switch ev.EventID {
		case 4656:
			if ev.AuditSuccess() {
				k := key{d("ProcessId"), d("HandleId")}
				if open[k] {
					t.Fatalf("#%d: handle %v opened twice", i, k)
				}
				open[k] = true
			} else if d("HandleId") != "0x0" {
				t.Fatalf("#%d: failed request with a handle", i)
			}
		case 4663:
			if k := (key{d("ProcessId"), d("HandleId")}); !open[k] {
				t.Fatalf("#%d: access on unknown handle %v", i, k)
			}
		case 4690:
			if k := (key{d("SourceProcessId"), d("SourceHandleId")}); !open[k] {
				t.Fatalf("#%d: duplicate of unknown handle %v", i, k)
			}
			if target := d("TargetProcessId"); target != "0x4" {
				open[key{target, d("TargetHandleId")}] = true
			}
		case 4658:
			k := key{d("ProcessId"), d("HandleId")}
			if !open[k] {
				t.Fatalf("#%d: close of unknown handle %v", i, k)
			}
			delete(open, k)
		case 4689:
			pid := d("ProcessId")
			for k := range open {
				if k.pid == pid {
					t.Fatalf("#%d: process %s exits with handle %s open", i, pid, k.handle)
				}
			}
			exited[pid] = true
		}
		if pid, ok := ev.DataValue("ProcessId"); ok && exited[pid] && ev.EventID != 4689 {
			t.Fatalf("#%d: process %s acts after its exit", i, pid)
		}
	}
	for _, id := range []uint32{4624, 4656, 4658, 4663, 4688, 4689, 4690} {
		if counts[id] == 0 {
			t.Errorf("no %d among %d events: %v", id, n, counts)
		}
	}
}

// TestGenerateStaysBounded checks that the simulated host does not grow
// without limit, which would make long load tests slow down.
func TestGenerateStaysBounded(t *testing.T) {
	g := newGenerator("h", 3)
	for range 100_000 {
		g.next()
	}
	handles := 0
	for _, p := range g.procs {
		handles += len(p.handles)
	}
	if len(g.procs) > maxProcesses+1 || handles > maxOpenHandles+1 || len(g.logons) > maxLogons {
		t.Errorf("%d processes, %d open handles, %d logons", len(g.procs), handles, len(g.logons))
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("<Events>" + evA + evB + "</Events>"))
	f.Add([]byte(`{"EventID":4690,"Hostname":"h","SourceHandleId":"0x1","Keywords":"0x8020000000000000","TimeCreated":"2020-10-18 10:56:14.646"}`))
	f.Add([]byte(`{"EventID":1,"EventData":{"a":"b"},"x":[1,{"y":2}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := Read(bytes.NewReader(data), FormatAuto)
		if err != nil {
			return
		}
		for _, x := range events {
			if len(x) == 0 {
				t.Fatal("empty event")
			}
			if data[firstNonSpace(data)] == '{' {
				if ev := event.Parse([]byte(x)); ev.Problem != nil {
					t.Fatalf("converted JSON does not parse: %+v\n%s", ev.Problem, x)
				}
			}
		}
	})
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return i
		}
	}
	return 0
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Generate(1000, "ws-0042.corp.example.com", 1)
	}
}
