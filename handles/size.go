package handles

import (
	"strings"
	"unicode/utf8"
	"unsafe"

	"wefgate/wef/event"
)

// Memory estimates, in bytes, behind MaxStateBytes and MaxPendingBytes.
// They are upper bounds of what Go allocates for one entry: the struct,
// its share of the map that indexes it, and the strings it owns. The
// README's worst cases are computed from them.
const (
	// mapSlotBytes is a map slot (key, pointer value, tophash, load factor).
	mapSlotBytes = 64
	// objectAttrBytes is the cached attribute list of an object (about
	// ten record.KV); its strings are the object's own.
	objectAttrBytes  = 10 * 48
	handleEntryBytes = int64(unsafe.Sizeof(handleEntry[any]{})) + int64(unsafe.Sizeof(duplicate{})) + mapSlotBytes
	objectBytes      = int64(unsafe.Sizeof(object{})) + objectAttrBytes
	procEntryBytes   = int64(unsafe.Sizeof(procEntry[any]{})) + mapSlotBytes
	pendingBytes     = int64(unsafe.Sizeof(pending[any]{})) + int64(unsafe.Sizeof(event.Event{})) + 16
	eventDataBytes   = int64(unsafe.Sizeof(event.Data{}))
)

// clip returns a copy of s, cut to MaxFieldBytes at a UTF-8 boundary. The
// copy matters: event strings share the whole raw event's buffer, and
// state must not keep that buffer alive.
func clip(s string) string {
	if len(s) <= MaxFieldBytes {
		return strings.Clone(s)
	}
	const ellipsis = "…"
	cut := MaxFieldBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis // concatenation copies
}

// size estimates the memory of a handle entry, counting its object in
// full even when other entries share it, so the sum is an upper bound.
func (e *handleEntry[P]) size() int64 {
	n := handleEntryBytes
	if e.obj != nil {
		n += objectBytes + int64(len(e.obj.objectType)+len(e.obj.objectName)+len(e.obj.image))
	}
	return n
}

func (e *procEntry[P]) size() int64 {
	return procEntryBytes + int64(len(e.image)+len(e.parentImage))
}

// eventSize estimates the memory of an event held in the reorder window:
// its raw XML, plus its decoded strings counted again (most share Raw, but
// decoded character references do not).
func eventSize(ev *event.Event) int64 {
	n := pendingBytes + int64(len(ev.Raw)) + int64(len(ev.EventData))*eventDataBytes
	for _, d := range ev.EventData {
		n += int64(len(d.Name) + len(d.Value))
	}
	return n + int64(len(ev.UserData)+len(ev.Binary))
}
