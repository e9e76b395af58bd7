package handles

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"wefgate/record"
	"wefgate/wef/event"
	"wefgate/winvalue"
)

var replayStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// replay adds the events in order, one millisecond apart, flushes, and
// returns the Outputs by event. It fails the test if an event comes out
// twice or never, or if one host's events come out of order.
func replay(t testing.TB, cfg Config, evs []*event.Event) (map[*event.Event]Output[int], *Correlator[int]) {
	t.Helper()
	c := NewCorrelator[int](cfg)
	byEvent := make(map[*event.Event]Output[int], len(evs))
	lastPos := make(map[string]int)
	collect := func(outs []Output[int]) {
		for _, o := range outs {
			if o.Summary != nil {
				continue
			}
			if _, dup := byEvent[o.Event]; dup {
				t.Fatalf("event %d released twice", o.Event.RecordID)
			}
			byEvent[o.Event] = o
			if pos := o.Pos; pos < lastPos[o.Host] {
				t.Fatalf("host %s: position %d released after %d", o.Host, pos, lastPos[o.Host])
			} else {
				lastPos[o.Host] = pos
			}
		}
	}
	for i, ev := range evs {
		collect(c.Add(replayStart.Add(time.Duration(i)*time.Millisecond), ev.Computer, ev, i))
	}
	collect(c.Flush())
	if len(byEvent) != len(evs) {
		t.Fatalf("%d events in, %d out", len(evs), len(byEvent))
	}
	if s := c.Stats(); s.Pending != 0 || s.Waiting != 0 {
		t.Fatalf("after Flush: %+v", s)
	}
	return byEvent, c
}

func attr[P any](o Output[P], key string) any {
	r := record.Record{Attributes: o.Attributes}
	v, _ := r.Attribute(key)
	return v
}

func hexData(ev *event.Event, name string) uint64 {
	v, _ := dataHex(ev, name)
	return v
}

func TestReplayMimikatzLsass(t *testing.T) {
	const lsass = `\Device\HarddiskVolume4\Windows\System32\lsass.exe`
	const mimikatz = `C:\TOOLS\Security_tool\Mimikatz-fev-2020\mimikatz.exe`
	capt := loadCapture(t, "xml/mdecrevoisier_mimikatz_sekurlsa_lsass_4656_4663_4690_4658.xml")
	outs, _ := replay(t, Config{}, capt.events)

	var dup, copyClose *Output[int]
	for _, ev := range capt.events {
		o := outs[ev]
		switch ev.EventID {
		case 4690:
			dup = &o
		case 4658:
			copyClose = &o
		default:
			if o.Export {
				t.Errorf("helper event %d exported", ev.EventID)
			}
		}
	}
	if dup == nil || copyClose == nil {
		t.Fatal("capture lacks its 4690 or 4658")
	}
	rights := []any{"PROCESS_VM_READ", "PROCESS_QUERY_LIMITED_INFORMATION"}
	for _, tc := range []struct {
		name string
		o    *Output[int]
		want map[string]any
	}{
		{"4690", dup, map[string]any{
			AttrStatus:            StatusMatched,
			AttrObjectType:        "Process",
			AttrObjectName:        lsass,
			AttrObjectProcessName: "lsass.exe",
			AttrProcessPath:       mimikatz,
			AttrProcessName:       "mimikatz.exe",
			AttrAccessMask:        "0x1010",
			AttrAccessRights:      rights,
			AttrSourceHandleID:    int64(0x274),
			AttrTargetHandleID:    int64(0x11c0),
			AttrTargetPID:         int64(4),
			AttrTargetName:        "System",
			AttrTargetIsSystem:    true,
			AttrOpenRecordID:      int64(9217076),
			AttrSubjectLogonID:    int64(0xe922e),
			AttrFlags:             []any{FlagLsassObject, FlagProcessMemoryRead},
		}},
		{"4658", copyClose, map[string]any{
			AttrStatus:            StatusMatched,
			AttrLink:              LinkDuplicate,
			AttrObjectName:        lsass,
			AttrProcessName:       "mimikatz.exe",
			AttrAccessRights:      rights,
			AttrHandleID:          int64(0x11c0),
			AttrSourceHandleID:    int64(0x274),
			AttrTargetIsSystem:    true,
			AttrDuplicateRecordID: int64(9217074),
			AttrFlags:             []any{FlagLsassObject, FlagProcessMemoryRead},
		}},
	} {
		if !tc.o.Export {
			t.Errorf("%s not exported", tc.name)
		}
		for k, want := range tc.want {
			if got := attr(*tc.o, k); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s = %#v, want %#v", tc.name, k, got, want)
			}
		}
		t.Logf("enriched %s:\n%s", tc.name, formatAttributes(tc.o.Attributes))
	}
	// The example in the package documentation is this 4690's output.
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatalf("read doc.go: %v", err)
	}
	var documented strings.Builder
	for _, line := range strings.Split(string(doc), "\n") {
		if l, ok := strings.CutPrefix(line, "//\t"); ok && strings.Contains(l, " = ") {
			documented.WriteString(l + "\n")
		}
	}
	if got := formatAttributes(dup.Attributes); documented.String() != got {
		t.Errorf("doc.go example is stale:\n%s\nwant:\n%s", documented.String(), got)
	}
	// The 4656 is logged after both, so the 4658 closing the copy is
	// matched although its handle was closed before it was opened.
	if d := attr(*copyClose, AttrDuration); d != nil {
		t.Errorf("copy close has a duration %v although it precedes the open", d)
	}
}

