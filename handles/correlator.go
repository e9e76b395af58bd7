package handles

import (
	"container/list"
	"strings"
	"time"

	"wefgate/exporters/record"
	"wefgate/wef/event"
)

// Output is one event leaving the correlator, or one noise summary.
type Output struct {
	// Host is the host the event was added under.
	Host string
	// Event is the event as added; nil for a summary.
	Event *event.Event
	// Pos is the caller's cookie given to Add; nil for a summary.
	Pos any
	// Export is false for helper events (unless Config.ExportHelperEvents)
	// and for noise dropped under NoiseDrop.
	Export bool
	// Attributes are the enrichment attributes to append to the record's
	// own (see doc.go). Nil when Export is false.
	Attributes []record.KV
	// Summary is set on noise summary Outputs; export them as records
	// named NoiseSummaryEventName.
	Summary *NoiseSummary
}

// Stats describes the correlator's state and what it has done.
type Stats struct {
	// Current sizes.
	Handles    int // open handles known from 4656/4663
	Duplicates int // copies made by 4690s whose close has not been seen
	Processes  int
	Pending    int // events in the reorder window
	Waiting    int // of those, events still waiting for a partner
	Hosts      int // hosts with pending events

	// Evictions: by a size bound, and by age.
	HandlesEvicted   uint64
	HandlesExpired   uint64
	ProcessesEvicted uint64
	ProcessesExpired uint64
	// PendingExpired counts events released unresolved because their
	// window passed; PendingForced those released early because
	// MaxPending was reached.
	PendingExpired uint64
	PendingForced  uint64

	// Outcome of every released 4658, 4660 and 4690, by AttrStatus.
	Matched   uint64
	Partial   uint64
	Unmatched uint64
	// NoiseDropped counts by-product events not exported (NoiseDrop).
	NoiseDropped uint64
}

// Correlator links 4658, 4660 and 4690 events to the 4656 that opened
// their handle and to the processes involved, holding them in a short
// reorder window because Windows logs most 4690s before that 4656.
//
// Time is never read from a clock: every call that may release events
// takes now, so the correlator is deterministic for a given input.
//
// Ordering guarantee: the Outputs of one host come out in the order their
// events were added. Outputs of different hosts may overtake each other,
// so a caller committing positions must commit only what lies before
// OldestPending: every event added before the one it names has been
// returned by Add, Tick or Flush.
//
// A Correlator is not safe for concurrent use.
type Correlator struct {
	cfg Config
	seq uint64

	hosts   map[string]*hostQueue
	pending list.List // *pending in Add order
	waiters map[handleKey][]*pending

	opens     map[handleKey]*handleEntry
	dups      map[handleKey]*handleEntry
	handleAge list.List // *handleEntry in insertion order

	procs   map[procKey]*procEntry
	procAge list.List // *procEntry, least recently seen first

	noise       noiseCounter
	lastSummary time.Time
	lastNow     time.Time

	stats Stats
}

// NewCorrelator returns a correlator bounded by cfg; zero fields take the
// Default* values.
func NewCorrelator(cfg Config) *Correlator {
	cfg = cfg.withDefaults()
	return &Correlator{
		cfg:     cfg,
		hosts:   make(map[string]*hostQueue),
		waiters: make(map[handleKey][]*pending),
		opens:   make(map[handleKey]*handleEntry),
		dups:    make(map[handleKey]*handleEntry),
		procs:   make(map[procKey]*procEntry),
		noise:   newNoiseCounter(cfg.Noise.MaxKeys),
	}
}

// Add takes one event of host at time now (the caller's clock, used only
// for windows and ages) and returns the Outputs it releases, which may
// include earlier events. pos is returned with ev's Output. Events this
// package does not use (see Kind) come straight back with Export set.
func (c *Correlator) Add(now time.Time, host string, ev *event.Event, pos any) []Output {
	if ev == nil {
		return nil
	}
	c.observe(now)
	c.expireState(now)
	kind := Kind(ev)
	if kind == KindOther {
		out := []Output{{Host: host, Event: ev, Pos: pos, Export: true}}
		return c.releaseAged(now, out)
	}

	q := c.hosts[host]
	if q == nil {
		q = &hostQueue{name: host}
		c.hosts[host] = q
	}
	q.arrivals++
	c.seq++
	p := &pending{seq: c.seq, host: q, ev: ev, pos: pos, kind: kind, added: now, arrival: q.arrivals}
	if ev.HasRecordID {
		p.recordID, p.hasRecordID = ev.RecordID, true
		if !q.hasRecordID || ev.RecordID > q.maxRecordID {
			q.maxRecordID, q.hasRecordID = ev.RecordID, true
		}
	}
	c.apply(now, p)
	q.push(p)
	p.elem = c.pending.PushBack(p)

	var out []Output
	out = c.drain(q, now, out)
	out = c.releaseAged(now, out)
	for c.pending.Len() > c.cfg.MaxPending {
		c.stats.PendingForced++
		out = c.releaseFront(now, out)
	}
	return out
}

