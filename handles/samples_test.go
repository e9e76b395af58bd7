package handles

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"wefgate/wef/event"
)

// sampleDir locates the shared handle-event captures next to the
// repository, skipping the test when they are absent.
func sampleDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
	samples := filepath.Join(dir, "..", "shared", "samples", "handle-events")
	if _, err := os.Stat(samples); err != nil {
		t.Skipf("handle-event samples not available: %v", err)
	}
	return samples
}

// capture is one sample file's events in replay order.
type capture struct {
	name   string
	events []*event.Event
}

func loadCaptures(t testing.TB) []capture {
	t.Helper()
	dir := sampleDir(t)
	var caps []capture
	xmlFiles, _ := filepath.Glob(filepath.Join(dir, "xml", "*.xml"))
	jsonFiles, _ := filepath.Glob(filepath.Join(dir, "json", "*.jsonl"))
	if len(xmlFiles)+len(jsonFiles) == 0 {
		t.Skip("no handle-event sample files")
	}
	for _, f := range xmlFiles {
		caps = append(caps, capture{name: "xml/" + filepath.Base(f), events: loadXMLEvents(t, f)})
	}
	for _, f := range jsonFiles {
		caps = append(caps, capture{name: "json/" + filepath.Base(f), events: loadJSONEvents(t, f)})
	}
	return caps
}

func loadCapture(t testing.TB, name string) capture {
	t.Helper()
	for _, c := range loadCaptures(t) {
		if c.name == name {
			return c
		}
	}
	t.Skipf("sample %s not available", name)
	return capture{}
}

// loadXMLEvents splits an <Events> document into its <Event> elements and
// parses each with the gateway's own parser.
func loadXMLEvents(t testing.TB, path string) []*event.Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var evs []*event.Event
	rest := string(data)
	for {
		start := strings.Index(rest, "<Event ")
		if start < 0 {
			break
		}
		end := strings.Index(rest[start:], "</Event>")
		if end < 0 {
			t.Fatalf("%s: unterminated <Event>", path)
		}
		raw := rest[start : start+end+len("</Event>")]
		ev := event.Parse([]byte(raw))
		if ev.Problem != nil {
			t.Fatalf("%s: parse problem %s: %s", path, ev.Problem.Kind, ev.Problem.Message)
		}
		evs = append(evs, ev)
		rest = rest[start+end:]
	}
	return evs
}

// jsonSystemKeys are the OTRF shipper's fields that are not EventData.
var jsonSystemKeys = map[string]bool{
	"@timestamp": true, "@version": true, "Category": true, "Channel": true, "EventID": true,
	"EventReceivedTime": true, "EventTime": true, "EventType": true, "ExecutionProcessID": true,
	"Hostname": true, "Keywords": true, "Level": true, "Message": true, "Opcode": true,
	"OpcodeValue": true, "ProviderGuid": true, "RecordNumber": true, "Severity": true,
	"SeverityValue": true, "SourceModuleName": true, "SourceModuleType": true, "SourceName": true,
	"Task": true, "ThreadID": true, "TimeCreated": true, "Version": true, "host": true, "port": true,
	"tags": true,
}

// loadJSONEvents turns OTRF's flattened JSON lines into events. Captures
// stored newest-first are reversed so that they replay in log order.
func loadJSONEvents(t testing.TB, path string) []*event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	var evs []*event.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		evs = append(evs, jsonEvent(m))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var up, down int
	for i := 1; i < len(evs); i++ {
		switch evs[i].TimeCreated.Compare(evs[i-1].TimeCreated) {
		case 1:
			up++
		case -1:
			down++
		}
	}
	if down > up {
		slices.Reverse(evs)
	}
	return evs
}

func jsonEvent(m map[string]any) *event.Event {
	str := func(k string) string {
		switch v := m[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return ""
	}
	ev := &event.Event{
		Provider: event.Provider{Name: str("SourceName"), GUID: str("ProviderGuid")},
		Channel:  str("Channel"),
		Computer: str("Hostname"),
	}
	id, _ := strconv.ParseUint(str("EventID"), 10, 32)
	ev.EventID = uint32(id)
	ev.KeywordsRaw = str("Keywords")
	ev.Keywords, _ = strconv.ParseUint(strings.TrimPrefix(ev.KeywordsRaw, "0x"), 16, 64)
	if rn := str("RecordNumber"); rn != "" {
		ev.RecordID, _ = strconv.ParseUint(rn, 10, 64)
		ev.HasRecordID = true
	}
	ev.SystemTime = str("TimeCreated")
	if ev.SystemTime == "" {
		ev.SystemTime = str("EventTime")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if tm, err := time.Parse(layout, ev.SystemTime); err == nil {
			ev.TimeCreated = tm.UTC()
			break
		}
	}
	var names []string
	for k := range m {
		if !jsonSystemKeys[k] {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		ev.EventData = append(ev.EventData, event.Data{Name: k, Value: str(k)})
	}
	return ev
}

func TestLoadCaptures(t *testing.T) {
	caps := loadCaptures(t)
	total := 0
	for _, c := range caps {
		for _, ev := range c.events {
			if ev.EventID == 0 || ev.Computer == "" || ev.TimeCreated.IsZero() {
				t.Errorf("%s: incomplete event %+v", c.name, ev)
			}
		}
		total += len(c.events)
	}
	// The README counts 228 events of interest; the files hold a few
	// more context events.
	if total < 228 {
		t.Errorf("loaded %d events from %d files, want at least 228", total, len(caps))
	}
}
