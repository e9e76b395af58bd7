package handles

import (
	"testing"

	"wefgate/wef/event"
)

// linkableClose reports whether the capture holds the object a 4658 or
// 4660 at index i refers to. Handle values are reused, so only the latest
// event about the same (host, process, handle) before it counts: an open
// (4656, 4661, 4663) makes it linkable; a 4690 that made the copy it closes
// does when that 4690's own source open is in the capture; an earlier
// close means its handle's open is missing.
func linkableClose(evs []*event.Event, i int) bool {
	cl := evs[i]
	pid, h := hexData(cl, "ProcessId"), hexData(cl, "HandleId")
	if h == 0 {
		return false
	}
	for j := i - 1; j >= 0; j-- {
		ev := evs[j]
		if ev.Computer != cl.Computer {
			continue
		}
		switch ev.EventID {
		case 4656, 4661, 4663:
			if hexData(ev, "ProcessId") == pid && hexData(ev, "HandleId") == h {
				return true
			}
		case 4658:
			if hexData(ev, "ProcessId") == pid && hexData(ev, "HandleId") == h {
				return false
			}
		case 4690:
			closePID := hexData(ev, "TargetProcessId")
			if closePID == systemPID {
				closePID = hexData(ev, "SourceProcessId")
			}
			if closePID == pid && hexData(ev, "TargetHandleId") == h {
				return nearestOpen(evs, j) != nil
			}
		}
	}
	return false
}

// TestReplaySamplesLinkable replays every capture with the default
// configuration and requires every linkable 4690, 4658 and 4660 to come
// out matched: a 4690 whose source open is in the capture, a close whose
// open or copy is.
func TestReplaySamplesLinkable(t *testing.T) {
	var linkable, matched int
	for _, capt := range loadCaptures(t) {
		outs, _ := replay(t, Config{}, capt.events)
		for i, ev := range capt.events {
			var ok bool
			switch Kind(ev) {
			case KindHandleDuplicated:
				ok = nearestOpen(capt.events, i) != nil
			case KindHandleClosed, KindObjectDeleted:
				ok = linkableClose(capt.events, i)
			}
			if !ok {
				continue
			}
			linkable++
			o := outs[ev]
			if attr(o, AttrStatus) == StatusMatched {
				matched++
				continue
			}
			t.Errorf("%s: %d record %d is linkable but %v: %s", capt.name, ev.EventID, ev.RecordID, attr(o, AttrStatus), formatAttributes(o.Attributes))
		}
	}
	t.Logf("matched %d of %d linkable 4690/4658/4660", matched, linkable)
}