// Tick releases what aged out by now, forgets state older than its
// maximum age, and emits noise summaries when their interval has passed.
func (c *Correlator) Tick(now time.Time) []Output {
	c.observe(now)
	c.expireState(now)
	out := c.releaseAged(now, nil)
	if c.lastSummary.IsZero() {
		c.lastSummary = now
		c.noise.periodStart = now
	}
	if now.Sub(c.lastSummary) >= c.cfg.Noise.SummaryInterval {
		c.lastSummary = now
		out = append(out, c.noise.summaries(c.cfg.Noise.Mode, now)...)
	}
	return out
}

// Flush releases every pending event, enriched with what is known, and the
// noise counts not yet summarised. Call it at shutdown.
func (c *Correlator) Flush() []Output {
	var out []Output
	for c.pending.Len() > 0 {
		out = c.releaseFront(c.lastNow, out)
	}
	return append(out, c.noise.summaries(c.cfg.Noise.Mode, c.lastNow)...)
}

// OldestPending returns the Pos of the earliest-added event not yet
// released; ok is false when nothing is pending.
func (c *Correlator) OldestPending() (pos any, ok bool) {
	if e := c.pending.Front(); e != nil {
		return e.Value.(*pending).pos, true
	}
	return nil, false
}

// Stats returns current sizes and counters.
func (c *Correlator) Stats() Stats {
	s := c.stats
	s.Handles = len(c.opens)
	s.Duplicates = len(c.dups)
	s.Processes = len(c.procs)
	s.Pending = c.pending.Len()
	for _, ws := range c.waiters {
		s.Waiting += len(ws)
	}
	s.Hosts = len(c.hosts)
	return s
}

// NoiseCounts returns the by-product events counted since the correlator
// was created, sorted by host, image and object type.
func (c *Correlator) NoiseCounts() []NoiseCount {
	return sortedCounts(c.noise.total)
}

func (c *Correlator) observe(now time.Time) {
	if now.After(c.lastNow) {
		c.lastNow = now
	}
}

// apply updates state from p's event and links p to what it refers to.
func (c *Correlator) apply(now time.Time, p *pending) {
	ev, host := p.ev, p.host.name
	switch p.kind {
	case KindHandleRequested, KindDirectoryHandleRequested, KindObjectAccessed:
		pid, okPID := dataHex(ev, "ProcessId")
		if okPID {
			c.learnProcess(now, host, pid, dataString(ev, "ProcessName"))
		}
		h, okH := dataHex(ev, "HandleId")
		// A failed request or a 0x0 handle opens nothing (doc §6.13).
		if !okPID || !okH || h == 0 || (p.kind != KindObjectAccessed && ev.AuditFailure()) {
			return
		}
		key := handleKey{host, pid, h}
		if p.kind == KindObjectAccessed {
			// A 4663 proves the handle is open; it stands in for a 4656
			// that was never seen, never for one that was.
			if _, known := c.opens[key]; known {
				return
			}
		}
		obj := newObject(ev, p.kind != KindObjectAccessed)
		c.putHandle(now, key, obj, nil)
		c.resolve(key, obj)

	case KindHandleClosed, KindObjectDeleted:
		pid, okPID := dataHex(ev, "ProcessId")
		h, okH := dataHex(ev, "HandleId")
		if !okPID {
			return
		}
		c.learnProcess(now, host, pid, dataString(ev, "ProcessName"))
		if !okH || h == 0 {
			return
		}
		c.linkClose(p, handleKey{host, pid, h}, p.kind == KindHandleClosed)

	case KindHandleDuplicated:
		c.linkDuplicate(now, p)

	case KindProcessCreated:
		pid, ok := dataHex(ev, "NewProcessId")
		if !ok {
			return
		}
		e := c.learnProcess(now, host, pid, dataString(ev, "NewProcessName"))
		parent, ok := dataHex(ev, "ProcessId")
		if e == nil || !ok {
			return
		}
		e.parentPID, e.hasParent = parent, true
		e.parentImage = dataString(ev, "ParentProcessName")
		if e.parentImage != "" && e.parentImage != "-" {
			c.learnProcess(now, host, parent, e.parentImage)
		}

	case KindProcessExited:
		if pid, ok := dataHex(ev, "ProcessId"); ok {
			if e := c.procs[procKey{host, pid}]; e != nil {
				c.removeProcess(e)
			}
		}
	}
}