func formatAttributes(kvs []record.KV) string {
	var b strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&b, "%s = %v\n", kv.Key, kv.Value)
	}
	return b.String()
}

// TestReplaySamples replays every capture and checks that each 4690 whose
// source open (4656) is in the same capture is enriched with that open's
// object.
func TestReplaySamples(t *testing.T) {
	type tally struct{ dups, withPartner, enriched, closes, closesMatched, dupCloses int }
	var all tally
	for _, capt := range loadCaptures(t) {
		outs, c := replay(t, Config{}, capt.events)
		var ft tally
		for i, ev := range capt.events {
			o := outs[ev]
			switch Kind(ev) {
			case KindHandleDuplicated:
				ft.dups++
				partner := nearestOpen(capt.events, i)
				if partner == nil {
					continue
				}
				ft.withPartner++
				if attr(o, AttrStatus) == StatusMatched && attr(o, AttrObjectName) == dataString(partner, "ObjectName") {
					ft.enriched++
				} else {
					t.Errorf("%s: 4690 record %d not enriched from its 4656 (record %d): %s",
						capt.name, ev.RecordID, partner.RecordID, formatAttributes(o.Attributes))
				}
			case KindHandleClosed, KindObjectDeleted:
				ft.closes++
				if attr(o, AttrStatus) == StatusMatched {
					ft.closesMatched++
				}
				if attr(o, AttrLink) == LinkDuplicate {
					ft.dupCloses++
				}
			}
		}
		s := c.Stats()
		t.Logf("%-72s 4690: %2d (partner present %2d, enriched %2d)  4658/4660: %2d (matched %2d, copy closes %2d)  stats matched=%d partial=%d unmatched=%d",
			capt.name, ft.dups, ft.withPartner, ft.enriched, ft.closes, ft.closesMatched, ft.dupCloses, s.Matched, s.Partial, s.Unmatched)
		all.dups += ft.dups
		all.withPartner += ft.withPartner
		all.enriched += ft.enriched
		all.closes += ft.closes
		all.closesMatched += ft.closesMatched
		all.dupCloses += ft.dupCloses
	}
	t.Logf("ALL: 4690: %d (partner present %d, enriched %d)  4658/4660: %d (matched %d, copy closes %d)",
		all.dups, all.withPartner, all.enriched, all.closes, all.closesMatched, all.dupCloses)
	if all.withPartner == 0 {
		t.Fatal("no 4690 with a partner 4656 in the samples")
	}
	if ratio := float64(all.enriched) / float64(all.withPartner); ratio < 0.99 {
		t.Errorf("enriched %d of %d 4690s with a partner (%.1f%%), want >= 99%%", all.enriched, all.withPartner, 100*ratio)
	}
}

// nearestOpen finds the 4656 (or 4663 standing in for it) of the source
// handle of the 4690 at index i: same host, process and handle, closest in
// the capture.
func nearestOpen(evs []*event.Event, i int) *event.Event {
	dup := evs[i]
	pid, h := hexData(dup, "SourceProcessId"), hexData(dup, "SourceHandleId")
	var best *event.Event
	bestDist := len(evs)
	for j, ev := range evs {
		if ev.EventID != 4656 || ev.Computer != dup.Computer ||
			hexData(ev, "ProcessId") != pid || hexData(ev, "HandleId") != h {
			continue
		}
		if d := max(j-i, i-j); d < bestDist {
			best, bestDist = ev, d
		}
	}
	return best
}

func TestReplaySamplesDecodeEveryMask(t *testing.T) {
	for _, capt := range loadCaptures(t) {
		for _, ev := range capt.events {
			if ev.EventID != 4656 && ev.EventID != 4663 && ev.EventID != 4661 {
				continue
			}
			switch dataString(ev, "ObjectType") {
			case "File", "Key", "Process", "SAM_DOMAIN", "SAM_USER", "SAM_ALIAS":
			default:
				// "Security" (PlugPlaySecurityObject) has no named
				// specific rights, and a DC's SAM_SERVER audits bits
				// 0x40-0x100 that ntsam.h does not define: those stay hex.
				continue
			}
			mask, ok := dataHex(ev, "AccessMask")
			if !ok {
				t.Errorf("%s: record %d has no AccessMask", capt.name, ev.RecordID)
				continue
			}
			for _, r := range winvalue.AccessRights(dataString(ev, "ObjectType"), uint32(mask)) {
				if strings.HasPrefix(r, "0x") {
					t.Errorf("%s: record %d %s mask %#x: unnamed right %s", capt.name, ev.RecordID, dataString(ev, "ObjectType"), mask, r)
				}
			}
		}
	}
}
