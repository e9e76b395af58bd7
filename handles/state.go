package handles

import (
	"container/list"
	"time"

	"wefgate/wef/event"
)

// handleKey names a handle the way Windows scopes it: handle values are
// only unique inside one process of one host.
type handleKey struct {
	host   string
	pid    uint64
	handle uint64
}

// object is what a 4656 (or, lacking one, a 4663) says about an open
// handle. It is shared, never modified after creation, by every event that
// links to it.
type object struct {
	objectType string
	objectName string
	mask       uint32
	hasMask    bool
	// opened is the 4656 TimeCreated; zero when learned from a 4663.
	opened       time.Time
	openRecordID uint64
	hasRecordID  bool
	// image is the ProcessName of the process holding the handle.
	image string
}

// handleEntry is one piece of handle state: an open handle (dup == nil) or
// the copy a 4690 made (dup != nil), keyed by the (process, handle) under
// which its close will be logged.
type handleEntry struct {
	key handleKey
	// obj is nil for a copy whose source open has not been seen yet.
	obj   *object
	dup   *duplicate
	seq   uint64
	added time.Time
	elem  *list.Element
}

// duplicate describes the copy made by one 4690.
type duplicate struct {
	source       handleKey
	targetPID    uint64
	targetHandle uint64
	recordID     uint64
	hasRecordID  bool
	// noise is decided when the 4690 is released; its close follows it
	// in the host's queue, so the decision is known by then.
	noise    bool
	noiseKey noiseKey
}

type procKey struct {
	host string
	pid  uint64
}

// procEntry is what is known about one running process.
type procEntry struct {
	key         procKey
	image       string
	parentPID   uint64
	hasParent   bool
	parentImage string
	added       time.Time
	elem        *list.Element
}

// pending is one event in the reorder window.
type pending struct {
	seq     uint64
	host    *hostQueue
	ev      *event.Event
	pos     any
	kind    EventKind
	added   time.Time
	arrival uint64

	recordID    uint64
	hasRecordID bool

	// waiting is set while the event waits for the open of waitKey.
	waiting bool
	waitKey handleKey

	// entry is the copy entry this event made (4690) or closed (4658/4660
	// of a duplicated handle).
	entry *handleEntry
	// obj is the object behind the handle, once known.
	obj  *object
	link linkKind

	// Process facts captured when the event arrived, so a 4689 logged
	// inside the window does not erase them.
	image, targetImage string
	parentPID          uint64
	hasParent          bool
	parentImage        string

	elem *list.Element
}

type linkKind uint8

const (
	linkNone linkKind = iota
	linkOpen
	linkDuplicate
)

// hostQueue holds one host's pending events in the order they were added.
type hostQueue struct {
	name  string
	items []*pending
	head  int
	// arrivals counts events added for this host while it had a queue.
	arrivals    uint64
	maxRecordID uint64
	hasRecordID bool
}

func (q *hostQueue) push(p *pending) { q.items = append(q.items, p) }

func (q *hostQueue) front() *pending {
	if q.head == len(q.items) {
		return nil
	}
	return q.items[q.head]
}

func (q *hostQueue) pop() {
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		return
	}
	// Reclaim the consumed prefix once it dominates, so a queue that never
	// empties does not grow without bound.
	if q.head >= 64 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

func (q *hostQueue) len() int { return len(q.items) - q.head }