func newObject(ev *event.Event, fromOpen bool) *object {
	obj := &object{
		objectType: dataString(ev, "ObjectType"),
		objectName: dataString(ev, "ObjectName"),
		image:      dataString(ev, "ProcessName"),
	}
	if !fromOpen {
		// A 4663's AccessMask is the right used, not the rights granted.
		return obj
	}
	if m, ok := dataHex(ev, "AccessMask"); ok && m <= 0xFFFFFFFF {
		obj.mask, obj.hasMask = uint32(m), true
	}
	obj.opened = ev.TimeCreated
	obj.openRecordID, obj.hasRecordID = ev.RecordID, ev.HasRecordID
	return obj
}

// linkClose links a 4658 (closing) or 4660 to the most recent handle
// state under key: an open handle, or the copy a 4690 made.
func (c *Correlator) linkClose(p *pending, key handleKey, closing bool) {
	open, dup := c.opens[key], c.dups[key]
	if open != nil && dup != nil {
		// Handle values are reused; the later of the two is the live one.
		if open.seq > dup.seq {
			dup = nil
		} else {
			open = nil
		}
	}
	switch {
	case open != nil:
		p.obj, p.link = open.obj, linkOpen
		if closing {
			c.removeHandle(open)
		}
	case dup != nil:
		p.entry, p.link = dup, linkDuplicate
		if closing {
			c.removeHandle(dup)
		}
		if dup.obj == nil {
			if src := c.opens[dup.dup.source]; src != nil {
				dup.obj = src.obj
			}
		}
		if dup.obj != nil {
			p.obj = dup.obj
			return
		}
		c.wait(p, dup.dup.source)
	}
}

// linkDuplicate records the copy a 4690 made and links the 4690 to the
// open of its source handle, waiting for it when it is not logged yet.
func (c *Correlator) linkDuplicate(now time.Time, p *pending) {
	ev, host := p.ev, p.host.name
	srcPID, ok1 := dataHex(ev, "SourceProcessId")
	srcH, ok2 := dataHex(ev, "SourceHandleId")
	tgtPID, ok3 := dataHex(ev, "TargetProcessId")
	tgtH, ok4 := dataHex(ev, "TargetHandleId")
	if ok1 {
		if e := c.procs[procKey{host, srcPID}]; e != nil {
			p.image = e.image
			p.parentPID, p.hasParent, p.parentImage = e.parentPID, e.hasParent, e.parentImage
		}
	}
	if ok3 {
		if e := c.procs[procKey{host, tgtPID}]; e != nil {
			p.targetImage = e.image
		}
	}
	if !ok1 || !ok2 || srcH == 0 {
		return
	}
	source := handleKey{host, srcPID, srcH}
	if ok3 && ok4 && tgtH != 0 {
		// The close of a copy made into System is logged under the
		// source process (doc §1.5); other copies close in their target.
		closePID := tgtPID
		if tgtPID == systemPID {
			closePID = srcPID
		}
		d := &duplicate{source: source, targetPID: tgtPID, targetHandle: tgtH,
			recordID: ev.RecordID, hasRecordID: ev.HasRecordID}
		p.entry = c.putHandle(now, handleKey{host, closePID, tgtH}, nil, d)
	}
	if src := c.opens[source]; src != nil {
		p.obj = src.obj
		if p.entry != nil {
			p.entry.obj = src.obj
		}
		return
	}
	c.wait(p, source)
}

func (c *Correlator) wait(p *pending, key handleKey) {
	p.waiting, p.waitKey = true, key
	c.waiters[key] = append(c.waiters[key], p)
}

func (c *Correlator) unwait(p *pending) {
	ws := c.waiters[p.waitKey]
	for i, w := range ws {
		if w == p {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.waiters, p.waitKey)
	} else {
		c.waiters[p.waitKey] = ws
	}
	p.waiting = false
}

// resolve hands a newly seen open to the events waiting for it.
func (c *Correlator) resolve(key handleKey, obj *object) {
	ws, ok := c.waiters[key]
	if !ok {
		return
	}
	delete(c.waiters, key)
	for _, p := range ws {
		p.waiting = false
		p.obj = obj
		if p.entry != nil && p.entry.obj == nil {
			p.entry.obj = obj
		}
	}
}

