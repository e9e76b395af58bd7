package handles

import (
	"path/filepath"
	"slices"
	"testing"
	"wefgate/internal/samples"

	"wefgate/wef/event"
	"wefgate/wef/eventfile"
)

// sampleDir locates the shared handle-event captures, skipping the test
// when they are absent.
func sampleDir(t testing.TB) string {
	t.Helper()
	return samples.Path(t, "handle-events")
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
		caps = append(caps, capture{name: "xml/" + filepath.Base(f), events: loadEvents(t, f)})
	}
	for _, f := range jsonFiles {
		caps = append(caps, capture{name: "json/" + filepath.Base(f), events: loadEvents(t, f)})
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

// loadEvents reads a sample file with the project's own reader and
// parser. OTRF captures stored newest-first are reversed so that they
// replay in log order (they carry no EventRecordID to sort by).
func loadEvents(t testing.TB, path string) []*event.Event {
	t.Helper()
	raws, err := eventfile.ReadFile(path)
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	evs := make([]*event.Event, 0, len(raws))
	for _, raw := range raws {
		ev := event.Parse([]byte(raw))
		if ev.Problem != nil {
			t.Fatalf("%s: parse problem %s: %s", path, ev.Problem.Kind, ev.Problem.Message)
		}
		evs = append(evs, ev)
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
