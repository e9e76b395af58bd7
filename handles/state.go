package handles

import (
	"time"

	"wefgate/record"
	"wefgate/wef/event"
)

// handleID names a handle inside one host: handle values are only unique
// inside one process.
type handleID struct {
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
	// attrs caches the object's attributes: every event linked to this
	// open carries the same ones.
	attrs []record.KV
}

// handleEntry is one piece of handle state: an open handle (dup == nil) or
// the copy a 4690 made (dup != nil), keyed by the (process, handle) under
// which its close will be logged.
type handleEntry[P any] struct {
	host *hostState[P]
	id   handleID
	// obj is nil for a copy whose source open has not been seen yet.
	obj   *object
	dup   *duplicate
	seq   uint64
	added time.Time
	age   links[handleEntry[P]]
	// bytes is what the entry is charged against MaxStateBytes.
	bytes int64
}

// duplicate describes the copy made by one 4690.
type duplicate struct {
	source       handleID
	targetPID    uint64
	targetHandle uint64
	recordID     uint64
	hasRecordID  bool
	// noise is decided when the 4690 is released; its close follows it
	// in the host's queue, so the decision is known by then.
	noise    bool
	noiseKey noiseKey
}

// procEntry is what is known about one running process.
type procEntry[P any] struct {
	host        *hostState[P]
	pid         uint64
	image       string
	parentPID   uint64
	hasParent   bool
	parentImage string
	added       time.Time
	age         links[procEntry[P]]
	bytes       int64
}

// pending is one event in the reorder window.
type pending[P any] struct {
	seq     uint64
	host    *hostState[P]
	ev      *event.Event
	pos     P
	kind    EventKind
	added   time.Time
	arrival uint64
	// bytes is what the event is charged against MaxPendingBytes.
	bytes int64

	recordID    uint64
	hasRecordID bool

	// waiting is set while the event waits for the open of waitKey.
	waiting bool
	waitKey handleID
	// late is set once the event is held past the reorder window for an
	// open logged late (Config.LateOpenWait), from lateSince.
	late      bool
	lateSince time.Time

	// entry is the copy entry this event made (4690) or closed (4658/4660
	// of a duplicated handle).
	entry *handleEntry[P]
	// obj is the object behind the handle, once known.
	obj  *object
	link linkKind

	// Process facts captured when the event arrived, so a 4689 logged
	// inside the window does not erase them.
	image, targetImage string
	parentPID          uint64
	hasParent          bool
	parentImage        string

	order links[pending[P]]
}

type linkKind uint8

const (
	linkNone linkKind = iota
	linkOpen
	linkDuplicate
)

// hostState is everything known about one host: its pending events in
// the order they were added, and its handle and process state.
type hostState[P any] struct {
	name string

	items []*pending[P]
	head  int
	// arrivals counts events added for this host; lastRecordID is the
	// EventRecordID of the newest one that had one.
	arrivals     uint64
	lastRecordID uint64
	// newestLogged is the latest TimeCreated of its events: how far the
	// host's log has moved on, whatever the delivery pace.
	newestLogged time.Time

	opens   map[handleID]*handleEntry[P]
	dups    map[handleID]*handleEntry[P]
	procs   map[uint64]*procEntry[P]
	waiters map[handleID][]*pending[P]
}

func newHostState[P any](name string) *hostState[P] {
	return &hostState[P]{
		name:    name,
		opens:   make(map[handleID]*handleEntry[P]),
		dups:    make(map[handleID]*handleEntry[P]),
		procs:   make(map[uint64]*procEntry[P]),
		waiters: make(map[handleID][]*pending[P]),
	}
}

// idle reports whether the host holds nothing and can be forgotten.
func (q *hostState[P]) idle() bool {
	return q.len() == 0 && len(q.opens) == 0 && len(q.dups) == 0 && len(q.procs) == 0
}

func (q *hostState[P]) push(p *pending[P]) { q.items = append(q.items, p) }

func (q *hostState[P]) front() *pending[P] {
	if q.head == len(q.items) {
		return nil
	}
	return q.items[q.head]
}

func (q *hostState[P]) pop() {
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

func (q *hostState[P]) len() int { return len(q.items) - q.head }