// putHandle stores an open handle (dup nil) or a copy, replacing older
// state under the same key, and evicts the oldest entry beyond MaxHandles.
func (c *Correlator) putHandle(now time.Time, key handleKey, obj *object, dup *duplicate) *handleEntry {
	m := c.opens
	if dup != nil {
		m = c.dups
	}
	if old := m[key]; old != nil {
		c.removeHandle(old)
	}
	for len(c.opens)+len(c.dups) >= c.cfg.MaxHandles {
		c.stats.HandlesEvicted++
		c.removeHandle(c.handleAge.Front().Value.(*handleEntry))
	}
	e := &handleEntry{key: key, obj: obj, dup: dup, seq: c.seq, added: now}
	e.elem = c.handleAge.PushBack(e)
	m[key] = e
	return e
}

func (c *Correlator) removeHandle(e *handleEntry) {
	if e.elem == nil {
		return
	}
	c.handleAge.Remove(e.elem)
	e.elem = nil
	if e.dup != nil {
		delete(c.dups, e.key)
	} else {
		delete(c.opens, e.key)
	}
}

// learnProcess records or refreshes the image of a process.
func (c *Correlator) learnProcess(now time.Time, host string, pid uint64, image string) *procEntry {
	if image == "" || image == "-" {
		return c.procs[procKey{host, pid}]
	}
	key := procKey{host, pid}
	if e := c.procs[key]; e != nil {
		if !strings.EqualFold(e.image, image) {
			// A different image under a known PID: the 4689 of the old
			// process was missed, so nothing else about it holds either.
			*e = procEntry{key: key, image: image, elem: e.elem}
		}
		e.added = now
		c.procAge.MoveToBack(e.elem)
		return e
	}
	for len(c.procs) >= c.cfg.MaxProcesses {
		c.stats.ProcessesEvicted++
		c.removeProcess(c.procAge.Front().Value.(*procEntry))
	}
	e := &procEntry{key: key, image: image, added: now}
	e.elem = c.procAge.PushBack(e)
	c.procs[key] = e
	return e
}

func (c *Correlator) removeProcess(e *procEntry) {
	c.procAge.Remove(e.elem)
	delete(c.procs, e.key)
}

// expireState forgets handles and processes older than their maximum age.
func (c *Correlator) expireState(now time.Time) {
	for f := c.handleAge.Front(); f != nil; f = c.handleAge.Front() {
		e := f.Value.(*handleEntry)
		if now.Sub(e.added) < c.cfg.HandleMaxAge {
			break
		}
		c.stats.HandlesExpired++
		c.removeHandle(e)
	}
	for f := c.procAge.Front(); f != nil; f = c.procAge.Front() {
		e := f.Value.(*procEntry)
		if now.Sub(e.added) < c.cfg.ProcessMaxAge {
			break
		}
		c.stats.ProcessesExpired++
		c.removeProcess(e)
	}
}

// windowPassed reports whether p has been held as long as allowed.
func (c *Correlator) windowPassed(q *hostQueue, p *pending, now time.Time) bool {
	hold := uint64(c.cfg.HoldRecords)
	return q.arrivals-p.arrival >= hold ||
		(p.hasRecordID && q.maxRecordID >= p.recordID+hold) ||
		now.Sub(p.added) >= c.cfg.HoldTime
}

// drain releases q's events from the front while they are resolved or
// their window has passed.
func (c *Correlator) drain(q *hostQueue, now time.Time, out []Output) []Output {
	for p := q.front(); p != nil; p = q.front() {
		if p.waiting && !c.windowPassed(q, p, now) {
			break
		}
		out = c.release(p, out)
	}
	return out
}

// releaseAged releases events held for HoldTime, oldest first.
func (c *Correlator) releaseAged(now time.Time, out []Output) []Output {
	for f := c.pending.Front(); f != nil; f = c.pending.Front() {
		if now.Sub(f.Value.(*pending).added) < c.cfg.HoldTime {
			break
		}
		out = c.releaseFront(now, out)
	}
	return out
}

// releaseFront releases the oldest pending event, whatever its state, and
// whatever its host can release after it.
func (c *Correlator) releaseFront(now time.Time, out []Output) []Output {
	p := c.pending.Front().Value.(*pending)
	// The oldest pending event overall is necessarily its host's front.
	out = c.release(p, out)
	return c.drain(p.host, now, out)
}

// release takes p, the front of its host queue, out of the window.
func (c *Correlator) release(p *pending, out []Output) []Output {
	q := p.host
	q.pop()
	c.pending.Remove(p.elem)
	if p.waiting {
		c.stats.PendingExpired++
		c.unwait(p)
	}
	if q.len() == 0 {
		delete(c.hosts, q.name)
	}
	return append(out, c.output(p))
}
